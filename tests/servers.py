"""A real gunicorn with our production config (referendum/gunicorn.conf.py) on the test database."""

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

from tests.workers import ROOT, child_env


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(log_path, *args, **env):
    """Yield (base URL, the master process) once /healthz answers (503 too: PostgreSQL may be
    down on purpose); stop it afterwards. Its stdout and stderr (the access log included) go to
    log_path. `env` overrides the test environment (DATABASE_URL too)."""
    port = free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", *args],
            cwd=ROOT, env=child_env(**{"WEB_CONCURRENCY": "1", **env}), stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, open(log_path).read()[-2000:]
                time.sleep(0.2)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def fetch(url, headers=None, data=None, timeout=15):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
