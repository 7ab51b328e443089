"""Read paths for the observer pages and the API: tallies (cached), snapshots."""

import contextvars
import json
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from ballots.models import Poll
from ballots.queries import poll_definition, public_polls, with_figures

from . import ledger
from .models import LedgerEntry, OptionCount, PollHead, Snapshot
from .services import tally_cache_key

# How long a poll's "received" figure may be reused: received ballots show within seconds.
# (The whole responses of tallying/responses.py add at most 1.5 s more: 2 s in all.)
RECEIVED_CACHE_SECONDS = 0.5


def received_cache_key(poll_id):
    return f"received:{poll_id}"


def received_count(poll_id):
    """Ballots of the poll accepted so far, counted or waiting (no answers). The head and the
    inbox are read in one statement, so the sum never mixes two moments; cached for a couple of
    seconds against floods (and dropped at each publication)."""
    received = cache.get(received_cache_key(poll_id))
    if received is None:
        received = with_figures(Poll.objects.filter(pk=poll_id)).values_list("received", flat=True).first() or 0
        cache.set(received_cache_key(poll_id), received, timeout=RECEIVED_CACHE_SECONDS)
    return received


def chain_start(poll):
    """(definition, genesis bytes) of a poll: the genesis its head records, or, before its first
    publication, the one it will begin from (the definition's hash)."""
    definition = poll_definition(poll)
    genesis = PollHead.objects.filter(poll_id=poll.id).values_list("genesis", flat=True).first()
    return definition, bytes(genesis) if genesis is not None else ledger.definition_hash(definition)


def sealed_tally(poll_id):
    """Counts and head of a poll's ledger, from the database (what the cache holds), with the
    latest signed statement. Once a final result exists, counts and head are the final's: nothing
    published after it (only possible by tampering with the database) is shown as final, and
    `after_final` says how many ledger entries lie beyond it."""
    head = PollHead.objects.filter(poll_id=poll_id).first()
    counts = {str(k): v for k, v in OptionCount.objects.filter(poll_id=poll_id).values_list("option_id", "count")}
    last_two = list(
        Snapshot.objects.filter(poll_id=poll_id, signature__isnull=False).exclude(statement="")
        .order_by("-id").values("id", "statement", "signature")[:2]
    )
    latest = last_two[0] if last_two else None
    tally = {
        "final": None,
        "after_final": 0,
        "counts": counts,
        "head": {
            "position": head.position if head else 0,
            "hash": bytes(head.head_hash).hex() if head else None,
        },
        "as_of": head.sealed_at.isoformat() if head and head.sealed_at else None,
        "statement": latest and {
            "id": latest["id"], "text": latest["statement"], "signature": bytes(latest["signature"]).hex(),
        },
        "integrity": statement_integrity(last_two, bytes(head.genesis) if head else None),
    }
    final = Snapshot.objects.filter(poll_id=poll_id, is_final=True).first()
    if final is not None:
        tally["final"] = final.taken_at.isoformat()
        if final.position != tally["head"]["position"]:
            tally["after_final"] = tally["head"]["position"] - final.position
            tally["counts"] = {str(k): v for k, v in final.counts.items()}
            tally["head"] = {"position": final.position, "hash": bytes(final.head_hash).hex()}
            tally["as_of"] = final.taken_at.isoformat()
    return tally


def statement_integrity(last_two, genesis):
    """What every reader of a tally must be told about its latest signed statement, as a verifier
    would find it (docs/verification.md): `ballots_beyond_codes`, the ballots its total counts
    beyond the codes used to vote (checks 35 and 36: ballots put in without a code, i.e. stuffing),
    and `problem`, the first check the statement fails on its own or against the one before it
    (signature by the key in force, content, positions, counts and time never going back). No SQL:
    it reads the two latest statements the tally already loads; `ok` is false on either."""
    from . import signing, verify

    integrity = {"ok": True, "ballots_beyond_codes": 0, "problem": None}
    if not last_two:
        return integrity
    rows = [(verify.Record(f"statement #{row['id']}"), row) for row in reversed(last_two)]
    try:
        keys = signing.key_schedule()
        previous = None
        for where, row in rows:
            statement, version = verify.read_statement(row["statement"], bytes(row["signature"]).hex(), keys, where)
            # The definition each statement must sign is the one the statement before it signed.
            definition = (previous or (statement, where))[0].get("definition") or statement.get("definition")
            if version == 2:
                verify.check_statement_content(statement, version, definition, genesis or verify.GENESIS_V1, where)
            if previous is not None:
                verify.check_growth(*previous, statement, where)
                verify.check_time_order(*previous, statement, where)
            previous = (statement, where)
    except verify.Failure as problem:
        integrity["problem"] = str(problem)
    except (ValueError, TypeError, KeyError) as problem:  # a statement no verifier could even read
        integrity["problem"] = f"unreadable statement ({type(problem).__name__})"
    try:
        integrity["ballots_beyond_codes"] = verify.codes_exceeded(json.loads(last_two[0]["statement"]))
    except (ValueError, TypeError, AttributeError):
        pass
    integrity["ok"] = not integrity["problem"] and not integrity["ballots_beyond_codes"]
    return integrity


