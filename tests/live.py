"""The application as production runs it: gunicorn, DEBUG=0, the app database role, on the test
database and Redis, behind a pretend proxy (requests send X-Forwarded-Proto: https)."""

import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from ballots.keys import development_recovery_identity
from tests.servers import free_port
from tests.workers import child_env, stop_process_group

ROOT = Path(__file__).resolve().parent.parent
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def production_env(tmp_path, **extra):
    """Production settings on the test database as the app role (the pepper and signing key of
    the test run, so codes issued by the tests work)."""
    values = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "SNAPSHOT_SIGNING_KEY": settings.SNAPSHOT_SIGNING_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PLAIN_STATIC": "1",
        "WEB_CONCURRENCY": "2",
        "VAR_DIR": str(tmp_path / "var"),
        "SECURE_SSL_REDIRECT": "1",
        "PUBLICATION_RECOVERY_RECIPIENTS": development_recovery_identity()[1],
    }
    values.update(extra)
    env = child_env(**values)
    for name in ("DJANGO_ALLOW_ASYNC_UNSAFE", "RATELIMIT_IP_META_KEY", "PUBLISH_MIN_BALLOTS", "PUBLISH_HOLD_BACK"):  # production defaults
        env.pop(name, None)
    return env


@contextmanager
def production_server(tmp_path, **extra):
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=production_env(tmp_path, **extra), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    urllib.request.urlopen(urllib.request.Request(base + "/healthz", headers=PROXY_HEADERS), timeout=2)
                    break
                except (OSError, urllib.error.HTTPError):
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.3)
            yield base, log_path
        finally:
            stop_process_group(server)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, headers=None, data=None, method=None):
    """(status, headers, body) without following redirects."""
    request = urllib.request.Request(url, headers={**PROXY_HEADERS, **(headers or {})}, data=data, method=method)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
