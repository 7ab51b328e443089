"""A sealing process SIGKILLed in the middle of a batch: nothing of that batch stays, and the
next run seals everything exactly once."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from tallying.services import SEAL_LOCK_NAMESPACE, seal_until_caught_up
from tests.factories import make_poll
from tests.sealing import assert_ledger_consistent
from tests.workers import ROOT, child_env

BALLOTS = 100_000


def insert_unsealed(poll, count):
    options = [o.id for o in poll.options.all()]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ballots_ballot (id, poll_id, option_id, tracker_hash, cast_hour)"
            " SELECT gen_random_uuid(), %s, (%s::bigint[])[1 + i %% %s],"
            " sha256(gen_random_uuid()::text::bytea), date_trunc('hour', now())"
            " FROM generate_series(1, %s) AS i",
            [poll.id, options, len(options), count],
        )


def sealer_holds_the_lock(poll_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND granted",
            [SEAL_LOCK_NAMESPACE, poll_id],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_batch_loses_nothing_and_counts_nothing_twice():
    poll = make_poll()
    insert_unsealed(poll, BALLOTS)
    code = (
        "import django; django.setup();"
        "from tallying.services import seal_poll;"
        f"seal_poll({poll.id}, batch_size={BALLOTS})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=child_env(DJANGO_SETTINGS_MODULE="referendum.settings"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not sealer_holds_the_lock(poll.id):
        assert process.poll() is None, "the sealer finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)  # well inside the batch: hashing 100,000 entries takes longer than this
    assert process.poll() is None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ballots_ballot WHERE poll_id = %s AND position IS NOT NULL", [poll.id])
        assert cursor.fetchone()[0] == 0  # the killed batch left nothing behind
    assert seal_until_caught_up(poll.id, batch_size=25_000) == BALLOTS
    assert assert_ledger_consistent(poll.id) == BALLOTS
