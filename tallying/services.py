"""Sealing: ballots enter the poll's public hash-chained ledger and its counts."""

import secrets
from collections import Counter

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from ballots.models import Ballot, CodeBatch

from . import ledger, signing
from .models import OptionCount, PollHead, Snapshot

# pg_advisory_xact_lock(namespace, poll id): one sealing run per poll at a time, across workers.
SEAL_LOCK_NAMESPACE = 0x5EA1
DEFAULT_BATCH = 10_000
_shuffle = secrets.SystemRandom().shuffle


def tally_cache_key(poll_id):
    return f"tally:{poll_id}"


def _take_batch(cursor, poll_id, batch_size):
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SEAL_LOCK_NAMESPACE, poll_id])
        cursor.execute(
            "SELECT id, option_id, tracker_hash FROM ballots_ballot"
            " WHERE poll_id = %s AND position IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            [poll_id, batch_size],
        )
        return [(row[0], row[1], bytes(row[2])) for row in cursor.fetchall()]
    # Embedded mode (SQLite): a single writer, so no lock is needed.
    return [
        (b.id, b.option_id, bytes(b.tracker_hash))
        for b in Ballot.objects.filter(poll_id=poll_id, position__isnull=True).order_by("id")[:batch_size]
    ]


def _write_entries(cursor, entries):
    ids, positions, prevs, hashes = zip(*entries, strict=True)
    if connection.vendor == "postgresql":
        # One statement for the whole batch; it rewrites every sealed row (see the privacy rules).
        cursor.execute(
            "UPDATE ballots_ballot AS b SET position = v.position, prev_hash = v.prev_hash,"
            " entry_hash = v.entry_hash FROM unnest(%s::uuid[], %s::bigint[], %s::bytea[], %s::bytea[])"
            " AS v(id, position, prev_hash, entry_hash) WHERE b.id = v.id",
            [list(ids), list(positions), list(prevs), list(hashes)],
        )
        return
    for ballot_id, position, prev, entry in entries:
        Ballot.objects.filter(pk=ballot_id).update(position=position, prev_hash=prev, entry_hash=entry)


def _add_counts(poll_id, added):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tallying_optioncount (poll_id, option_id, count)"
                " SELECT %s, option_id, n FROM unnest(%s::bigint[], %s::bigint[]) AS a(option_id, n)"
                " ON CONFLICT (poll_id, option_id) DO UPDATE"
                " SET count = tallying_optioncount.count + EXCLUDED.count",
                [poll_id, list(added.keys()), list(added.values())],
            )
        return
    for option_id, n in added.items():
        row, _created = OptionCount.objects.get_or_create(poll_id=poll_id, option_id=option_id)
        row.count += n
        row.save(update_fields=["count"])


