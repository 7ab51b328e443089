"""Sealing: ballots enter the poll's public hash-chained ledger and its counts."""

import logging
import uuid
from collections import Counter

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from ballots import keys, sealed
from ballots.models import CodeBatch, Credential, InboxBallot, Poll, PublicationKey
from ballots.queries import poll_definition

from . import ledger, pool, signing
from .models import LedgerEntry, OptionCount, PollHead, Snapshot

# pg_advisory_xact_lock(namespace, poll id): one sealing run per poll at a time, across workers.
log = logging.getLogger(__name__)

SEAL_LOCK_NAMESPACE = 0x5EA1
DEFAULT_BATCH = 10_000


_shuffle = pool.shuffle


def tally_cache_key(poll_id):
    return f"tally:{poll_id}"


# A sealer that stops mid-publication (frozen, its machine lost) must not hold a poll's lock for
# long: PostgreSQL ends a sealing session idle inside its transaction after
# SEALER_IDLE_TIMEOUT_SECONDS, which rolls it back and frees the lock for another worker.


def _lock_poll_sealing(cursor, poll_id, wait=False):
    """Take the poll's sealing lock for this transaction; return False if another sealer holds it
    (seal_poll then leaves that poll to it: a stuck sealer never blocks the other polls, and
    sealing runs never queue up behind one). `wait`: wait for it (the final result)."""
    if connection.vendor != "postgresql":
        return True  # Embedded mode (SQLite): a single writer, so no lock is needed.
    cursor.execute(
        "SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
        [f"{int(settings.SEALER_IDLE_TIMEOUT_SECONDS * 1000)}ms"],
    )
    if wait:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SEAL_LOCK_NAMESPACE, poll_id])
        return True
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [SEAL_LOCK_NAMESPACE, poll_id])
    return cursor.fetchone()[0]


def _count_waiting(cursor, poll_id, key_ids):
    """Waiting ballots of the poll sealed to one of `key_ids`."""
    if not key_ids:
        return 0
    return InboxBallot.objects.filter(poll_id=poll_id, key_id__in=list(key_ids)).count()


def _take_waiting(cursor, poll_id, key_ids, limit):
    """Remove the poll's waiting ballots sealed to one of `key_ids` (at most `limit`, all when None)
    from the inbox and return them as (id, key id, sealed); the deletion commits with the
    publication, or not at all. Call with the poll's sealing lock held. (DELETE … RETURNING: no
    list of ids to send back, which for 10,000 ballots cost more than the publication itself.)"""
    key_ids = list(key_ids)
    if not key_ids:
        return []
    if connection.vendor == "postgresql":
        cursor.execute(
            "DELETE FROM ballots_inboxballot WHERE id IN (SELECT id FROM ballots_inboxballot"
            " WHERE poll_id = %s AND key_id = ANY(%s)" + (" LIMIT %s" if limit is not None else "")
            + " FOR UPDATE SKIP LOCKED) RETURNING id, key_id, sealed",
            [poll_id, key_ids, limit] if limit is not None else [poll_id, key_ids],
        )
        return [(row[0], row[1], bytes(row[2])) for row in cursor.fetchall()]
    waiting = InboxBallot.objects.filter(poll_id=poll_id, key_id__in=key_ids).values_list("id", "key_id", "sealed")
    taken = [(i, k, bytes(b)) for i, k, b in (waiting[:limit] if limit is not None else waiting)]
    InboxBallot.objects.filter(pk__in=[i for i, _k, _b in taken]).delete()
    return taken


def _open_ballots(poll_id, taken, private_keys):
    """(id, option id, tracker hash) of each taken ballot, opened with its period's private key.
    A ballot that does not open, or opens to another poll, was not written by a cast (a sealed box
    can be made by anyone holding the public key): it is left out and logged, never published."""
    openers = {key_id: sealed.opener(private) for key_id, private in private_keys.items()}
    opened, unreadable = [], 0
    for ballot_id, key_id, sealed_ballot in taken:
        try:
            ballot_poll, option_id, tracker_hash = openers[key_id](sealed_ballot)
        except sealed.Unreadable:
            unreadable += 1
            continue
        if ballot_poll != poll_id:
            unreadable += 1
            continue
        opened.append((ballot_id, option_id, tracker_hash))
    if unreadable:
        log.error("Poll %s: %s waiting ballots did not open with their key; left out.", poll_id, unreadable)
    return opened


