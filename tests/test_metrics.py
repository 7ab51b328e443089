"""/metrics: Prometheus text for a scraper with METRICS_TOKEN only; the counters of several gunicorn
worker processes add up to what happened; nothing in it is about a voter."""

import json
import re
import shutil
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.test import Client
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from ballots import codes as ballot_codes
from ballots.services import set_email_registration
from referendum import metrics as web_metrics
from tallying.tasks import seal_open_polls
from tests.factories import make_codes, make_poll
from tests.servers import fetch, gunicorn
from tests.test_email_registration import ask, mail_settings, wait_for_mails, worker  # noqa: F401 — fixtures

TOKEN = "scrape-" + "0123456789abcdef" * 3
ACCEPTED, REPEATED, UNKNOWN, BROKEN = 30, 5, 5, 3
# Every label a metric may carry, and what its values may be.
LABELS = {"view", "status_class", "outcome", "action", "check", "poll", "region", "le"}


def samples(text):
    """{(name, frozenset(labels)): value} of a scrape."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped, name, **labels):
    return scraped.get((name, frozenset(labels.items())), 0.0)


def post_cast(base, poll_id, body):
    status, _headers, raw = fetch(
        f"{base}/api/v1/polls/{poll_id}/ballots", data=body, headers={"Content-Type": "application/json"}
    )
    return status, json.loads(raw)


def scrape(base, token=TOKEN):
    status, headers, body = fetch(base + "/metrics", headers={"Authorization": f"Bearer {token}"})
    return status, headers, body.decode()


def served_by(directory, view):
    """Worker processes (their pids) whose counter file holds responses of `view`."""
    pids = set()
    for path in directory.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            if any(s.labels.get("view") == view and s.value for s in metric.samples):
                pids.add(path.stem.split("_")[1])
    return pids


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_scrape_adds_up_casts_refusals_429s_and_a_publication_over_gunicorn_workers(tmp_path):
    poll = make_poll()
    option = poll.options.first().id
    fresh = make_codes(poll, ACCEPTED)
    unknown = [ballot_codes.new_code() for _ in range(UNKNOWN)]
    bodies = (
        [json.dumps({"code": c, "option": option}).encode() for c in fresh]
        + [json.dumps({"code": c, "option": option}).encode() for c in fresh[:REPEATED]]
        + [json.dumps({"code": c, "option": option}).encode() for c in unknown]
        + [b"{not json"] * BROKEN
    )
    prom_dir = tmp_path / "prometheus"
    with gunicorn(tmp_path / "server.log", WEB_CONCURRENCY="3", METRICS_TOKEN=TOKEN,
                  PROMETHEUS_MULTIPROC_DIR=str(prom_dir), CAST_RATE_PER_ADDRESS="60/m") as (base, _server):
        assert scrape(base, token="wrong")[0] == 404
        assert fetch(base + "/metrics")[0] == 404
        assert fetch(base + "/metrics", headers={"Authorization": f"Basic {TOKEN}"})[0] == 404

        # The fresh codes first (all within the limit), then the refusals, eight at a time.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda b: post_cast(base, poll.id, b), bodies[:ACCEPTED]))
            answers += list(pool.map(lambda b: post_cast(base, poll.id, b), bodies[ACCEPTED:]))
        # Then more broken requests until the per-address backstop answers 429 a few times.
        for _ in range(200):
            answers.append(post_cast(base, poll.id, b"{not json"))
            if sum(status == 429 for status, _ in answers) >= 5:
                break
        outcomes = Counter(body.get("error", "accepted") for status, body in answers if status != 429)
        limited = sum(status == 429 for status, _ in answers)
        statuses = Counter(f"{status // 100}xx" for status, _ in answers)
        assert outcomes["accepted"] == ACCEPTED and outcomes["code_used"] == REPEATED
        assert outcomes["code_unknown"] == UNKNOWN and limited >= 5
        trackers = [body["tracker"] for status, body in answers if status == 201]

        status, headers, before = scrape(base)
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        seal_open_polls()  # the periodic task, as the worker runs it: publishes, writes the heartbeat
        with ThreadPoolExecutor(6) as pool:
            after = list(pool.map(lambda _: scrape(base)[2], range(6)))

    assert len(served_by(prom_dir, "api-cast")) >= 2, "the casts were all served by one worker process"
    assert len(served_by(prom_dir, "metrics")) >= 2, "the scrapes were all answered by one worker process"

    labels = {"poll": str(poll.id), "region": "siberia"}
    first = samples(before)
    assert value(first, "referendum_ballots_received", **labels) == ACCEPTED
    assert value(first, "referendum_ballots_waiting", **labels) == ACCEPTED
    assert value(first, "referendum_ballots_counted", **labels) == 0

    for text in after:  # whichever worker answered, the same totals
        scraped = samples(text)
        for outcome, count in outcomes.items():
            assert value(scraped, "referendum_cast_outcomes_total", outcome=outcome) == count, outcome
        assert sum(v for (n, _l), v in scraped.items() if n == "referendum_cast_outcomes_total") == sum(
            outcomes.values()
        )
        assert value(scraped, "referendum_rate_limited_total", action="api-cast") == limited
        for status_class, count in statuses.items():
            assert value(scraped, "referendum_http_responses_total", view="api-cast",
                         status_class=status_class) == count
        assert value(scraped, "referendum_ballots_received", **labels) == ACCEPTED
        assert value(scraped, "referendum_ballots_counted", **labels) == ACCEPTED
        assert value(scraped, "referendum_ballots_waiting", **labels) == 0
        assert value(scraped, "referendum_publication_age_seconds", **labels) < 30
        assert value(scraped, "referendum_sealing_run_ballots_sum") == ACCEPTED
        assert value(scraped, "referendum_sealing_run_ballots_count") == 1
        assert value(scraped, "referendum_sealing_run_duration_seconds_count") == 1
        assert value(scraped, "referendum_sealing_heartbeat_age_seconds") < 30
        assert all(value(scraped, "referendum_ready", check=c) == 1 for c in ("postgres", "redis", "sealing"))

    text = after[0]
    assert_nothing_about_voters(text, fresh + unknown, trackers)
    if shutil.which("promtool"):  # installed by `make test` (referendum/dev.py tools)
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr


def assert_nothing_about_voters(text, codes, trackers):
    flat = text.lower()
    for code in codes:
        assert code.lower() not in flat and code.replace("-", "").lower() not in flat
    for tracker in trackers:
        assert tracker.lower() not in flat and tracker.replace("-", "").lower() not in flat
        assert ballot_codes.hash_tracker(ballot_codes.normalize_tracker(tracker)).hex() not in flat
    assert "127.0.0.1" not in text and "python-urllib" not in flat and "@" not in text
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("referendum_")
        for s in family.samples:
            assert set(s.labels) <= LABELS, s
            assert "option" not in s.name and "answer" not in s.name
            if "outcome" in s.labels:
                assert s.labels["outcome"] in web_metrics.CAST_OUTCOME_VALUES | {"other"}
            if "poll" in s.labels:
                assert re.fullmatch(r"\d+", s.labels["poll"])
            for label_value in s.labels.values():
                assert len(label_value) <= 40 and re.fullmatch(r"[\w.+:-]+", label_value), s


@pytest.mark.django_db
def test_metrics_are_404_without_the_right_token(settings):
    client = Client()
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404  # unset: off
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 404
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert b"referendum_ready" in response.content


@pytest.mark.django_db(transaction=True)
def test_mails_queued_sent_and_failed_are_counted(worker, settings):  # noqa: F811
    poll = make_poll()
    set_email_registration(poll.id, True)
    client = Client()
    queued_before = web_metrics.EMAIL_QUEUED._value.get()
    assert ask(client, poll, "first.voter@example.org").status_code == 200
    assert ask(client, poll, "first.voter@example.org").status_code == 200  # "already sent" mail
    wait_for_mails(2)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # refused
    assert ask(client, poll, "second.voter@example.org").status_code == 200
    settings.METRICS_TOKEN = TOKEN

    def scraped():
        return samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())

    deadline = time.monotonic() + 30
    while value(scraped(), "referendum_email_failed_total") < 1:
        assert time.monotonic() < deadline, "the failed mail was not counted"
        time.sleep(0.2)
    final = scraped()
    assert web_metrics.EMAIL_QUEUED._value.get() - queued_before == 3
    assert value(final, "referendum_email_sent_total") == 2
    assert value(final, "referendum_email_failed_total") == 1
    assert len(mail.outbox) == 2
    assert "example.org" not in client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()


@pytest.mark.django_db
def test_a_part_that_fails_is_left_out_and_the_rest_is_served(settings):
    """A broken heartbeat value in Redis: readiness says so, the worker part is left out, the
    per-poll figures are still served (a scrape never turns into a 500)."""
    from referendum import health

    poll = make_poll()
    health.redis_client().set(health.HEARTBEAT_KEY, b"not a time")
    settings.METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    scraped = samples(response.content.decode())
    assert value(scraped, "referendum_ready", check="sealing") == 0
    assert value(scraped, "referendum_ready", check="postgres") == 1
    assert ("referendum_ballots_received", frozenset({"poll": str(poll.id), "region": "siberia"}.items())) in scraped
    assert not any(name.startswith("referendum_sealing_") for name, _labels in scraped)


@pytest.mark.django_db
def test_refusals_at_the_forms_check_step_are_counted():
    poll = make_poll()
    [code] = make_codes(poll, 1)
    before = {o: web_metrics.CAST_OUTCOMES.labels(o)._value.get() for o in ("code_unknown", "accepted")}
    client = Client()
    option = poll.options.first().id
    unknown = ballot_codes.new_code()
    assert client.post(f"/polls/{poll.id}/", {"code": unknown, "option": option}).status_code == 403
    assert client.post(f"/polls/{poll.id}/", {"code": code, "option": option}).status_code == 200  # confirm
    assert client.post(f"/polls/{poll.id}/cast", {"code": code, "option": option}).status_code == 200
    assert web_metrics.CAST_OUTCOMES.labels("code_unknown")._value.get() - before["code_unknown"] == 1
    assert web_metrics.CAST_OUTCOMES.labels("accepted")._value.get() - before["accepted"] == 1
