"""The spec's rules a forger with the key might try to bend, on the sample export (no database):
a signed text must be canonical (no spaces, no duplicate keys, integers only), hex is lower
case, and "the first problem" is the first failing check in file order."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.exports import encode, records, verify, write_export
from tests.workers import ROOT

SAMPLE = ROOT / "docs" / "vectors" / "sample-export.jsonl"

VECTORS = json.loads((SAMPLE.parent / "vectors.json").read_text(encoding="utf-8"))
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["seed"]))
PUBLIC = VECTORS["key"]["public_key"]


@pytest.fixture
def sample():
    return records(SAMPLE.read_text(encoding="utf-8").splitlines())


def resign(record, text):
    record["statement"], record["signature"] = text, KEY.sign(text.encode("utf-8")).hex()


def check(tmp_path, recs):
    return verify(write_export(tmp_path / "sample.jsonl", encode(recs)), "--public-key", PUBLIC)


def test_the_sample_itself_verifies(tmp_path, sample):
    assert check(tmp_path, sample)[0] == 0


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace(',"final":', ', "final":'), "not in canonical form"),
    (lambda t: t.replace('{"batches":', '{"total":99,"batches":'), "a key appears twice"),
    (lambda t: t.replace('"total":3}', '"total":3.0}'), "numbers are integers only"),
    (lambda t: t.replace('"poll":7,"position"', '"position":3,"poll":7,"position"'), "a key appears twice"),
])
def test_a_signed_text_that_is_not_canonical_fails(tmp_path, sample, edit, problem):
    """Signed with the real key, and still refused: another verifier could read it differently."""
    text = edit(sample[1]["statement"])
    assert text != sample[1]["statement"]
    resign(sample[1], text)
    code, output = check(tmp_path, sample)
    assert code == 1 and "snapshot 1 (line 2): the statement is not canonical JSON" in output and problem in output, \
        output


def test_upper_case_hex_fails(tmp_path, sample):
    sample[1]["signature"] = sample[1]["signature"].upper()
    code, output = check(tmp_path, sample)
    assert code == 1 and "snapshot 1 (line 2): signature must be 128 lower-case hex digits" in output


def test_the_first_problem_is_the_first_in_file_order(tmp_path, sample):
    """Two faults: an entry (line 6 on) and the third statement (line 4): the statement is named."""
    entries = [r for r in sample if r["type"] == "entry"]
    entries[1]["option"] = 2 if entries[1]["option"] == 10 else 10
    sample[3]["signature"] = "00" * 64
    code, output = check(tmp_path, sample)
    assert code == 1 and "snapshot 3 (line 4): the signature does not verify" in output, output


def test_a_statement_over_a_position_beyond_the_ledger_fails(tmp_path, sample):
    """A statement signed at 7 with the ledger cut to 6 entries (and the end record fixed)."""
    cut = [r for r in sample if not (r["type"] == "entry" and r["position"] == 7)]
    cut[-1]["entries"] = 6
    code, output = check(tmp_path, cut)
    assert code == 1 and "check 51, snapshot 3 (line 4): is signed at position 7 but the ledger holds entries 1..6" in output


def test_an_extra_member_in_a_record_fails(tmp_path, sample):
    sample[1]["note"] = "trust me"
    code, output = check(tmp_path, sample)
    assert code == 1 and "check 19, snapshot 1 (line 2): the record has unknown note" in output, output
