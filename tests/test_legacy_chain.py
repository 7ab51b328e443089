"""Polls whose chains began before definitions were signed (genesis version 1: 32 zero bytes, the
heads migration 0005 found) keep their ledgers as they are: sealing continues the same chain, new
statements sign the definition with genesis 00…00, and a format-2 verifier accepts the export
(format-1 statements before format-2 ones) and says what binds the wording. A format-1 export is
read only as OLD in --against."""

import json

import pytest
from django.db import connection

from ballots.queries import poll_as_json
from tallying import signing
from tallying.ledger import GENESIS_V1
from tallying.models import LedgerEntry, PollHead, Snapshot
from tallying.services import seal_poll
from tests.exports import encode, export_lines, records, verify, write_export
from tests.factories import make_poll
from tests.sealing import assert_ledger_consistent, insert_ballots

pytestmark = pytest.mark.django_db


def legacy_poll():
    """A poll as an older server left it: its head began at 32 zero bytes and its first statement
    is format 1 (no format, definition or genesis), signed then."""
    poll = make_poll()
    PollHead.objects.create(poll=poll)  # the defaults are the version-1 genesis, as migrated heads keep
    insert_ballots(poll, 6)
    seal_poll(poll.id)
    snapshot = Snapshot.objects.get(poll=poll)
    statement = json.loads(snapshot.statement)
    for name in ("format", "definition", "genesis"):
        del statement[name]
    statement["counts"] = {k: v for k, v in statement["counts"].items() if v}
    text, signature = signing.sign(statement)
    Snapshot.objects.filter(pk=snapshot.pk).update(statement=text, signature=bytes.fromhex(signature))
    return poll


def format_1_export(poll):
    """The export an older server wrote (format 1): the poll's public fields, unsigned."""
    recs = records(export_lines(poll))
    header = {"type": "poll", "format": 1, "public_key": recs[0]["public_key"], **poll_as_json(poll)}
    return encode([header, *recs[1:]])


def test_a_version_1_chain_continues_from_zero_bytes(tmp_path):
    poll = legacy_poll()
    insert_ballots(poll, 5)
    seal_poll(poll.id)
    head = PollHead.objects.get(poll=poll)
    assert bytes(head.genesis) == GENESIS_V1 and head.genesis_version == 1
    assert bytes(LedgerEntry.objects.get(poll=poll, position=1).prev_hash) == GENESIS_V1
    assert assert_ledger_consistent(poll.id) == 11
    latest = json.loads(Snapshot.objects.filter(poll=poll).order_by("-id").first().statement)
    assert latest["format"] == 2 and latest["genesis"] == "00" * 32 and latest["definition"]["poll"] == poll.id
    lines = export_lines(poll)
    assert json.loads(lines[0])["genesis"] == "00" * 32
    code, output = verify(write_export(tmp_path / "poll.jsonl", lines), "--public-key", signing.public_key_hex())
    assert code == 0, output
    assert "genesis version 1" in output and "bound by the format-2 statements only" in output


def test_format_1_statement_after_a_format_2_one_fails(tmp_path):
    poll = legacy_poll()
    insert_ballots(poll, 5)
    seal_poll(poll.id)
    recs = records(export_lines(poll))
    snaps = [i for i, r in enumerate(recs) if r["type"] == "snapshot"]
    recs[snaps[0]], recs[snaps[1]] = recs[snaps[1]], recs[snaps[0]]
    code, output = verify(write_export(tmp_path / "poll.jsonl", encode(recs)))
    assert code == 1 and "snapshot 2 (line 3): a format-1 statement after a format-2 one" in output, output


def test_a_format_1_statement_is_refused_in_a_version_2_chain(tmp_path):
    """A forger cannot drop the definition from statements of a poll whose chain began from it."""
    poll = make_poll()
    insert_ballots(poll, 4)
    seal_poll(poll.id)
    recs = records(export_lines(poll))
    i = next(i for i, r in enumerate(recs) if r["type"] == "snapshot")
    statement = json.loads(recs[i]["statement"])
    for name in ("format", "definition", "genesis"):
        del statement[name]
    recs[i]["statement"], recs[i]["signature"] = signing.sign(statement)
    code, output = verify(write_export(tmp_path / "poll.jsonl", encode(recs)))
    assert code == 1 and "a format-1 statement (no definition) in a chain that began from the definition" in output


def test_format_1_export_is_read_as_old_only(tmp_path):
    poll = legacy_poll()
    old = write_export(tmp_path / "old-format1.jsonl", format_1_export(poll))
    key = signing.public_key_hex()
    code, output = verify(old, "--public-key", key)
    assert code == 1 and "format-1 export" in output and "only as OLD in --against" in output, output
    insert_ballots(poll, 5)
    seal_poll(poll.id)
    new = write_export(tmp_path / "new.jsonl", export_lines(poll))
    code, output = verify(new, "--public-key", key, "--against", old)
    assert code == 0 and "OK NEW extends OLD" in output, output
    # The same OLD against a NEW whose first entries differ fails.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tallying_ledgerentry SET entry_hash = sha256(entry_hash) WHERE poll_id = %s"
                       " AND position = 3", [poll.id])
    code, output = verify(write_export(tmp_path / "broken.jsonl", export_lines(poll)), "--public-key", key,
                          "--against", old)
    assert code == 1 and "entry 3" in output, output