def _reseal(poll_id, held, key_id, public_key):
    """Ballots held back for a later publication go back to the inbox sealed again, to the poll's
    new current key, under new random ids, by the publication's transaction."""
    InboxBallot.objects.bulk_create(
        InboxBallot(id=uuid.uuid4(), poll_id=poll_id, key_id=key_id,
                    sealed=sealed.seal(public_key, poll_id, option, tracker))
        for _id, option, tracker in held
    )


LEDGER_COLUMNS = ("poll_id", "position", "option_id", "tracker_hash", "prev_hash", "entry_hash")


def _append_to_ledger(cursor, poll_id, entries):
    """Append the entries, in position order, to the ledger: its heap order is its (public)
    position order. COPY streams them (no parameters to quote)."""
    rows = [(poll_id, position, option, tracker, prev, entry) for _id, position, option, tracker, prev, entry in entries]
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY tallying_ledgerentry ({', '.join(LEDGER_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    LedgerEntry.objects.bulk_create(LedgerEntry(**dict(zip(LEDGER_COLUMNS, row, strict=True))) for row in rows)


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


class DefinitionChanged(Exception):
    """The poll's definition no longer hashes to the genesis its chain began from: someone changed
    it in the database behind the triggers. Nothing is published until it is restored."""


def _definition_and_head(poll_id):
    """The poll's definition and its head (locked), the head created at the definition's hash
    (genesis version 2) on the first publication. A version-2 head whose genesis is not the
    current definition's hash refuses: no statement is signed over a changed wording."""
    definition = poll_definition(Poll.objects.select_related("region").get(pk=poll_id))
    digest = ledger.definition_hash(definition)
    head, _created = PollHead.objects.select_for_update().get_or_create(
        poll_id=poll_id, defaults={"head_hash": digest, "genesis": digest}
    )
    if head.genesis_version == 2 and bytes(head.genesis) != digest:
        raise DefinitionChanged(f"poll {poll_id}: its definition no longer matches its chain's genesis")
    return definition, head


def _publish(cursor, poll_id, waiting, final=False):
    """Shuffle the waiting ballots, chain them after the head, move them to the ledger, add them
    to the counts, move the head and sign one snapshot. Call with the sealing lock held."""
    definition, head = _definition_and_head(poll_id)
    _shuffle(waiting)
    prev, position, added, entries = bytes(head.head_hash), head.position, Counter(), []
    for ballot_id, option_id, tracker_hash in waiting:
        position += 1
        entry = ledger.entry_hash(prev, position, poll_id, option_id, tracker_hash)
        entries.append((ballot_id, position, option_id, tracker_hash, prev, entry))
        added[option_id] += 1
        prev = entry
    if entries:
        _append_to_ledger(cursor, poll_id, entries)
        _add_counts(poll_id, added)
    # A statement's taken_at never goes back (verification check 53), even if the clock steps back.
    last = Snapshot.objects.filter(poll_id=poll_id).order_by("-taken_at").values_list("taken_at", flat=True).first()
    now = max(timezone.now(), last) if last else timezone.now()
    head.position, head.head_hash, head.sealed_at = position, prev, now
    head.save(update_fields=["position", "head_hash", "sealed_at"])
    # Every answer of the definition, zeros included, and any other option the ledger holds
    # (none, unless the database was tampered with: then the statement says so).
    counts = {str(answer["id"]): 0 for answer in definition["answers"]}
    counts.update(
        (str(option_id), count)
        for option_id, count in OptionCount.objects.filter(poll_id=poll_id).values_list("option_id", "count")
    )
    snapshot = _record_snapshot(poll_id, now, counts, position, prev, definition, bytes(head.genesis), final=final)
    transaction.on_commit(lambda: refresh_cached_tally(poll_id))
    return snapshot


def publish_min_ballots():
    return settings.PUBLISH_MIN_BALLOTS


# Above this many waiting ballots (a backlog after an outage) the rewrite would hold casts up too
# long: VACUUM instead, until the backlog is published.
INBOX_REWRITE_MAX = 20_000


class _InboxTooLarge(Exception):
    pass


def clear_inbox():
    """Leave no trace of published ballots in the inbox, whose deleted row versions carry the
    xmin of the cast transactions that also marked codes used.

    The inbox is small, so it is rewritten: under a brief exclusive lock its waiting ballots are
    read, the table is truncated (a new, empty file: neither dead row versions nor their raw bytes
    survive, whatever old snapshots other sessions hold) and they are written back in random
    order, now with the rewrite's own transaction id. The lock is taken only if it is free at once
    (NOWAIT): a lock request that waited would hold up every cast that comes after it (they queue
    behind it), which under load made a cast's p99 the lock's timeout. If casts in flight or a
    backup hold the table, a plain VACUUM frees the dead versions instead (their bytes stay until
    overwritten; the ballots are sealed to keys forgotten by then) and the next publication
    rewrites. Runs after the publication commits; skipped inside an outer transaction (tests that
    wrap everything in one). Returns "rewritten", "vacuumed" or None.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("LOCK TABLE ballots_inboxballot IN ACCESS EXCLUSIVE MODE NOWAIT")
            cursor.execute(
                "SELECT id, poll_id, key_id, sealed FROM ballots_inboxballot LIMIT %s", [INBOX_REWRITE_MAX + 1]
            )
            waiting = cursor.fetchall()
            if len(waiting) > INBOX_REWRITE_MAX:
                raise _InboxTooLarge  # a backlog: rewrite it once it has been published
            cursor.execute("TRUNCATE ballots_inboxballot")
            if waiting:
                _shuffle(waiting)
                cursor.execute(
                    "INSERT INTO ballots_inboxballot (id, poll_id, key_id, sealed)"
                    " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::bytea[])",
                    [list(column) for column in zip(*waiting, strict=True)],
                )
        return "rewritten"
    except (OperationalError, _InboxTooLarge):
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ballots_inboxballot")
        return "vacuumed"


def publish_hold_back():
    return settings.PUBLISH_HOLD_BACK


def seal_poll(poll_id, batch_size=DEFAULT_BATCH, clear=True):
    """Publish the poll's waiting ballots if at least K + H wait (K = PUBLISH_MIN_BALLOTS, H =
    PUBLISH_HOLD_BACK); return how many were published.

    First the poll's publication key is rotated (keys.rotate_key: from then on casts seal to the
    new key, so the old keys' ballots are a closed set). Then, in one transaction under a per-poll
    advisory lock, up to batch_size ballots sealed to the older keys whose private halves the key
    store holds are taken out of the inbox (FOR UPDATE SKIP LOCKED) and opened; they are shuffled
    and H of them, at random, are sealed again to the new key and go back to the inbox (the
    hold-back pool: an attacker who fills a publication around one voter cannot know the voter's
    ballot is in it). If fewer than K remain, nothing happens (no published figure ever moves by
    fewer than K ballots). Otherwise they are given the next positions, chained, inserted into
    the ledger in position order and counted; the head moves; one snapshot is signed. After the
    commit the keys none of whose ballots waits are forgotten, and the inbox is cleared of the
    published ballots' traces (clear_inbox). Running it twice or from two workers at once counts
    nothing twice and skips nothing. Its cost depends on the batch, not on the ledger's length.
    """
    k, hold = publish_min_ballots(), publish_hold_back()
    with transaction.atomic(), connection.cursor() as cursor:
        if not _lock_poll_sealing(cursor, poll_id):
            return 0  # another sealer is publishing this poll
        if Snapshot.objects.filter(poll_id=poll_id, is_final=True).exists():
            return 0  # a final result is final: nothing is published after it (also a trigger)
        current = keys.current_key_id(poll_id)
        held = keys.held_private_keys(poll_id)
        if current is not None and current not in held:
            # The key store lost the current key (a restart): seal new casts to one it holds.
            # The ballots already sealed to the lost one wait for recover_ballots.
            transaction.on_commit(lambda: keys.rotate_key(poll_id, current))
            return 0
        if not pool.ready(_count_waiting(cursor, poll_id, held), k, hold):
            return 0
    current = keys.rotate_key(poll_id, current)
    public_key = bytes(PublicationKey.objects.get(pk=current).public_key)
    with transaction.atomic(), connection.cursor() as cursor:
        if not _lock_poll_sealing(cursor, poll_id):
            return 0
        if Snapshot.objects.filter(poll_id=poll_id, is_final=True).exists():
            return 0
        held = keys.held_private_keys(poll_id, exclude=current)
        opened = _open_ballots(poll_id, _take_waiting(cursor, poll_id, held, max(batch_size, k + hold)), held)
        chosen = pool.split(opened, k, hold)
        if chosen is None:  # rows locked by someone else: publish nothing, delete nothing
            transaction.set_rollback(True)
            return 0
        opened, held_back = chosen
        _reseal(poll_id, held_back, current, public_key)
        _publish(cursor, poll_id, opened)
    keys.forget_published_keys(poll_id)
    if clear:
        clear_inbox()
    return len(opened)


def _batch_counts(poll_id):
    """Per batch: codes issued, revoked or not, and codes used, as of this publication. The used
    counts are also kept on the batch for the console, so that they too move only with
    publications."""
    used = dict(
        Credential.objects.filter(poll_id=poll_id, used=True).order_by()
        .values_list("batch_id").annotate(n=Count("id")).values_list("batch_id", "n")
    )
    batches = {}
    for batch_id, issued, revoked_at, used_published in (
        CodeBatch.objects.filter(poll_id=poll_id).order_by("id")
        .values_list("id", "issued", "revoked_at", "used_published")
    ):
        batches[str(batch_id)] = {"issued": issued, "revoked": revoked_at is not None, "used": used.get(batch_id, 0)}
        if used_published != used.get(batch_id, 0):
            CodeBatch.objects.filter(pk=batch_id).update(used_published=used.get(batch_id, 0))
    return batches


STATEMENT_FORMAT = 2


def signed_snapshot(poll_id, taken_at, counts, position, head_hash, definition, genesis, batches, final=False):
    """An unsaved snapshot with its signed statement (format 2, docs/verification.md): what
    observers verify and keep. `batches` as _batch_counts gives them."""
    statement = {
        "format": STATEMENT_FORMAT,
        "poll": poll_id,
        "definition": definition,
        "genesis": bytes(genesis).hex(),
        "taken_at": taken_at.isoformat(),
        "counts": counts,
        "total": sum(counts.values()),
        "position": position,
        "head_hash": bytes(head_hash).hex(),
        "batches": batches,
        "final": final,
    }
    text, signature = signing.sign(statement)
    return Snapshot(
        poll_id=poll_id, taken_at=taken_at, counts={k: v for k, v in counts.items() if v}, total=statement["total"],
        position=position, head_hash=head_hash, statement=text, signature=bytes.fromhex(signature), is_final=final,
    )


def _record_snapshot(poll_id, taken_at, counts, position, head_hash, definition, genesis, final=False):
    snapshot = signed_snapshot(
        poll_id, taken_at, counts, position, head_hash, definition, genesis, _batch_counts(poll_id), final=final
    )
    snapshot.save()
    return snapshot


def seal_until_caught_up(poll_id, batch_size=DEFAULT_BATCH):
    """Publish batch after batch while enough wait; clear the inbox once at the end."""
    total = 0
    while published := seal_poll(poll_id, batch_size, clear=False):
        total += published
    if total:
        clear_inbox()
    return total


def seal_all_polls(batch_size=DEFAULT_BATCH):
    """Publish every poll where enough ballots wait, publish the final result of every poll that
    has closed (by an organizer or by its closing time) and has none yet, then mend cached tallies
    that fell behind (e.g. sealed while Redis was unreachable). While the key store cannot be
    reached nothing is published (casting goes on; the ballots wait, sealed)."""
    try:
        poll_ids = sorted(set(InboxBallot.objects.values_list("poll_id", flat=True).distinct()))
        published = {poll_id: seal_until_caught_up(poll_id, batch_size) for poll_id in poll_ids}
        for poll_id in polls_awaiting_final():
            try:
                published[poll_id] = published.get(poll_id, 0) + publish_final(poll_id, SEALER).waiting_published
            except PublishRefused as refusal:
                log.warning("Poll %s: final result not published: %s", poll_id, refusal.message)
    except keys.KeyStoreUnavailable as error:
        log.error("The publication key store cannot be reached (%s): nothing is published.", error)
        return {}
    refresh_stale_tallies()
    return published


def polls_awaiting_final():
    """Polls that have closed (by state or by their closing time) and have no final result."""
    from django.db.models import Q

    finals = Snapshot.objects.filter(is_final=True).values("poll_id")
    return list(
        Poll.objects.exclude(state=Poll.State.DRAFT)
        .filter(Q(state=Poll.State.CLOSED) | Q(closes_at__lte=timezone.now()))
        .exclude(pk__in=finals).order_by("id").values_list("id", flat=True)
    )


def refresh_stale_tallies():
    for poll_id, position in PollHead.objects.values_list("poll_id", "position"):
        cached = cache.get(tally_cache_key(poll_id))
        if cached is not None and cached["head"]["position"] != position:
            refresh_cached_tally(poll_id)


def refresh_cached_tally(poll_id):
    """Put the poll's sealed tally into the cache (a no-op while Redis is down)."""
    from .queries import received_cache_key, sealed_tally

    cache.set(tally_cache_key(poll_id), sealed_tally(poll_id), timeout=60)
    cache.delete(received_cache_key(poll_id))
    # The whole responses showing this poll are rebuilt at their next request.
    from regions.models import Region

    from .responses import forget, keys_of_publication

    forget(keys_of_publication(poll_id, Region.objects.values_list("slug", flat=True)))


class PublishRefused(Exception):
    def __init__(self, message):
        self.message = message
        super().__init__(str(message))


def publish_final(poll_id, actor):
    """Publish the final result once the poll has closed: the remainder of waiting ballots (of
    any size, the one exception to K; the hold-back pool included) enters the ledger and one last
    signed snapshot, marked final, covers everything. Nothing can follow it: the poll accepts no
    ballot and a second final snapshot is refused (also by a unique index). Refused while any
    waiting ballot is sealed to a key the key store lost (recover_ballots first): a final result
    never leaves an accepted ballot out. Afterwards every key of the poll is forgotten."""
    from django.utils.translation import gettext as _

    from ballots.models import AuditEntry

    with transaction.atomic(), connection.cursor() as cursor:
        # Lock order as in seal_poll (sealing lock, then rows), so the two never deadlock.
        _lock_poll_sealing(cursor, poll_id, wait=True)
        poll = Poll.objects.select_for_update().get(pk=poll_id)
        if poll.phase() != "closed":
            raise PublishRefused(_("The final result can be published only after the poll has closed."))
        if poll.state != Poll.State.CLOSED:
            poll.state = Poll.State.CLOSED  # its closing time has passed: record it
            poll.save(update_fields=["state"])
        if Snapshot.objects.filter(poll_id=poll_id, is_final=True).exists():
            raise PublishRefused(_("The final result of this poll is already published."))
        held = keys.held_private_keys(poll_id)
        taken = _take_waiting(cursor, poll_id, held, None)
        if InboxBallot.objects.filter(poll_id=poll_id).exists():
            raise PublishRefused(_(
                "Some ballots of this poll are sealed to a key the server no longer holds: recover them "
                "with the offline recovery key (manage.py recover_ballots) before the final result."
            ))
        opened = _open_ballots(poll_id, taken, held)
        snapshot = _publish(cursor, poll_id, opened, final=True)
        snapshot.waiting_published = len(opened)
        AuditEntry.objects.create(
            role=actor.role, organizer=actor.pseudonym, poll_id=poll_id, action=AuditEntry.Action.PUBLISH,
            detail={"position": snapshot.position, "total": snapshot.total},
        )
    keys.forget_all_keys(poll_id)
    clear_inbox()
    return snapshot


def _sealer_actor():
    from ballots.services import Actor

    return Actor(role="system", pseudonym="sealer")


SEALER = _sealer_actor()