def seal_poll(poll_id, batch_size=DEFAULT_BATCH):
    """Seal up to batch_size of the poll's unsealed ballots; return how many were sealed.

    One transaction under a per-poll advisory lock: the batch is taken FOR UPDATE SKIP LOCKED,
    shuffled (ledger order reveals no more than "cast within this batch"), given the next
    positions, chained, counted, and the head moves. Running it twice or from two workers at once
    counts nothing twice and skips nothing. Its cost depends on the batch, not on the ledger's
    length.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        batch = _take_batch(cursor, poll_id, batch_size)
        if not batch:
            return 0
        head, _created = PollHead.objects.select_for_update().get_or_create(poll_id=poll_id)
        _shuffle(batch)
        prev, position, added, entries = bytes(head.head_hash), head.position, Counter(), []
        for ballot_id, option_id, tracker_hash in batch:
            position += 1
            entry = ledger.entry_hash(prev, position, poll_id, option_id, tracker_hash)
            entries.append((ballot_id, position, prev, entry))
            added[option_id] += 1
            prev = entry
        _write_entries(cursor, entries)
        _add_counts(poll_id, added)
        now = timezone.now()
        head.position, head.head_hash, head.sealed_at = position, prev, now
        head.save()
        counts = {
            str(option_id): count
            for option_id, count in OptionCount.objects.filter(poll_id=poll_id).values_list("option_id", "count")
        }
        _record_snapshot(poll_id, now, counts, position, prev)
        transaction.on_commit(lambda: refresh_cached_tally(poll_id))
    return len(batch)


def _batch_counts(poll_id):
    return {
        str(batch_id): {"issued": issued, "revoked": revoked_at is not None}
        for batch_id, issued, revoked_at in CodeBatch.objects.filter(poll_id=poll_id)
        .order_by("id")
        .values_list("id", "issued", "revoked_at")
    }


def _record_snapshot(poll_id, taken_at, counts, position, head_hash, final=False):
    """Write a snapshot with its signed statement (what observers verify)."""
    statement = {
        "poll": poll_id,
        "taken_at": taken_at.isoformat(),
        "counts": counts,
        "total": sum(counts.values()),
        "position": position,
        "head_hash": bytes(head_hash).hex(),
        "batches": _batch_counts(poll_id),
        "final": final,
    }
    text, signature = signing.sign(statement)
    return Snapshot.objects.create(
        poll_id=poll_id, taken_at=taken_at, counts=counts, total=statement["total"], position=position,
        head_hash=head_hash, statement=text, signature=bytes.fromhex(signature), is_final=final,
    )


def seal_until_caught_up(poll_id, batch_size=DEFAULT_BATCH):
    total = 0
    while True:
        sealed = seal_poll(poll_id, batch_size)
        total += sealed
        if sealed < batch_size:
            return total


def seal_all_polls(batch_size=DEFAULT_BATCH):
    """Seal every poll that has unsealed ballots (open ones, and closed ones until none is left),
    then mend cached tallies that fell behind (e.g. sealed while Redis was unreachable)."""
    poll_ids = sorted(set(Ballot.objects.filter(position__isnull=True).values_list("poll_id", flat=True)))
    sealed = {poll_id: seal_until_caught_up(poll_id, batch_size) for poll_id in poll_ids}
    refresh_stale_tallies()
    return sealed


def refresh_stale_tallies():
    for poll_id, position in PollHead.objects.values_list("poll_id", "position"):
        cached = cache.get(tally_cache_key(poll_id))
        if cached is not None and cached["head"]["position"] != position:
            refresh_cached_tally(poll_id)


def refresh_cached_tally(poll_id):
    """Put the poll's sealed tally into the cache (a no-op while Redis is down)."""
    from .queries import sealed_tally

    cache.set(tally_cache_key(poll_id), sealed_tally(poll_id), timeout=60)


class PublishRefused(Exception):
    def __init__(self, message):
        self.message = message
        super().__init__(str(message))


def publish_final(poll_id, actor):
    """Publish the final result: a last signed snapshot marked final, once the poll is closed and
    every ballot is sealed. Nothing can follow it: the poll accepts no ballot and a second final
    snapshot is refused (also by a unique index)."""
    from django.utils.translation import gettext as _

    from ballots.models import AuditEntry, Poll

    seal_until_caught_up(poll_id)
    with transaction.atomic():
        poll = Poll.objects.select_for_update().get(pk=poll_id)
        if poll.phase() != "closed":
            raise PublishRefused(_("The final result can be published only after the poll has closed."))
        if poll.state != Poll.State.CLOSED:
            poll.state = Poll.State.CLOSED  # its closing time has passed: record it
            poll.save(update_fields=["state"])
        if Ballot.objects.filter(poll_id=poll_id, position__isnull=True).exists():
            raise PublishRefused(_("Some ballots are not sealed yet; try again in a few seconds."))
        if Snapshot.objects.filter(poll_id=poll_id, is_final=True).exists():
            raise PublishRefused(_("The final result of this poll is already published."))
        head, _created = PollHead.objects.get_or_create(poll_id=poll_id)
        counts = {
            str(option_id): count
            for option_id, count in OptionCount.objects.filter(poll_id=poll_id).values_list("option_id", "count")
        }
        snapshot = _record_snapshot(poll_id, timezone.now(), counts, head.position, bytes(head.head_hash), final=True)
        AuditEntry.objects.create(
            role=actor.role, organizer=actor.pseudonym, poll_id=poll_id, action=AuditEntry.Action.PUBLISH,
            detail={"position": head.position, "total": snapshot.total},
        )
        transaction.on_commit(lambda: refresh_cached_tally(poll_id))
        return snapshot
