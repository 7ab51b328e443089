"""Export a poll and verify it with the standalone verifier; every kind of tampering is caught."""

import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.test import Client

from tallying import signing
from tallying.ledger import entry_hash
from tallying.services import seal_poll
from tests.factories import make_poll
from tests.sealing import insert_ballots
from tests.workers import ROOT

BALLOTS = 3_000
pytestmark = pytest.mark.django_db  # also makes pytest-django create the test database


@pytest.fixture(scope="module")
def export_lines(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        poll = make_poll()
        insert_ballots(poll, BALLOTS)
        while seal_poll(poll.id, batch_size=700):
            pass
        response = Client().get(f"/api/v1/polls/{poll.id}/export")
        assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
        lines = b"".join(response.streaming_content).decode().splitlines(keepends=True)
    yield lines
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)  # committed outside a test transaction


def run_verifier(tmp_path, lines, *args):
    path = tmp_path / "poll.jsonl"
    path.write_text("".join(lines))
    result = subprocess.run(
        [sys.executable, "-m", "tallying.verify", str(path), *args],
        cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},  # no Django settings needed
    )
    return result.returncode, result.stdout + result.stderr


def records(lines):
    return [json.loads(line) for line in lines]


def encode(records_):
    return [json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records_]


def first_index(recs, kind):
    return next(i for i, r in enumerate(recs) if r["type"] == kind)


def test_untouched_export_verifies(tmp_path, export_lines):
    key = json.loads(export_lines[0])["public_key"]
    code, output = run_verifier(tmp_path, export_lines, "--public-key", key)
    assert code == 0, output
    assert f"{BALLOTS} entries" in output and "5 signed statements verified" in output


def test_option_changed_in_one_entry(tmp_path, export_lines):
    recs = records(export_lines)
    i = first_index(recs, "entry") + 41
    answers = [a["id"] for a in recs[0]["definition"]["answers"]]
    recs[i]["option"] = next(a for a in answers if a != recs[i]["option"])  # the other answer
    code, output = run_verifier(tmp_path, encode(recs))
    assert code == 1 and f"check 45, entry {recs[i]['position']} (line {i + 1}): entry_hash does not match" in output


def test_one_entry_removed(tmp_path, export_lines):
    recs = records(export_lines)
    i = first_index(recs, "entry") + 100
    removed = recs.pop(i)
    code, output = run_verifier(tmp_path, encode(recs))
    assert code == 1 and f"position {removed['position'] + 1} where {removed['position']} was expected" in output


def test_two_entries_swapped(tmp_path, export_lines):
    recs = records(export_lines)
    i = first_index(recs, "entry") + 7
    recs[i], recs[i + 1] = recs[i + 1], recs[i]
    code, output = run_verifier(tmp_path, encode(recs))
    assert code == 1 and f"where {i - first_index(recs, 'entry') + 1} was expected" in output


def test_one_count_changed_in_a_snapshot(tmp_path, export_lines):
    recs = records(export_lines)
    i = first_index(recs, "snapshot") + 1
    statement = json.loads(recs[i]["statement"])
    option = next(iter(statement["counts"]))
    statement["counts"][option] += 1
    statement["total"] += 1
    recs[i]["statement"] = signing.canonical(statement).decode()
    code, output = run_verifier(tmp_path, encode(recs))
    assert code == 1 and "snapshot 2 (line" in output and "signature does not verify" in output


def test_snapshot_signed_with_another_key(tmp_path, export_lines):
    recs = records(export_lines)
    i = first_index(recs, "snapshot")
    statement = json.loads(recs[i]["statement"])
    statement["counts"] = {k: v + 5 for k, v in statement["counts"].items()}
    statement["total"] += 5 * len(statement["counts"])
    payload = signing.canonical(statement)
    recs[i]["statement"] = payload.decode()
    recs[i]["signature"] = Ed25519PrivateKey.generate().sign(payload).hex()
    code, output = run_verifier(tmp_path, encode(recs))
    assert code == 1 and "snapshot 1 (line 2): the signature does not verify" in output


def test_whole_export_resigned_with_another_key_fails_against_the_published_key(tmp_path, export_lines):
    recs = records(export_lines)
    published = recs[0]["public_key"]
    forger = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    recs[0]["public_key"] = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    for r in recs:
        if r["type"] == "snapshot":
            r["signature"] = forger.sign(r["statement"].encode()).hex()
    assert run_verifier(tmp_path, encode(recs))[0] == 0  # self-consistent: hence compare the key
    code, output = run_verifier(tmp_path, encode(recs), "--public-key", published)
    assert code == 1 and "another public key" in output


def test_truncated_file(tmp_path, export_lines):
    text = "".join(export_lines)
    code, output = run_verifier(tmp_path, [text[: len(text) // 2]])
    assert code == 1 and "truncated" in output
    code, output = run_verifier(tmp_path, export_lines[:-1])  # cut at a line boundary
    assert code == 1 and "no end record" in output


def test_entry_appended_after_the_final_snapshot(tmp_path, export_lines):
    recs = records(export_lines)
    last_snapshot = max(i for i, r in enumerate(recs) if r["type"] == "snapshot")
    statement = json.loads(recs[last_snapshot]["statement"])
    assert statement["position"] == BALLOTS
    # Make the last snapshot final, as publishing does, signed with the server's real key.
    statement["final"] = True
    recs[last_snapshot]["statement"], recs[last_snapshot]["signature"] = signing.sign(statement)
    assert run_verifier(tmp_path, encode(recs))[0] == 0
    end = recs.pop()
    last = recs[-1]
    tracker = bytes(32)
    new = {"type": "entry", "position": last["position"] + 1, "poll": last["poll"], "option": last["option"],
           "tracker_hash": tracker.hex(), "prev_hash": last["entry_hash"]}
    new["entry_hash"] = entry_hash(bytes.fromhex(last["entry_hash"]), new["position"], new["poll"], new["option"],
                                   tracker).hex()
    end["entries"] += 1
    code, output = run_verifier(tmp_path, encode([*recs, new, end]))
    assert code == 1 and f"entries {BALLOTS + 1}..{BALLOTS + 1} were added after the result was published" in output
