"""Migrating a database from before signed definitions: heads that exist keep the genesis their
chains began from (32 zero bytes, version 1) and no ledger row is rewritten; sealing continues
those chains; polls published for the first time afterwards begin from their definition."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tallying import ledger
from tallying.models import LedgerEntry, PollHead
from tallying.services import seal_poll
from tests.factories import make_poll
from tests.sealing import assert_ledger_consistent, insert_ballots


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.mark.django_db(transaction=True)
def test_existing_heads_keep_zero_genesis_and_nothing_is_rewritten():
    old_poll, new_poll = make_poll(), make_poll()
    migrate(("tallying", "0004_ledgerentry"))
    try:
        # What an older server wrote: a head and a chain from 32 zero bytes.
        prev, trackers = bytes(32), [bytes([i]) * 32 for i in range(1, 4)]
        option = old_poll.options.first().id
        with connection.cursor() as cursor:
            for position, tracker in enumerate(trackers, start=1):
                entry = ledger.entry_hash(prev, position, old_poll.id, option, tracker)
                cursor.execute(
                    "INSERT INTO tallying_ledgerentry (poll_id, position, option_id, tracker_hash, prev_hash, entry_hash)"
                    " VALUES (%s, %s, %s, %s, %s, %s)", [old_poll.id, position, option, tracker, prev, entry],
                )
                prev = entry
            cursor.execute("INSERT INTO tallying_optioncount (poll_id, option_id, count) VALUES (%s, %s, 3)",
                           [old_poll.id, option])
            cursor.execute("INSERT INTO tallying_pollhead (poll_id, position, head_hash) VALUES (%s, 3, %s)",
                           [old_poll.id, prev])
            cursor.execute("SELECT position, entry_hash FROM tallying_ledgerentry WHERE poll_id = %s ORDER BY 1",
                           [old_poll.id])
            before = [(p, bytes(h)) for p, h in cursor.fetchall()]
    finally:
        migrate(("tallying", "0005_genesis_and_final"))
    head = PollHead.objects.get(poll=old_poll)
    assert bytes(head.genesis) == bytes(32) and head.genesis_version == 1
    assert [(e.position, bytes(e.entry_hash)) for e in LedgerEntry.objects.filter(poll=old_poll).order_by("position")] \
        == before
    insert_ballots(old_poll, 2)
    seal_poll(old_poll.id)
    assert assert_ledger_consistent(old_poll.id) == 5  # the old chain goes on from 32 zero bytes
    insert_ballots(new_poll, 2)
    seal_poll(new_poll.id)
    assert PollHead.objects.get(poll=new_poll).genesis_version == 2
    assert assert_ledger_consistent(new_poll.id) == 2