def integrity_by_poll(poll_ids):
    """{poll id: statement_integrity} for several polls in one query (each poll's two latest
    statements, by the primary key's index, and its genesis)."""
    poll_ids = [int(i) for i in poll_ids]
    rows = {i: [] for i in poll_ids}
    genesis = {}
    if poll_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p.id, h.genesis, s.id, s.statement, s.signature FROM unnest(%s::bigint[]) AS p(id)"
                " LEFT JOIN tallying_pollhead h ON h.poll_id = p.id"
                " LEFT JOIN LATERAL (SELECT id, statement, signature FROM tallying_snapshot"
                "   WHERE poll_id = p.id AND signature IS NOT NULL AND statement <> '' ORDER BY id DESC LIMIT 2) s"
                " ON true ORDER BY p.id, s.id DESC",
                [poll_ids],
            )
            for poll_id, poll_genesis, snapshot_id, statement, signature in cursor.fetchall():
                genesis[poll_id] = bytes(poll_genesis) if poll_genesis is not None else None
                if snapshot_id is not None:
                    rows[poll_id].append({"id": snapshot_id, "statement": statement, "signature": signature})
    return {i: statement_integrity(rows[i], genesis.get(i)) for i in poll_ids}


def poll_integrity(poll_id):
    """The integrity of a poll's published figures (statement_integrity): the cached tally's, or one
    query."""
    sealed = cache.get(tally_cache_key(poll_id))
    if sealed is not None and "integrity" in sealed:
        return sealed["integrity"]
    return integrity_by_poll([poll_id])[poll_id]


_one_per_poll = contextvars.ContextVar("tally_for_poll memo", default=None)


@contextmanager
def one_tally_per_poll():
    """Within it, tally_for_poll reads each poll once (a results page shows a poll's tally in its
    card, its preview text and its preview image's version: three reads, one moment)."""
    token = _one_per_poll.set({})
    try:
        yield
    finally:
        _one_per_poll.reset(token)


def tally_for_poll(poll):
    """The public tally of a poll: cached counts and head (database when the cache is down or
    empty), merged with the poll's current state and answers."""
    memo = _one_per_poll.get()
    if memo is not None:
        if poll.id not in memo:
            memo[poll.id] = _tally_for_poll(poll)
        return memo[poll.id]
    return _tally_for_poll(poll)


def _tally_for_poll(poll):
    sealed = cache.get(tally_cache_key(poll.id))
    if sealed is None:
        sealed = sealed_tally(poll.id)
        cache.set(tally_cache_key(poll.id), sealed, timeout=60)
    if sealed["head"]["hash"] is None:  # nothing published yet: the head is the chain's genesis
        sealed["head"]["hash"] = chain_start(poll)[1].hex()
    counts = [
        {"option": o.id, "label_en": o.label_en, "label_ru": o.label_ru, "count": sealed["counts"].get(str(o.id), 0)}
        for o in poll.options.all()
    ]
    counted = sum(c["count"] for c in counts)
    # The cached counts and the received figure are read at slightly different moments.
    received = max(received_count(poll.id), counted)
    return {
        "poll": poll.id,
        "region": poll.region.slug,
        "state": poll.phase(),
        "closes_at": poll.closes_at.isoformat(),
        "total": counted,
        "counted": counted,
        "received": received,
        "waiting": received - counted,
        "publish_min_ballots": settings.PUBLISH_MIN_BALLOTS,
        "counts": counts,
        "head": sealed["head"],
        "as_of": sealed["as_of"],
        "final": sealed.get("final"),
        "after_final": sealed.get("after_final", 0),
        "statement": sealed.get("statement"),
        "integrity": sealed.get("integrity") or poll_integrity(poll.id),
    }


def all_tallies():
    return [tally_for_poll(poll) for poll in public_polls()]


def _snapshot_json(snapshot):
    return {
        "taken_at": snapshot.taken_at.isoformat(),
        "total": snapshot.total,
        "counts": snapshot.counts,
        "position": snapshot.position,
        "head_hash": bytes(snapshot.head_hash).hex(),
    }


SNAPSHOT_PAGE = 1000
STATEMENT_PAGE = 100


def snapshot_series(poll, since=None, limit=SNAPSHOT_PAGE):
    """Snapshots in time order (after `since`, exclusive), at most `limit` of them."""
    snapshots = Snapshot.objects.filter(poll=poll)
    if since is not None:
        snapshots = snapshots.filter(taken_at__gt=since)
    return [_snapshot_json(s) for s in snapshots.order_by("taken_at", "id")[:limit]]


