"""State changes of polls, codes and ballots. Each function is one transaction."""

import csv
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from . import codes
from .errors import (
    BadOption,
    CodeAlreadyUsed,
    CodeForOtherPoll,
    CodeRevoked,
    CodeUnknown,
    MalformedCode,
    PollClosed,
    PollNotFound,
    PollNotOpen,
    PollPaused,
)
from .models import Ballot, CodeBatch, Credential, Option, Poll


@dataclass(frozen=True)
class CheckedBallot:
    poll: Poll
    option: Option


def _normalized_code(code):
    try:
        return codes.normalize_code(code)
    except codes.MalformedValue:
        raise MalformedCode() from None


def _option_id(option_id):
    try:
        return int(option_id)
    except (TypeError, ValueError):
        raise BadOption() from None


def _poll_window(poll_id, lock):
    """(state, started, not_ended) of a poll by the database clock; FOR SHARE when lock.

    The share lock makes close/pause (which update the row) wait for casts in flight, and casts
    that start after them see the new state: no ballot is accepted after a close commits.
    """
    if connection.vendor == "postgresql":
        sql = (
            "SELECT state, opens_at <= now(), now() < closes_at FROM ballots_poll WHERE id = %s"
            + (" FOR SHARE" if lock else "")
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [poll_id])
            return cursor.fetchone()
    # Embedded mode (SQLite): one writer at a time, the application clock.
    poll = Poll.objects.filter(pk=poll_id).values("state", "opens_at", "closes_at").first()
    if poll is None:
        return None
    now = timezone.now()
    return poll["state"], poll["opens_at"] <= now, now < poll["closes_at"]


def _check_poll_accepts(poll_id, lock):
    row = _poll_window(poll_id, lock)
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
        return int(poll_id)
    except (TypeError, ValueError):
        raise PollNotFound() from None


def check_ballot(poll_id, code, option_id):
    """Check what cast_ballot would check, without consuming the code or locking anything."""
    poll_id = _poll_id(poll_id)
    code_hash = codes.hash_code(_normalized_code(code))
    _check_poll_accepts(poll_id, lock=False)
    option = _check_option(poll_id, option_id)
    credential = Credential.objects.select_related("batch").filter(code_hash=code_hash).first()
    _check_credential(credential, poll_id)
    return CheckedBallot(poll=Poll.objects.select_related("region").get(pk=poll_id), option=option)


def cast_ballot(poll_id, code, option_id):
    """Record one ballot for the code and return the voter's receipt tracker (in clear, once).

    At most one ballot per code, even under concurrent calls: the credential row is locked and
    checked unused in the same transaction that inserts the ballot and marks the code used.
    The poll must accept ballots by the database clock at that moment. The ballot keeps no
    reference to the credential; the tracker is stored only as its SHA-256.
    """
    poll_id = _poll_id(poll_id)
    code_hash = codes.hash_code(_normalized_code(code))
    option_id = _option_id(option_id)
    tracker = codes.new_tracker()
    with transaction.atomic():
        # Lock order: poll (shared), then credential (exclusive). close_poll locks only the poll.
        _check_poll_accepts(poll_id, lock=True)
        option = _check_option(poll_id, option_id)
        credential = (
            Credential.objects.select_for_update(of=("self",))
            .select_related("batch")
            .filter(code_hash=code_hash)
            .first()
        )
        _check_credential(credential, poll_id)
        Ballot.objects.create(
            poll_id=poll_id,
            option=option,
            tracker_hash=codes.hash_tracker(codes.normalize_tracker(tracker)),
            cast_hour=timezone.now().replace(minute=0, second=0, microsecond=0),
        )
        Credential.objects.filter(pk=credential.pk).update(used=True)
    return tracker


CODE_INSERT_CHUNK = 5000


def issue_codes(poll, count):
    """Create a batch of `count` fresh codes for the poll; return (batch, codes in clear).

    The codes in clear exist only in the returned list: the database keeps their HMAC.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    issued = []
    with transaction.atomic():
        batch = CodeBatch.objects.create(poll=poll, size=count)
        while len(issued) < count:
            chunk = [codes.new_code() for _ in range(min(CODE_INSERT_CHUNK, count - len(issued)))]
            Credential.objects.bulk_create(
                Credential(poll=poll, batch=batch, code_hash=codes.hash_code(codes.normalize_code(c)))
                for c in chunk
            )
            issued.extend(chunk)
    return batch, issued


def write_codes_csv(issued, path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code"])
        writer.writerows([c] for c in issued)


def _set_state(poll_id, allowed_from, new_state):
    with transaction.atomic():
        # FOR UPDATE waits for casts in flight (they hold FOR SHARE on the poll row).
        poll = Poll.objects.select_for_update().filter(pk=poll_id).first()
        if poll is None:
            raise PollNotFound()
        if poll.state not in allowed_from:
            raise ValueError(f"poll {poll_id} is {poll.state}; cannot become {new_state}")
        poll.state = new_state
        poll.save(update_fields=["state"])
        return poll


def open_poll(poll_id):
    """Open a poll now (from draft, scheduled or paused); its window still applies."""
    return _set_state(
        poll_id, {Poll.State.DRAFT, Poll.State.SCHEDULED, Poll.State.PAUSED}, Poll.State.OPEN
    )


def close_poll(poll_id):
    """Close a poll now. Casts that committed before stay; none is accepted after this commits."""
    return _set_state(
        poll_id,
        {Poll.State.DRAFT, Poll.State.SCHEDULED, Poll.State.OPEN, Poll.State.PAUSED},
        Poll.State.CLOSED,
    )


def pause_poll(poll_id):
    return _set_state(poll_id, {Poll.State.SCHEDULED, Poll.State.OPEN}, Poll.State.PAUSED)
