"""A Celery worker SIGKILLed in the middle of a sealing batch: nothing of that batch stays, and
after a restart every ballot is sealed exactly once."""

import os
import signal
import time

import pytest
from django.db import connection

from tallying.models import LedgerEntry
from tallying.services import SEAL_LOCK_NAMESPACE
from tallying.tasks import seal_poll_task
from tests.factories import make_poll
from tests.sealing import assert_ledger_consistent, insert_ballots
from tests.workers import celery_process

BALLOTS = 60_000


def sealer_holds_the_lock(poll_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND granted",
            [SEAL_LOCK_NAMESPACE, poll_id],
        )
        return cursor.fetchone()[0] > 0


def sealed_count(poll):
    return LedgerEntry.objects.filter(poll=poll).count()


def wait_until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_batch_then_restarted_counts_exactly(tmp_path):
    poll = make_poll()
    insert_ballots(poll, BALLOTS)
    worker_args = ("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO")

    with celery_process(*worker_args, log_path=tmp_path / "worker1.log") as worker:
        seal_poll_task.delay(poll.id)
        wait_until(lambda: sealer_holds_the_lock(poll.id), 60, "the worker to start sealing")
        time.sleep(0.1)  # inside the batch: hashing and writing 10,000 entries takes longer
        assert worker.poll() is None
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    assert worker.returncode == -signal.SIGKILL
    wait_until(lambda: not sealer_holds_the_lock(poll.id), 30, "PostgreSQL to roll the batch back")
    partly = sealed_count(poll)
    assert partly < BALLOTS and partly % 10_000 == 0  # only whole committed batches remain
    assert_ledger_consistent(poll.id)

    with celery_process(*worker_args, log_path=tmp_path / "worker2.log"):
        seal_poll_task.delay(poll.id)
        wait_until(lambda: sealed_count(poll) == BALLOTS, 120, "the restarted worker to catch up")
    assert assert_ledger_consistent(poll.id) == BALLOTS
