"""/readyz: 200 only when PostgreSQL answers, Redis answers and a sealing run finished within
READINESS_MAX_SEAL_AGE_SECONDS; otherwise 503 with a JSON body naming what is wrong. /healthz stays
a bare liveness check. Real PostgreSQL, Redis, Celery worker and beat, and gunicorn."""

import json
import subprocess
import sys
import time

import pytest
from django.test import Client, override_settings

from tallying.tasks import seal_open_polls
from tests.factories import make_codes, make_poll
from tests.servers import fetch, free_port, gunicorn
from tests.test_seal_redis_down import cast, dead_cache
from tests.workers import ROOT, celery_process, child_env

BOUND = 3  # seconds: READINESS_MAX_SEAL_AGE_SECONDS for these tests


def readyz(client):
    response = client.get("/readyz")
    body = response.json()
    assert set(body) == {"ready", "checks"} and set(body["checks"]) == {"postgres", "redis", "sealing"}
    assert body["ready"] is (response.status_code == 200)
    return response.status_code, body["checks"]


def wait_until(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.25)


def scrape(client, token="t" * 40):
    with override_settings(METRICS_TOKEN=token):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ready_with_everything_up_and_503_when_the_worker_stops_while_ballots_wait(tmp_path, settings):
    settings.READINESS_MAX_SEAL_AGE_SECONDS = BOUND
    poll = make_poll()
    codes = make_codes(poll, 8)
    client = Client()

    status, checks = readyz(client)
    assert status == 503 and "no sealing run recorded" in checks["sealing"]["error"]

    with celery_process("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO",
                        log_path=tmp_path / "worker.log"), \
         celery_process("beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule"),
                        log_path=tmp_path / "beat.log", SEAL_INTERVAL_SECONDS="0.5"):
        assert [cast(poll, code).status_code for code in codes[:4]] == [201] * 4
        wait_until(lambda: readyz(client)[0] == 200 and client.get(f"/api/v1/polls/{poll.id}/tally").json()["total"] == 4,
                   60, "the worker to seal the first ballots")
        status, checks = readyz(client)
        assert status == 200
        assert all(check["ok"] for check in checks.values())
        assert checks["sealing"]["age_seconds"] <= BOUND

    # Worker and beat are stopped; ballots keep arriving (voting goes on) and wait.
    assert [cast(poll, code).status_code for code in codes[4:]] == [201] * 4
    wait_until(lambda: readyz(client)[0] == 503, BOUND + 10, "readiness to notice the stopped worker")
    status, checks = readyz(client)
    assert checks["postgres"] == {"ok": True} and checks["redis"] == {"ok": True}
    assert not checks["sealing"]["ok"]
    assert "is the worker or beat stopped?" in checks["sealing"]["error"]
    assert checks["sealing"]["age_seconds"] >= BOUND  # rounded to 0.1 s
    metrics = scrape(client)
    labels = f'poll="{poll.id}",region="siberia"'
    assert f"referendum_ballots_waiting{{{labels}}} 4.0" in metrics
    assert f"referendum_ballots_counted{{{labels}}} 4.0" in metrics
    assert 'referendum_ready{check="sealing"} 0.0' in metrics
    assert client.get("/healthz").status_code == 200  # liveness does not care


@pytest.mark.django_db(transaction=True)
def test_503_naming_redis_when_redis_is_unreachable(settings):
    settings.READINESS_MAX_SEAL_AGE_SECONDS = BOUND
    seal_open_polls()  # a sealing run just finished: its heartbeat is in the real Redis
    client = Client()
    status, checks = readyz(client)
    assert status == 200, checks

    with override_settings(CACHES=dead_cache()):
        started = time.monotonic()
        status, checks = readyz(client)
        assert time.monotonic() - started < 3  # a dead Redis does not hang the probe
        assert status == 503
        assert checks["postgres"] == {"ok": True}
        assert checks["redis"]["ok"] is False and "Redis does not answer" in checks["redis"]["error"]
        assert checks["sealing"]["ok"] is False and "Redis" in checks["sealing"]["error"]
        assert client.get("/healthz").status_code == 200  # the process is alive; voting goes on

    assert readyz(client)[0] == 200


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_503_naming_postgres_when_postgres_is_unreachable(tmp_path):
    seal_open_polls()  # fresh heartbeat in Redis: only PostgreSQL is wrong for the server below
    dead = free_port()
    with gunicorn(tmp_path / "server.log", DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead}/referendum",
                  READINESS_MAX_SEAL_AGE_SECONDS="60") as (base, _server):
        status, headers, body = fetch(base + "/readyz")
        healthz, _headers, _body = fetch(base + "/healthz")
    assert status == 503
    assert headers["Content-Type"] == "application/json"
    state = json.loads(body)
    assert state["ready"] is False
    assert state["checks"]["postgres"]["ok"] is False
    assert "PostgreSQL does not answer" in state["checks"]["postgres"]["error"]
    assert state["checks"]["redis"] == {"ok": True}
    assert state["checks"]["sealing"]["ok"] is True
    assert healthz == 503  # /healthz runs SELECT 1 too


@pytest.mark.django_db(transaction=True)
def test_probes_answer_any_host_and_the_site_does_not(settings):
    """The scraper and container healthchecks reach gunicorn as web:8000; pages still refuse it."""
    settings.METRICS_TOKEN = "m" * 40
    seal_open_polls()
    internal = Client(HTTP_HOST="web:8000")
    assert internal.get("/readyz").status_code == 200
    assert internal.get("/healthz").status_code == 200
    assert internal.get("/metrics").status_code == 404
    assert internal.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40).status_code == 200
    assert internal.get("/").status_code == 400
    assert internal.get("/api/v1/polls").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_command_line_check_is_the_same_readiness(tmp_path):
    """`python -m referendum.health`, the worker container's healthcheck: exit 1 without a recent
    sealing run, 0 after one."""
    def run():
        return subprocess.run([sys.executable, "-m", "referendum.health"], cwd=ROOT, env=child_env(),
                              capture_output=True, text=True, timeout=60)

    before = run()
    assert before.returncode == 1, before.stderr
    assert json.loads(before.stdout)["checks"]["sealing"]["ok"] is False
    seal_open_polls()
    after = run()
    assert after.returncode == 0, after.stdout + after.stderr
    assert json.loads(after.stdout)["ready"] is True
