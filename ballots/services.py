"""State changes of polls, codes and ballots. Each function is one transaction."""

import csv
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest, Least, Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import codes, encryption, keys, sealed
from .errors import (
    BadOption,
    CodeAlreadyUsed,
    CodeForOtherPoll,
    CodeRevoked,
    CodesGone,
    CodeUnknown,
    LifecycleError,
    MalformedCode,
    PollClosed,
    PollNotFound,
    PollNotOpen,
    PollPaused,
)
from .models import AuditEntry, CodeBatch, Credential, InboxBallot, Option, Poll, StoredCodes


@dataclass(frozen=True)
class CheckedBallot:
    poll: Poll
    option: Option


@dataclass(frozen=True)
class Actor:
    """Who performs an organizer action, as the public audit log names them."""

    role: str
    pseudonym: str


OPERATOR = Actor(role="operator", pseudonym="command-line")


def actor_for(organizer):
    return Actor(role=organizer.role, pseudonym=organizer.pseudonym)


def _audit(actor, poll, action, reason="", **detail):
    AuditEntry.objects.create(
        role=actor.role, organizer=actor.pseudonym, poll=poll, action=action, reason=reason, detail=detail
    )


def record_organizer_action(sender, role, pseudonym, action, detail, **kwargs):
    """Region and account changes (regions/signals.py) enter the public audit log, in the
    transaction of the change."""
    AuditEntry.objects.create(role=role, organizer=pseudonym, poll=None, action=action, detail=detail)


def _normalized_code(code):
    try:
        return codes.normalize_code(code)
    except codes.MalformedValue:
        raise MalformedCode() from None


# Ids are PostgreSQL bigints: a larger number names nothing (and would not fit in the statement).
MAX_ID = 2**63 - 1


def _option_id(option_id):
    try:
        option_id = int(option_id)
    except (TypeError, ValueError):
        raise BadOption() from None
    if not 0 < option_id <= MAX_ID:
        raise BadOption()
    return option_id


def _poll_window(poll_id):
    """(state, started, not_ended) of a poll by the application clock, in embedded mode (SQLite:
    one writer at a time, so no lock). On PostgreSQL the cast and the check read the window in
    their own statement (_CAST, check_ballot), by the database clock."""
    poll = Poll.objects.filter(pk=poll_id).values("state", "opens_at", "closes_at").first()
    if poll is None:
        return None
    now = timezone.now()
    return poll["state"], poll["opens_at"] <= now, now < poll["closes_at"]


def _check_poll_accepts(poll_id):
    _check_accepting(_poll_window(poll_id))


def _check_accepting(row):
    if row is None or row[0] == Poll.State.DRAFT:
        raise PollNotFound()
    state, started, not_ended = row
    if state == Poll.State.CLOSED or not not_ended:
        raise PollClosed()
    if state == Poll.State.PAUSED:
        raise PollPaused()
    if not started:
        raise PollNotOpen()


def _check_option(poll_id, option_id):
    option = Option.objects.filter(pk=_option_id(option_id), poll_id=poll_id).first()
    if option is None:
        raise BadOption()
    return option


def _check_credential(credential, poll_id):
    if credential is None:
        raise CodeUnknown()
    if credential.poll_id != poll_id:
        raise CodeForOtherPoll()
    if credential.batch.revoked_at is not None:
        raise CodeRevoked()
    if credential.used:
        raise CodeAlreadyUsed()


def _poll_id(poll_id):
    try:
        poll_id = int(poll_id)
    except (TypeError, ValueError):
        raise PollNotFound() from None
    if not 0 < poll_id <= MAX_ID:
        raise PollNotFound()
    return poll_id


