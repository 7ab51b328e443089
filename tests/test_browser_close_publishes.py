"""Closing ends with a count (issue 20): a regional organizer closes a poll while ballots wait; with
no other step, the sealer (a real Celery worker and beat) publishes the final result with every
waiting ballot, and the results and vote pages show when the poll actually closed."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from ballots.models import InboxBallot, Poll
from ballots.services import cast_ballot
from tallying.models import LedgerEntry, Snapshot
from tests.browser import chromium
from tests.console import PASSWORD, current_token, make_organizer
from tests.factories import make_codes, make_poll, make_region
from tests.workers import celery_process

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def sign_in(page, base, username, device):
    page.goto(base + "/console/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(current_token(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/console/")


def test_closing_a_poll_publishes_its_final_result_without_another_step(live_server, tmp_path):
    region = make_region("krasnodar", "Krasnodar", "Краснодар")
    poll = make_poll(region=region, closes_in=timedelta(days=30))
    scheduled_end = poll.closes_at
    organizer, device = make_organizer("kuban", region_slugs=["krasnodar"])
    voting_codes = make_codes(poll, 8)
    options = list(poll.options.all())
    workers = dict(log_path=tmp_path / "worker.log", PUBLISH_MIN_BALLOTS="5", PUBLISH_HOLD_BACK="0",
                   SEAL_INTERVAL_SECONDS="1")
    with celery_process("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO", **workers), \
         celery_process("beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule"),
                        **{**workers, "log_path": tmp_path / "beat.log"}), chromium() as browser:
        for i, code in enumerate(voting_codes[:5]):
            cast_ballot(poll.id, code, options[i % 2].id)
        deadline = time.monotonic() + 60
        while LedgerEntry.objects.filter(poll=poll).count() < 5:  # a step of K = 5, published by the worker
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.3)
        for code in voting_codes[5:8]:
            cast_ballot(poll.id, code, options[0].id)
        assert InboxBallot.objects.filter(poll=poll).count() == 3  # fewer than K: they wait

        page = browser.new_page()
        sign_in(page, live_server.url, "kuban", device)
        page.goto(f"{live_server.url}/console/polls/{poll.id}/")
        page.get_by_label("Yes, close this poll now").check()
        page.get_by_role("button", name="Close now").click()
        closed = Poll.objects.get(pk=poll.id)
        assert closed.state == Poll.State.CLOSED
        assert closed.closes_at <= timezone.now() < scheduled_end  # the actual closing time

        deadline = time.monotonic() + 60  # no other click: the sealer publishes the final result
        while not Snapshot.objects.filter(poll=poll, is_final=True).exists():
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.3)
        final = Snapshot.objects.get(poll=poll, is_final=True)
        assert final.total == 8 and not InboxBallot.objects.filter(poll=poll).exists()

        page.goto(f"{live_server.url}/results/krasnodar/")
        results = page.locator("main").inner_text()
        assert "Final result" in results
        vote = page.goto(f"{live_server.url}/polls/{poll.id}/")
        assert vote.status < 500
        vote_text = page.locator("main").inner_text()
        day = closed.closes_at.astimezone(timezone.get_fixed_timezone(180))
        scheduled = scheduled_end.astimezone(timezone.get_fixed_timezone(180))
        for text in (results, vote_text):
            assert f"{day.day} {day:%B} {day.year}" in text or f"{day:%d.%m.%Y}" in text, text[:1500]
            assert f"{scheduled.day} {scheduled:%B} {scheduled.year}" not in text
        page.close()
