"""docker-compose.yml wires in readiness and metrics: the worker's healthcheck is the /readyz
check, web keeps a liveness check, an optional Prometheus scrapes web with METRICS_TOKEN; and
web, run as compose runs it in production, serves /metrics and /readyz to a scraper that reaches it
as web:8000 over plain HTTP. No Docker engine here: the file is checked as data, the commands run."""

import time
import urllib.error
import urllib.request

import pytest
import yaml

from tallying.tasks import seal_open_polls
from tests.servers import fetch, free_port
from tests.test_deployment_files import ROOT, command_of, compose, production_env, start, stop
from tests.workers import child_env

TOKEN = "compose-scrape-token-" + "y" * 30


def test_worker_healthcheck_is_the_readiness_check_and_web_keeps_liveness():
    services = compose()["services"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "python", "-m", "referendum.health"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "/tmp" in services["web"]["tmpfs"]  # the multiprocess metrics files, in memory


def test_optional_prometheus_scrapes_web_with_the_token_secret():
    data = compose()
    prometheus = data["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command_of(prometheus)
    assert prometheus["secrets"] == ["metrics_token"]
    assert data["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    web_port = command_of(data["services"]["web"])[-1].rsplit(":", 1)[1]
    assert job["static_configs"][0]["targets"] == [f"web:{web_port}"]
    assert config["rule_files"] == ["alerts.yml"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_production_web_serves_metrics_and_readyz_to_the_scraper_as_web_8000(tmp_path):
    seal_open_polls()
    test_env = child_env()
    env = production_env(tmp_path, METRICS_TOKEN=TOKEN, PLAIN_STATIC="1", DATABASE_URL=test_env["DATABASE_URL"],
                         REDIS_URL=test_env["REDIS_URL"], CREDENTIAL_PEPPER=test_env["CREDENTIAL_PEPPER"])
    port = free_port()
    web_command = [p.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for p in command_of(compose()["services"]["web"])]
    web = start(web_command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/nothing", timeout=1)
            except urllib.error.HTTPError:
                break
            except OSError:
                assert web.poll() is None
                time.sleep(0.25)
        as_scraper = {"Host": "web:8000", "Authorization": f"Bearer {TOKEN}"}
        status, headers, body = fetch(base + "/metrics", headers=as_scraper)
        assert status == 200, body[:500]
        assert b'referendum_ready{check="postgres"} 1.0' in body
        status, _h, body = fetch(base + "/readyz", headers={"Host": "web:8000"})
        assert status == 200, body
        assert fetch(base + "/metrics", headers={"Host": "web:8000"})[0] == 404
        # Pages are still refused to a Host that is not allowed.
        assert fetch(base + "/", headers={"Host": "web:8000"})[0] == 400
    finally:
        log = stop(web)
    assert "Authorization" not in log and TOKEN not in log