def check_ballot(poll_id, code, option_id, poll=None):
    """Check what cast_ballot would check, without consuming the code or locking anything.

    `poll`, when the caller has it (with its options prefetched), saves reading it again. On
    PostgreSQL the poll's window and the credential are read in one statement, bound on the server
    as the cast is (no value in its text); the answer is checked in this process."""
    poll_id = _poll_id(poll_id)
    code_hash = codes.hash_code(_normalized_code(code))
    option_id = _option_id(option_id)
    if connection.vendor != "postgresql":
        _check_poll_accepts(poll_id)
        option = _check_option(poll_id, option_id)
        _check_credential(Credential.objects.select_related("batch").filter(code_hash=code_hash).first(), poll_id)
        return CheckedBallot(poll=poll or Poll.objects.select_related("region").get(pk=poll_id), option=option)
    # The answer is checked here, as the cast checks it: it never reaches the database.
    option_ids = (_poll_sealing.get(poll_id) or _read_poll_sealing(poll_id))[3]
    row = _execute_bound(_CHECK, {"poll": poll_id, "code_hash": code_hash}, repeatable=True)
    _check_accepting(row[:3] if row else None)
    if option_id not in option_ids:
        raise BadOption()
    credential_poll, used, revoked = row[3:]
    if credential_poll is None:
        raise CodeUnknown()
    if credential_poll != poll_id:
        raise CodeForOtherPoll()
    if revoked:
        raise CodeRevoked()
    if used:
        raise CodeAlreadyUsed()
    if poll is None or poll.id != poll_id:
        poll = Poll.objects.select_related("region").get(pk=poll_id)
    option = next((o for o in poll.options.all() if o.id == option_id), None) or Option.objects.get(pk=option_id)
    return CheckedBallot(poll=poll, option=option)


def cast_ballot(poll_id, code, option_id, tracker=None):
    """Record one ballot for the code and return the voter's receipt tracker (in clear, once).

    At most one ballot per code, even under concurrent calls: the credential is checked unused and
    marked used in the same statement that inserts the ballot. The poll must accept ballots by the
    database clock at that moment. The ballot is sealed to the poll's current publication key
    before any SQL (ballots/sealed.py): what the cast writes holds no answer and no tracker hash
    the server can read once that key is forgotten. It keeps no reference to the credential and no
    time. `tracker`, when the voter was shown one before confirming, is the receipt's tracker.
    """
    poll_id = _poll_id(poll_id)
    code_hash = codes.hash_code(_normalized_code(code))
    option_id = _option_id(option_id)
    given_tracker = tracker is not None
    tracker = tracker or codes.new_tracker()
    tracker_hash = codes.hash_tracker(codes.normalize_tracker(tracker))
    if connection.vendor == "postgresql":
        # With the tracker the voter was shown, a cast may be sent again: if the first one was
        # committed, the second finds the code used and the caller shows that tracker as the receipt.
        _cast_in_one_statement(poll_id, code_hash, option_id, tracker_hash, repeatable=given_tracker)
        return tracker
    with transaction.atomic():
        # Embedded mode (SQLite): one writer at a time, so no close can interleave.
        _check_poll_accepts(poll_id)
        option = _check_option(poll_id, option_id)
        credential = (
            Credential.objects.select_for_update(of=("self",))
            .select_related("batch")
            .filter(code_hash=code_hash)
            .first()
        )
        _check_credential(credential, poll_id)
        key_id, public_key = keys.ensure_current_key(poll_id)
        # Into the inbox only, sealed: sealing moves it to the ledger, shuffled among at least K others.
        InboxBallot.objects.create(
            poll_id=poll_id, key_id=key_id, sealed=sealed.seal(public_key, poll_id, option.id, tracker_hash),
        )
        Credential.objects.filter(pk=credential.pk).update(used=True)
    return tracker


# poll id → (state, current key id, its public key, the poll's answer ids), per process. A poll's
# answers are frozen once it leaves draft; its key changes at each publication, which the cast
# statement notices (key_ok false): the entry is then read again.
_poll_sealing = {}


