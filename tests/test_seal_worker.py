"""The real stack: ballots cast over HTTP are sealed by a Celery worker that beat drives, and the
tally API reaches exactly what was cast."""

import json
import time
from collections import Counter

import pytest
from django.test import Client

from ballots.models import InboxBallot
from tests.factories import make_codes, make_poll
from tests.sealing import assert_ledger_consistent
from tests.workers import celery_process

CAST = 150


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_and_beat_seal_every_ballot_cast_over_http(tmp_path):
    poll = make_poll()
    options = list(poll.options.all())
    client = Client()
    cast = Counter()
    with celery_process("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO",
                        log_path=tmp_path / "worker.log"), \
         celery_process("beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule"),
                        log_path=tmp_path / "beat.log", SEAL_INTERVAL_SECONDS="1"):
        for i, code in enumerate(make_codes(poll, CAST)):
            option = options[i % 3 % 2]  # uneven split
            response = client.post(
                f"/api/v1/polls/{poll.id}/ballots",
                data=json.dumps({"code": code, "option": option.id}),
                content_type="application/json",
            )
            assert response.status_code == 201
            cast[option.id] += 1
        deadline = time.monotonic() + 60
        while True:
            tally = client.get(f"/api/v1/polls/{poll.id}/tally").json()
            if tally["total"] == CAST or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    log = (tmp_path / "worker.log").read_text()
    assert tally["total"] == CAST, log[-3000:]
    assert {c["option"]: c["count"] for c in tally["counts"]} == dict(cast)
    assert "Task tallying.seal_open_polls[" not in log  # no per-task lines (see test_publication_threshold)
    assert assert_ledger_consistent(poll.id) == CAST
    assert not InboxBallot.objects.filter(poll=poll).exists()