def snapshot_page(poll, after=0, since=None, limit=STATEMENT_PAGE):
    """Snapshots with their signed statements, in publication order (by id, which sealing assigns
    under the poll's lock), with id > after (and taken after `since`), at most `limit` (capped)."""
    limit = max(1, min(int(limit), SNAPSHOT_PAGE))
    snapshots = Snapshot.objects.filter(poll=poll, id__gt=after)
    if since is not None:
        snapshots = snapshots.filter(taken_at__gt=since)
    return [
        {
            "id": s.id, **_snapshot_json(s), "final": s.is_final,
            "statement": s.statement or None, "signature": bytes(s.signature).hex() if s.signature else None,
        }
        for s in snapshots.order_by("id")[:limit]
    ]


def turnout_series(poll, points=120):
    """At most `points` snapshots spread evenly over the poll's history, for charts.

    Picks by row number in SQL, so a poll with a million snapshots costs one indexed scan.
    """
    count = Snapshot.objects.filter(poll=poll).count()
    if count <= points:
        return snapshot_series(poll, limit=points)
    step = count / points
    wanted = sorted({int(i * step) for i in range(points)} | {count - 1})
    rows = Snapshot.objects.raw(
        "SELECT * FROM (SELECT s.*, row_number() OVER (ORDER BY taken_at, id) - 1 AS n"
        " FROM tallying_snapshot s WHERE poll_id = %s) numbered WHERE n = ANY(%s) ORDER BY n",
        [poll.id, wanted],
    )
    return [_snapshot_json(s) for s in rows]


EXPORT_CHUNK = 5000


EXPORT_FORMAT = 2


def signed_snapshots(poll):
    """The poll's signed snapshots (snapshots from before signing existed have no statement and
    are not published as statements)."""
    return Snapshot.objects.filter(poll=poll, signature__isnull=False).exclude(statement="")


def export_lines(poll, public_key, encode, rotations=None):
    """Yield the export of a poll, record by record (format 2, docs/verification.md)."""
    from . import signing

    definition, genesis = chain_start(poll)
    rotations = signing.rotations() if rotations is None else rotations
    yield encode({
        "type": "poll", "format": EXPORT_FORMAT, "public_key": public_key, "definition": definition,
        "genesis": genesis.hex(), "state": poll.phase(), "opens_at": poll.opens_at.isoformat(),
        "closes_at": poll.closes_at.isoformat(),
    })
    for rotation in rotations:
        yield encode({"type": "key-rotation", **rotation})
    snapshots = (
        signed_snapshots(poll).order_by("position", "taken_at", "id")
        .values_list("statement", "signature").iterator(chunk_size=EXPORT_CHUNK)
    )
    count = 0
    for statement, signature in snapshots:
        count += 1
        yield encode({"type": "snapshot", "statement": statement, "signature": bytes(signature).hex()})
    entries = (
        LedgerEntry.objects.filter(poll=poll).order_by("position")
        .values_list("position", "option_id", "tracker_hash", "prev_hash", "entry_hash")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    total = 0
    for position, option, tracker_hash, prev_hash, entry_hash in entries:
        total += 1
        yield encode({
            "type": "entry", "position": position, "poll": poll.id, "option": option,
            "tracker_hash": bytes(tracker_hash).hex(), "prev_hash": bytes(prev_hash).hex(),
            "entry_hash": bytes(entry_hash).hex(),
        })
    yield encode({"type": "end", "snapshots": count, "entries": total})


LEDGER_PAGE_MAX = 1000


def ledger_page(poll, after=0, limit=100):
    """Published entries with position > after, in order, at most `limit` (capped)."""
    limit = max(1, min(int(limit), LEDGER_PAGE_MAX))
    rows = (
        LedgerEntry.objects.filter(poll=poll, position__gt=after).order_by("position")
        .values_list("position", "option_id", "tracker_hash", "prev_hash", "entry_hash")[:limit]
    )
    return [
        {"position": p, "poll": poll.id, "option": o, "tracker_hash": bytes(t).hex(), "prev_hash": bytes(pr).hex(),
         "entry_hash": bytes(e).hex()}
        for p, o, t, pr, e in rows
    ]


def receipt_status(tracker_hash):
    """Where a ballot stands, by its tracker's hash: None if the public ledger does not hold it
    (yet), else a dict with the poll and its ledger position. Waiting ballots are sealed: nobody,
    the server included, can tell a waiting tracker from one that never existed."""
    entry = LedgerEntry.objects.select_related("poll__region").filter(tracker_hash=tracker_hash).first()
    if entry is None:
        return None
    return {
        "poll": entry.poll,
        "position": entry.position,
        "entry": ledger_page(entry.poll, after=entry.position - 1, limit=1)[0],
        "snapshot": (
            Snapshot.objects.filter(poll=entry.poll, position__gte=entry.position).order_by("position", "taken_at").first()
        ),
    }