def _read_poll_sealing(poll_id):
    answers = (
        "ARRAY(SELECT o.id FROM ballots_option o WHERE o.poll_id = p.id)" if connection.vendor == "postgresql"
        else "NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.state, p.publication_key_id, k.public_key, {answers}"
            " FROM ballots_poll p LEFT JOIN ballots_publicationkey k ON k.id = p.publication_key_id"
            " WHERE p.id = %s",
            [poll_id],
        )
        row = cursor.fetchone()
    if row is not None and row[3] is None:
        row = (*row[:3], Option.objects.filter(poll_id=poll_id).values_list("id", flat=True))
    if row is None or row[0] == Poll.State.DRAFT:
        raise PollNotFound()
    state, key_id, public_key, option_ids = row
    entry = (state, key_id, bytes(public_key) if public_key is not None else None, frozenset(option_ids))
    _poll_sealing[poll_id] = entry
    return entry


_CAST = """
WITH p AS (
    SELECT p.state = ANY(%(accepting)s::text[]) AND p.opens_at <= statement_timestamp()
               AND statement_timestamp() < p.closes_at AS accepts,
           p.state, p.opens_at <= statement_timestamp() AS started, statement_timestamp() < p.closes_at AS not_ended,
           p.publication_key_id = %(key)s AS key_ok
    FROM ballots_poll p WHERE p.id = %(poll)s FOR SHARE OF p
), c AS (
    UPDATE ballots_credential c SET used = true FROM ballots_codebatch b, p
    WHERE c.code_hash = %(code_hash)s AND c.poll_id = %(poll)s AND NOT c.used
      AND b.id = c.batch_id AND b.revoked_at IS NULL AND p.accepts AND %(option_ok)s AND p.key_ok
    RETURNING c.id
), i AS (
    INSERT INTO ballots_inboxballot (id, poll_id, key_id, sealed)
    SELECT %(id)s, %(poll)s, %(key)s, %(sealed)s FROM c
    RETURNING 1
)
SELECT p.state, p.started, p.not_ended, coalesce(p.key_ok, false), (SELECT count(*) FROM i) FROM p
"""

# A rotation that commits between reading the key and the statement sends the cast round again.
CAST_KEY_ATTEMPTS = 4


def _cast_in_one_statement(poll_id, code_hash, option_id, tracker_hash, repeatable=False):
    """cast_ballot on PostgreSQL: one statement, so one round trip and its own transaction (the
    bare transaction takes five: BEGIN, lock, insert, mark used, COMMIT), with every check kept.

    The ballot is sealed in this process first; the statement carries the sealed ballot, the code's
    hash and ids, with server-side parameter binding, so its text (in pg_stat_activity and in the
    server's log on an error) holds no value at all. The answer never reaches the database: it is
    checked against the poll's answers here and only a flag goes with the statement.

    The poll's row is read FOR SHARE (a close or a key rotation waits for the casts in flight; a cast
    that waited reads the row as they left it). The credential is marked used only if it is this
    poll's, unused and not revoked, the answer is the poll's, the poll accepts ballots and the
    ballot is sealed to the poll's current key (a concurrent cast of the same code waits for the
    row, then finds it used); the ballot goes into the inbox only with a credential marked. The
    statement's result says which check failed; only a refusal of the code reads the credential
    again, to say why."""
    refresh = False
    for _attempt in range(CAST_KEY_ATTEMPTS):
        entry = _poll_sealing.get(poll_id) if not refresh else None
        _state, key_id, public_key, option_ids = entry or _read_poll_sealing(poll_id)
        option_ok = option_id in option_ids
        if key_id is None:
            sealed_ballot, key_id = bytes(sealed.SEALED_LENGTH), -1  # refused below, or a key is made
        else:
            sealed_ballot = sealed.seal(public_key, poll_id, option_id if option_ok else 0, tracker_hash)
        row = _execute_cast(poll_id, code_hash, key_id, sealed_ballot, option_ok, repeatable)
        _check_accepting(row[:3] if row else None)
        if not option_ok:
            raise BadOption()
        if row[3]:
            break
        if key_id == -1 and keys.current_key_id(poll_id) is None:
            keys.rotate_key(poll_id, None, allow_unstored=True)  # its first key (the sealer makes later ones)
        refresh = True
    else:
        raise keys.KeyStoreUnavailable("the poll's publication key kept changing")
    if row[4] != 1:
        _check_credential(Credential.objects.select_related("batch").filter(code_hash=code_hash).first(), poll_id)
        raise CodeAlreadyUsed()  # not reached unless the row changed in between: it is used now


