"""deploy/prometheus: the alert rules pass `promtool check rules` and their unit tests, the scrape
configuration passes `promtool check config`, and a real Prometheus scrapes /metrics with the
token and evaluates the rules. promtool and prometheus come from Debian's `prometheus` package,
which `make test` installs (referendum/dev.py tools); without it the rules are checked as YAML."""

import json
import shutil
import subprocess
import time
import urllib.parse

import pytest
import yaml

from tests.servers import fetch, free_port, gunicorn
from tests.workers import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = {
    "ReferendumWaitingBallotsGrowing", "ReferendumNoPublication", "ReferendumNotReady",
    "ReferendumMetricsDown", "ReferendumServerErrors", "ReferendumRateLimited", "ReferendumEmailFailures",
    "ReferendumMirrorPushFailing", "ReferendumMirrorStale",
    "ReferendumPublishedFiguresUnsound",
}
TOKEN = "prometheus-scrape-token-" + "x" * 24


def promtool(*args, cwd=PROMETHEUS):
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_alert_rules_have_the_expected_names_and_a_runbook_entry():
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert set(alerts) == ALERTS
    operations = (ROOT / "docs" / "operations.md").read_text()
    for name, rule in alerts.items():
        assert rule["expr"] and rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
        assert f"### {name}" in operations, f"docs/operations.md has no section for {name}"


def test_alert_rules_pass_promtool_and_their_unit_tests():
    if not shutil.which("promtool"):  # the YAML test above still runs
        pytest.fail("promtool is missing: run `python -m referendum.dev tools promtool` (make test does)")
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0 and "SUCCESS: 10 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def configured(tmp_path, target, interval="15s"):
    """prometheus.yml as shipped, with the token file and the target of this test."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    token_file = tmp_path / "metrics_token"
    token_file.write_text(TOKEN)
    job = config["scrape_configs"][0]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [target]}]
    config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_scrape_configuration_passes_promtool(tmp_path):
    if not shutil.which("promtool"):
        pytest.fail("promtool is missing: run `python -m referendum.dev tools promtool` (make test does)")
    result = promtool("check", "config", str(configured(tmp_path, "web:8000")), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_prometheus_scrapes_with_the_token_and_loads_the_rules(tmp_path):
    if not shutil.which("prometheus"):
        pytest.fail("prometheus is missing: run `python -m referendum.dev tools promtool` (make test does)")
    from tallying.tasks import seal_open_polls

    seal_open_polls()  # a heartbeat, so that readiness is all green
    with gunicorn(tmp_path / "server.log", WEB_CONCURRENCY="2", METRICS_TOKEN=TOKEN) as (base, _server):
        target = base.removeprefix("http://")
        port = free_port()
        log = open(tmp_path / "prometheus.log", "w")
        server = subprocess.Popen(
            ["prometheus", f"--config.file={configured(tmp_path, target, '1s')}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            api = f"http://127.0.0.1:{port}/api/v1"

            def query(expr):
                try:
                    status, _h, body = fetch(f"{api}/query?query={urllib.parse.quote(expr)}", timeout=5)
                except OSError:  # not listening yet
                    return None
                return json.loads(body)["data"]["result"] if status == 200 else None

            deadline = time.monotonic() + 60
            # The second scrape holds the first one's response in its counters.
            while not (query('referendum_http_responses_total{view="metrics",status_class="2xx"} > 0') or []):
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()[-3000:]
                time.sleep(0.5)
            ready = {r["metric"]["check"]: r["value"][1] for r in query("referendum_ready")}
            assert ready == {"postgres": "1", "redis": "1", "sealing": "1"}
            assert query('up{job="referendum"} == 1')
            status, _h, body = fetch(f"{api}/rules")
            rules = json.loads(body)["data"]["groups"][0]["rules"]
            assert {r["name"] for r in rules} == ALERTS
            assert all(r["health"] == "ok" for r in rules), rules
            _status, _h, body = fetch(f"{api}/targets")
            target_state = json.loads(body)["data"]["activeTargets"][0]
            assert target_state["health"] == "up" and target_state["lastError"] == ""
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
