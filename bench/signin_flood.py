"""One client flooding the console's sign-in (issue 19): 10 POSTs a second, each with a fresh user
name and a self-made CSRF cookie and token pair (any 32 letters and digits in both pass Django's
check), which no per-name or per-session limit stops. What it costs everyone else is measured as
the home page's latency with and without it (bench/run.py)."""

import secrets
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ALPHABET = string.ascii_letters + string.digits


def _token():
    return "".join(secrets.choice(ALPHABET) for _ in range(32))


class Flood(threading.Thread):
    def __init__(self, base_url, rate=10.0):
        super().__init__(daemon=True)
        self.base_url, self.interval, self.stop = base_url, 1.0 / rate, threading.Event()
        self.statuses = {}

    def run(self):
        next_at = time.monotonic()
        while not self.stop.is_set():
            token = _token()
            body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "u" + _token()[:10],
                                           "password": _token()}).encode()
            request = urllib.request.Request(self.base_url + "/console/login", data=body, method="POST", headers={
                "Cookie": f"csrftoken={token}", "Content-Type": "application/x-www-form-urlencoded"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = "error"
            self.statuses[status] = self.statuses.get(status, 0) + 1
            next_at += self.interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))