def _execute_cast(poll_id, code_hash, key_id, sealed_ballot, option_ok, repeatable=False):
    return _execute_bound(_CAST, {
        "accepting": [str(state) for state in Poll.ACCEPTING], "poll": poll_id, "code_hash": code_hash,
        "id": uuid.uuid4(), "key": key_id, "sealed": sealed_ballot, "option_ok": option_ok,
    }, repeatable)


# What check_ballot reads: the poll's window and the credential, in one statement.
_CHECK = """
SELECT p.state, p.opens_at <= statement_timestamp(), statement_timestamp() < p.closes_at,
       c.poll_id, c.used, b.revoked_at IS NOT NULL
FROM ballots_poll p LEFT JOIN ballots_credential c ON c.code_hash = %(code_hash)s
LEFT JOIN ballots_codebatch b ON b.id = c.batch_id WHERE p.id = %(poll)s
"""


def _execute_bound(sql, params, repeatable=False):
    """Run a statement of a ballot's (_CAST, _CHECK) with server-side parameter binding: the values
    travel apart from the statement's text, which is all pg_stat_activity and the server's error
    log show. (Django's own cursors bind on the client, writing the values into the text.)
    Prepared once per connection: each call then sends only Bind and Execute. Errors are Django's,
    and the statement is in Django's query log when it keeps one (tests count queries).

    A `repeatable` statement is its own health check: instead of Django's SELECT 1 before a
    request's first statement (a round trip), it runs at once, and if the connection turns out
    broken (the server restarted, or failed over) it is sent again on a new one. Repeatable: the
    check (a read), and a cast with the tracker the voter was shown (sent twice, it is recorded
    once and answered with that tracker). Any other statement is never sent twice."""
    from django.db import InterfaceError, OperationalError

    if (repeatable and connection.connection is not None and not connection.health_check_done
            and not connection.in_atomic_block):
        try:
            row = _run_bound(sql, params)
        except (OperationalError, InterfaceError):
            if connection.is_usable():
                raise  # the statement failed, not the connection (a statement timeout)
            connection.close()
        else:
            connection.health_check_done = True
            return row
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    return _run_bound(sql, params)


def _run_bound(sql, params):
    from django.db.backends.postgresql.base import ServerBindingCursor

    started = time.monotonic()
    with connection.wrap_database_errors, ServerBindingCursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        row = cursor.fetchone()
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return row


CODE_INSERT_CHUNK = 5000


def _insert_codes(batch, count):
    """Insert `count` fresh credentials into the batch; return the codes in clear."""
    chunk = [codes.new_code() for _i in range(count)]
    Credential.objects.bulk_create(
        Credential(poll_id=batch.poll_id, batch=batch, code_hash=codes.hash_code(codes.normalize_code(c)))
        for c in chunk
    )
    return chunk


def issue_codes(poll, count, actor=OPERATOR):
    """Create a batch of `count` fresh codes for the poll; return (batch, codes in clear).

    One transaction. The codes in clear exist only in the returned list: the database keeps their
    HMAC, and the batch counts as delivered. (The console uses start_batch, which keeps an
    encrypted copy until the one download.)
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    issued = []
    with transaction.atomic():
        batch = CodeBatch.objects.create(poll=poll, size=count, issued=count, delivered_at=timezone.now())
        _audit(actor, poll, AuditEntry.Action.ISSUE_BATCH, batch=batch.id, size=count)
        while len(issued) < count:
            issued.extend(_insert_codes(batch, min(CODE_INSERT_CHUNK, count - len(issued))))
    return batch, issued


def revoke_batch(batch_id, reason, actor=OPERATOR):
    """Stop a batch's unused codes from working; ballots already cast with it stay counted."""
    if not (reason or "").strip():
        raise LifecycleError(_("Please write the reason for revoking; it is published in the audit log."))
    with transaction.atomic():
        batch = CodeBatch.objects.select_for_update().select_related("poll").filter(pk=batch_id).first()
        if batch is None:
            raise LifecycleError(_("There is no such batch."))
        if batch.revoked_at is not None:
            raise LifecycleError(_("This batch is already revoked."))
        batch.revoked_at = timezone.now()
        batch.revoke_reason = reason.strip()
        batch.save(update_fields=["revoked_at", "revoke_reason"])
        # Codes that no longer work need no copy: destroy one not yet downloaded.
        StoredCodes.objects.filter(batch=batch).delete()
        _audit(actor, batch.poll, AuditEntry.Action.REVOKE_BATCH, reason=batch.revoke_reason, batch=batch.id)
        return batch


