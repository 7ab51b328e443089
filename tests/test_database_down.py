"""PostgreSQL down: the site says so plainly (503) and accepts nothing."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server_without_database(tmp_path):
    port = free_port()
    dead = free_port()  # nothing listens there
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead}/referendum", WEB_CONCURRENCY="1")
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/static/css/site.css", timeout=2)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=20)
    log.close()


def fetch(request):
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.slow
def test_pages_and_api_answer_503_when_postgres_is_down(server_without_database):
    status, headers, body = fetch(server_without_database + "/")
    assert status == 503
    assert b"temporarily unavailable" in body and b"Nothing was recorded" in body
    assert headers["Retry-After"] == "30"

    cast = urllib.request.Request(
        server_without_database + "/api/v1/polls/1/ballots",
        data=json.dumps({"code": "K7QM-2XWP-9HTR-4FZA-8B3D", "option": 1}).encode(),
        headers={"Content-Type": "application/json"},
    )
    status, headers, body = fetch(cast)
    assert status == 503
    assert json.loads(body)["error"] == "service_unavailable"

    status, _headers, body = fetch(server_without_database + "/healthz")
    assert status == 503
