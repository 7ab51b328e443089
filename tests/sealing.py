"""Helpers for the sealing tests: recount and verify a poll's ledger straight from the tables."""

from collections import Counter

from tallying.ledger import verify_chain
from tallying.models import LedgerEntry, OptionCount, PollHead


def ledger_rows(poll_id):
    return (
        LedgerEntry.objects.filter(poll_id=poll_id)
        .order_by("position")
        .values("position", "poll", "option", "tracker_hash", "prev_hash", "entry_hash")
    )


def assert_ledger_consistent(poll_id):
    """Counts == recount of the ballots, positions 1..n without gaps, the chain verifies,
    and the head is the chain's end. Returns the number of sealed ballots."""
    head = PollHead.objects.filter(poll_id=poll_id).first()
    sealed, head_hash, chain_counts = verify_chain(
        ledger_rows(poll_id), poll_id, start=bytes(head.genesis) if head else bytes(32)
    )
    recount = Counter(
        LedgerEntry.objects.filter(poll_id=poll_id).values_list("option_id", flat=True)
    )
    stored = {o: c for o, c in OptionCount.objects.filter(poll_id=poll_id).values_list("option_id", "count") if c}
    assert stored == dict(recount) == chain_counts
    assert (head.position if head else 0) == sealed
    if head:
        assert bytes(head.head_hash) == head_hash
    return sealed


def cast_many(poll, count, option_index=None):
    """Insert `count` ballots through the real cast service; return them per option."""
    from ballots.services import cast_ballot
    from tests.factories import make_codes

    options = list(poll.options.all())
    cast = Counter()
    for i, code in enumerate(make_codes(poll, count)):
        option = options[option_index if option_index is not None else i % len(options)]
        cast_ballot(poll.id, code, option.id)
        cast[option.id] += 1
    return cast


def insert_ballots(poll, count, sealed=False):
    """Insert `count` ballots with one SQL statement, spread over the poll's options.

    Waiting ballots (in the inbox) are real input for sealing; like cast ones, each has used a
    code (a batch of `count` codes, all used, is written too: statements bind totals to codes).
    `sealed=True` writes ledger entries instead, with stand-in hashes that do not chain (for
    measuring the export, not verifying it)."""
    from django.db import connection

    from ballots.models import CodeBatch

    options = [o.id for o in poll.options.all()]
    with connection.cursor() as cursor:
        if sealed:
            cursor.execute(
                "INSERT INTO tallying_ledgerentry (poll_id, position, option_id, tracker_hash, prev_hash, entry_hash)"
                " SELECT %s, i, (%s::bigint[])[1 + i %% %s], sha256(gen_random_uuid()::text::bytea),"
                " sha256((i - 1)::text::bytea), sha256((-i)::text::bytea) FROM generate_series(1, %s) AS i",
                [poll.id, options, len(options), count],
            )
            return
        batch = CodeBatch.objects.create(poll=poll, size=count, issued=count)
        cursor.execute(
            "INSERT INTO ballots_credential (poll_id, batch_id, code_hash, used)"
            " SELECT %s, %s, sha256(gen_random_uuid()::text::bytea), true FROM generate_series(1, %s)",
            [poll.id, batch.id, count],
        )
    insert_sealed(poll, [options[(i + 1) % len(options)] for i in range(count)])


def insert_sealed(poll, option_ids):
    """Sealed ballots straight into the inbox (as a cast would seal them), one per option id given,
    with random trackers; no code is used."""
    import os
    import uuid

    from django.db import connection

    from ballots import keys, sealed

    key_id, public = keys.ensure_current_key(poll.id)
    rows = [(uuid.uuid4(), poll.id, key_id, sealed.seal(public, poll.id, option, os.urandom(32))) for option in option_ids]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ballots_inboxballot (id, poll_id, key_id, sealed)"
            " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::bytea[])",
            [list(column) for column in zip(*rows, strict=True)] if rows else [[], [], [], []],
        )


def waiting_options(poll):
    """The option ids of the poll's waiting ballots, opened with the key store's keys."""
    from ballots.keys import open_waiting

    return [option for option, _tracker in open_waiting(poll.id)]