def write_codes_csv(issued, path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code"])
        writer.writerows([c] for c in issued)


def _locked_poll(poll_id):
    # FOR UPDATE waits for casts in flight (they hold FOR SHARE on the poll row).
    poll = Poll.objects.select_for_update().filter(pk=poll_id).first()
    if poll is None:
        raise PollNotFound()
    return poll


def _transition(poll_id, actor, allowed_from, new_state, action, refusal, reason="", **changes):
    with transaction.atomic():
        poll = _locked_poll(poll_id)
        if poll.state not in allowed_from:
            raise LifecycleError(refusal % {"state": poll.get_state_display()})
        poll.state = new_state
        for field, value in changes.items():
            setattr(poll, field, value)
        poll.save(update_fields=["state", *changes])
        if changes:
            poll.refresh_from_db(fields=list(changes))
        _audit(actor, poll, action, reason=reason)
        return poll


def _check_window(opens_at, closes_at):
    if closes_at <= opens_at:
        raise LifecycleError(_("The closing time must be after the opening time."))


def _check_answers(answers):
    answers = [(en.strip(), ru.strip()) for en, ru in answers if en.strip() or ru.strip()]
    if len(answers) < 2 or any(not en or not ru for en, ru in answers):
        raise LifecycleError(_("A poll needs at least two answers, each in English and in Russian."))
    return answers


def create_poll(actor, region, question_en, question_ru, answers, opens_at, closes_at):
    """Create a draft poll with its answers (pairs of English and Russian labels)."""
    _check_window(opens_at, closes_at)
    answers = _check_answers(answers)
    with transaction.atomic():
        poll = Poll.objects.create(
            region=region, question_en=question_en, question_ru=question_ru,
            opens_at=opens_at, closes_at=closes_at, state=Poll.State.DRAFT,
        )
        Option.objects.bulk_create(
            Option(poll=poll, label_en=en, label_ru=ru, ordering=i) for i, (en, ru) in enumerate(answers)
        )
        _audit(actor, poll, AuditEntry.Action.CREATE)
        return poll


def edit_poll(actor, poll_id, question_en, question_ru, answers, opens_at, closes_at):
    """Change a poll's question, answers and window: only while it is a draft."""
    _check_window(opens_at, closes_at)
    answers = _check_answers(answers)
    with transaction.atomic():
        poll = _locked_poll(poll_id)
        if poll.state != Poll.State.DRAFT:
            raise LifecycleError(
                _("This poll is no longer a draft: its question and answers can no longer change.")
            )
        poll.question_en, poll.question_ru = question_en, question_ru
        poll.opens_at, poll.closes_at = opens_at, closes_at
        poll.save(update_fields=["question_en", "question_ru", "opens_at", "closes_at"])
        poll.options.all().delete()
        Option.objects.bulk_create(
            Option(poll=poll, label_en=en, label_ru=ru, ordering=i) for i, (en, ru) in enumerate(answers)
        )
        _audit(actor, poll, AuditEntry.Action.EDIT)
        return poll


def schedule_poll(poll_id, actor=OPERATOR):
    """A draft becomes scheduled: it accepts ballots by itself from opens_at (database clock)."""
    return _transition(
        poll_id, actor, {Poll.State.DRAFT}, Poll.State.SCHEDULED, AuditEntry.Action.SCHEDULE,
        _("Only a draft can be scheduled; this poll is %(state)s."),
    )


def open_poll(poll_id, actor=OPERATOR):
    """Open a draft or scheduled poll now (its opening time moves to now if it was later)."""
    with transaction.atomic():
        poll = _locked_poll(poll_id)
        now = timezone.now()
        # The database clock decides at cast time, so the new opening time is the database's now.
        changes = {"opens_at": Now()} if poll.opens_at > now else {}
        if poll.closes_at <= now:
            raise LifecycleError(_("The closing time has passed; extend it before opening."))
        return _transition(
            poll_id, actor, {Poll.State.DRAFT, Poll.State.SCHEDULED}, Poll.State.OPEN,
            AuditEntry.Action.OPEN, _("Only a draft or scheduled poll can be opened; this poll is %(state)s."),
            **changes,
        )


def pause_poll(poll_id, reason, actor=OPERATOR):
    """Emergency stop: no ballot is accepted until resumed. A written reason is required."""
    if not (reason or "").strip():
        raise LifecycleError(_("Please write the reason for the pause; it is published in the audit log."))
    return _transition(
        poll_id, actor, {Poll.State.SCHEDULED, Poll.State.OPEN}, Poll.State.PAUSED,
        AuditEntry.Action.PAUSE, _("Only a scheduled or open poll can be paused; this poll is %(state)s."),
        reason=reason.strip(),
    )


def resume_poll(poll_id, actor=OPERATOR):
    return _transition(
        poll_id, actor, {Poll.State.PAUSED}, Poll.State.OPEN, AuditEntry.Action.RESUME,
        _("Only a paused poll can be resumed; this poll is %(state)s."),
    )


def close_poll(poll_id, actor=OPERATOR):
    """Close a poll now. Casts that committed before stay; none is accepted after this commits.

    Its closing time moves to the database's now when that is earlier, so that every page says
    when it actually closed (closes_at is not part of the signed definition)."""
    poll = Poll.objects.only("opens_at", "closes_at").filter(pk=_poll_id(poll_id)).first()
    changes = {}
    if poll is not None and poll.opens_at <= timezone.now() < poll.closes_at:
        # Never at or before the opening (the window stays positive, a check constraint).
        changes["closes_at"] = Least(F("closes_at"), Greatest(Now(), F("opens_at") + timedelta(microseconds=1)))
    return _transition(
        poll_id, actor, {Poll.State.DRAFT, Poll.State.SCHEDULED, Poll.State.OPEN, Poll.State.PAUSED},
        Poll.State.CLOSED, AuditEntry.Action.CLOSE, _("This poll is already %(state)s."), **changes,
    )


def extend_poll(poll_id, closes_at, actor=OPERATOR):
    """Move the closing time later: only forward, only while the poll is open or paused."""
    with transaction.atomic():
        poll = _locked_poll(poll_id)
        if poll.state not in (Poll.State.OPEN, Poll.State.PAUSED) or poll.phase() == "closed":
            raise LifecycleError(_("Only an open or paused poll can be extended."))
        if closes_at <= poll.closes_at:
            raise LifecycleError(_("The new closing time must be later than the current one."))
        previous = poll.closes_at
        poll.closes_at = closes_at
        poll.save(update_fields=["closes_at"])
        _audit(actor, poll, AuditEntry.Action.EXTEND, previous=previous.isoformat(), closes_at=closes_at.isoformat())
        return poll


# --- Code batches issued from the console: kept encrypted until their one download ---

MAX_BATCH_SIZE = 1_000_000
# Up to this many codes are issued within the request; larger batches by a Celery task.
INLINE_BATCH_LIMIT = 5000


def start_batch(poll, count, actor=OPERATOR):
    """Create a batch of `count` codes whose codes in clear are kept, encrypted, until one download.

    Up to INLINE_BATCH_LIMIT codes are all issued before this returns, in the same transaction as
    the batch. A larger batch is created pending and filled by a Celery task enqueued after commit
    (fill_batch); its page shows the progress.
    """
    if not 1 <= count <= MAX_BATCH_SIZE:
        raise LifecycleError(_("A batch holds from 1 to 1,000,000 codes."))
    with transaction.atomic():
        # Not locked: a FOR UPDATE on the poll would make casts wait while the codes are made.
        poll = Poll.objects.get(pk=poll.pk)
        if poll.phase() == "closed":
            raise LifecycleError(_("This poll is closed: it needs no more codes."))
        batch = CodeBatch.objects.create(poll=poll, size=count, status=CodeBatch.Status.PENDING)
        _audit(actor, poll, AuditEntry.Action.ISSUE_BATCH, batch=batch.id, size=count)
        if count <= INLINE_BATCH_LIMIT:
            while _fill_chunk(batch.pk):
                pass
            CodeBatch.objects.filter(pk=batch.pk).update(status=CodeBatch.Status.READY)
        else:
            transaction.on_commit(lambda: _enqueue_fill(batch.pk))
    batch.refresh_from_db()
    return batch


def _enqueue_fill(batch_id):
    from . import tasks

    try:
        tasks.fill_batch.delay(batch_id)
    except Exception as error:  # the broker is down: say so on the batch page rather than wait forever
        logging.getLogger(__name__).warning("Could not queue batch %s (%s).", batch_id, type(error).__name__)
        CodeBatch.objects.filter(pk=batch_id, status=CodeBatch.Status.PENDING).update(status=CodeBatch.Status.FAILED)


def _fill_chunk(batch_id):
    """Issue the batch's next chunk of codes under its row lock; return how many (0 when done).

    The chunk's credentials, its encrypted copy and the new `issued` count commit together, so a
    crash loses nothing half-written, and two runs at once never issue more than `size`.
    """
    with transaction.atomic():
        batch = CodeBatch.objects.select_for_update().get(pk=batch_id)
        if batch.revoked_at is not None or batch.issued >= batch.size:
            return 0
        count = min(CODE_INSERT_CHUNK, batch.size - batch.issued)
        chunk = _insert_codes(batch, count)
        StoredCodes.objects.create(
            batch=batch,
            index=batch.issued // CODE_INSERT_CHUNK,
            token=encryption.encrypt(encryption.BATCH_CODES, "\n".join(chunk).encode("ascii")),
        )
        batch.issued += count
        batch.save(update_fields=["issued"])
        return count


def fill_batch(batch_id):
    """Issue the rest of a pending batch, one chunk (CODE_INSERT_CHUNK codes) per transaction.

    Safe to run twice, or twice at once: each chunk is issued under the batch's row lock and
    counted in the same transaction, so the batch never holds more than its size. Progress is
    visible (`issued`) after every chunk. A batch revoked meanwhile stops where it is.
    """
    started = CodeBatch.objects.filter(
        pk=batch_id, status__in=[CodeBatch.Status.PENDING, CodeBatch.Status.RUNNING, CodeBatch.Status.FAILED]
    ).update(status=CodeBatch.Status.RUNNING)
    if not started:
        return
    try:
        while _fill_chunk(batch_id):
            pass
    except Exception:
        CodeBatch.objects.filter(pk=batch_id).update(status=CodeBatch.Status.FAILED)
        raise
    with transaction.atomic():
        batch = CodeBatch.objects.select_for_update().get(pk=batch_id)
        batch.status = CodeBatch.Status.READY if batch.issued == batch.size else CodeBatch.Status.FAILED
        batch.save(update_fields=["status"])


@dataclass(frozen=True)
class DeliveredCodes:
    """A batch's codes in clear, handed out once: plaintext chunks of codes separated by newlines."""

    batch: CodeBatch
    chunks: list

    def codes(self):
        for chunk in self.chunks:
            yield from chunk.decode("ascii").split("\n")

    def csv_lines(self):
        yield b"code\n"
        for chunk in self.chunks:
            yield chunk + b"\n"


def take_batch_codes(batch_id):
    """Hand out a batch's codes in clear exactly once, destroying the stored copy.

    The stored chunks are read, decrypted and deleted, and the batch marked delivered, in one
    transaction under the batch's row lock: of two downloads at once, one gets the codes and the
    other CodesGone. Nothing is deleted unless every chunk decrypts.
    """
    with transaction.atomic():
        batch = CodeBatch.objects.select_for_update().select_related("poll").filter(pk=batch_id).first()
        if batch is None:
            raise LifecycleError(_("There is no such batch."))
        if batch.delivered_at is not None or batch.kind == CodeBatch.Kind.EMAIL:
            raise CodesGone()
        if batch.revoked_at is not None:
            raise LifecycleError(_("This batch is revoked: its codes do not work and were not kept."))
        if batch.status != CodeBatch.Status.READY:
            raise LifecycleError(_("This batch is still being issued. Its page shows the progress."))
        stored = list(StoredCodes.objects.filter(batch=batch).order_by("index").values_list("token", flat=True))
        chunks = [encryption.decrypt(encryption.BATCH_CODES, token) for token in stored]
        StoredCodes.objects.filter(batch=batch).delete()
        batch.delivered_at = timezone.now()
        batch.save(update_fields=["delivered_at"])
    return DeliveredCodes(batch=batch, chunks=chunks)


def set_email_registration(poll_id, enabled, actor=OPERATOR):
    """Turn e-mail self-registration on or off for a poll (audited as an edit)."""
    with transaction.atomic():
        poll = _locked_poll(poll_id)
        if poll.state == Poll.State.CLOSED and enabled:
            raise LifecycleError(_("This poll is closed: it hands out no more codes."))
        if poll.email_registration == enabled:
            return poll
        poll.email_registration = enabled
        poll.save(update_fields=["email_registration"])
        _audit(actor, poll, AuditEntry.Action.EDIT, email_registration=enabled)
        return poll


# --- E-mail self-registration: the credential side (see ballots/registration.py) ---

EMAIL_REGISTRATION = Actor(role="system", pseudonym="e-mail-registration")


def _locked_email_batch(poll_id):
    """The poll's active e-mail batch, locked (created, and audited, on first use)."""
    active = CodeBatch.objects.select_for_update().filter(
        poll_id=poll_id, kind=CodeBatch.Kind.EMAIL, revoked_at__isnull=True
    )
    batch = active.first()
    if batch is not None:
        return batch
    try:
        with transaction.atomic():
            batch = CodeBatch.objects.create(
                poll_id=poll_id, kind=CodeBatch.Kind.EMAIL, size=0, status=CodeBatch.Status.READY,
                delivered_at=timezone.now(),
            )
            _audit(EMAIL_REGISTRATION, batch.poll, AuditEntry.Action.ISSUE_BATCH, batch=batch.id, kind="email")
            return batch
    except IntegrityError:  # another worker created it first
        return active.get()


def issue_email_code(poll_id):
    """One fresh code in the poll's e-mail batch; return (credential id, code in clear).

    Its own transaction, never the one that recorded the address's hash: the database holds no
    transaction id shared by an address and its code. The batch row lock serializes e-mail codes
    of one poll, which keeps the batch's counts exact.
    """
    with transaction.atomic():
        batch = _locked_email_batch(poll_id)
        code = codes.new_code()
        credential = Credential.objects.create(
            poll_id=poll_id, batch=batch, code_hash=codes.hash_code(codes.normalize_code(code))
        )
        batch.size += 1
        batch.issued += 1
        batch.save(update_fields=["size", "issued"])
    return credential.pk, code


def withdraw_email_code(credential_id):
    """Delete an unused e-mail code that never reached its voter (the mail failed)."""
    with transaction.atomic():
        credential = Credential.objects.select_for_update().filter(pk=credential_id, used=False).first()
        if credential is None:
            return
        batch = CodeBatch.objects.select_for_update().get(pk=credential.batch_id)
        credential.delete()
        batch.size -= 1
        batch.issued -= 1
        batch.save(update_fields=["size", "issued"])
