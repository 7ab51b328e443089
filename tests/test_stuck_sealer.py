"""A sealer frozen mid-publication (SIGSTOP, holding its poll's lock) blocks neither the other polls
nor, for long, its own: PostgreSQL ends its idle transaction after SEALER_IDLE_TIMEOUT_SECONDS, the
batch rolls back, and another sealer publishes every ballot exactly once."""

import os
import signal
import time

import pytest

from tallying.services import seal_all_polls, seal_poll
from tallying.tasks import seal_poll_task
from tests.factories import make_poll, make_region
from tests.sealing import assert_ledger_consistent, insert_ballots
from tests.test_seal_worker_killed import sealed_count, sealer_holds_the_lock, wait_until
from tests.workers import celery_process

BALLOTS = 40_000


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_frozen_sealer_blocks_no_other_poll_and_is_replaced(tmp_path, settings):
    stuck, other = make_poll(), make_poll(region=make_region("urals", "Urals", "Урал"))
    insert_ballots(stuck, BALLOTS)
    insert_ballots(other, 30)
    worker_args = ("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO")
    with celery_process(*worker_args, log_path=tmp_path / "worker.log", SEALER_IDLE_TIMEOUT_SECONDS="3") as worker:
        seal_poll_task.delay(stuck.id)
        wait_until(lambda: sealer_holds_the_lock(stuck.id), 60, "the worker to start sealing")
        time.sleep(0.3)  # inside a batch: opening 10,000 sealed ballots in Python, its transaction idle
        os.killpg(worker.pid, signal.SIGSTOP)
        try:
            frozen_at = time.monotonic()
            assert sealer_holds_the_lock(stuck.id)
            started = time.monotonic()
            assert seal_all_polls()[other.id] == 30  # the other poll is published at once
            assert seal_poll(stuck.id) == 0  # this one is left to the sealer holding it, without waiting
            assert time.monotonic() - started < 3
            wait_until(lambda: not sealer_holds_the_lock(stuck.id), 20, "PostgreSQL to end the frozen session")
            released_after = time.monotonic() - frozen_at
            partly = sealed_count(stuck)
            assert partly < BALLOTS and partly % 10_000 == 0  # its batch rolled back: whole batches only
            seal_all_polls()  # another sealer (here the test process) takes over
            assert sealed_count(stuck) == BALLOTS
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
    assert released_after < 3 + 10
    assert assert_ledger_consistent(stuck.id) == BALLOTS
    assert assert_ledger_consistent(other.id) == 30
