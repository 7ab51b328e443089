"""How the verifier talks: a malformed --public-key (upper case, too short, not hex) is a usage
error (exit status 2), not a forgery FAIL; a tampered OLD in --against is reported under OLD's
name; counts are written in the singular when there is one."""

import pytest

from tests.exports import verify
from tests.verifier_cases import SAMPLE_KEY, run, vector


@pytest.mark.parametrize("key", [SAMPLE_KEY.upper(), SAMPLE_KEY[:-2], "z" * 64, ""])
def test_a_malformed_public_key_is_a_usage_error(key):
    code, output = verify(vector("valid/sample.jsonl"), "--public-key", key)
    assert code == 2 and "is not a public key: 64 lower-case hex digits" in output, output
    assert "FAIL" not in output


def test_a_tampered_old_file_is_named_as_old():
    old = vector("invalid/45-option-changed.jsonl")
    code, output = verify(vector("valid/sample.jsonl"), "--public-key", SAMPLE_KEY, "--against", old)
    assert code == 1, output
    assert output.strip() == f"FAIL OLD {old}: check 45, entry 4 (line 8): entry_hash does not match its contents"


def test_one_is_singular():
    code, output = run("valid/final-at-position-0.jsonl")
    assert code == 0 and "0 entries" in output and "1 signed statement verified" in output, output
    code, output = run("valid/sample.jsonl")
    assert "7 entries" in output and "3 signed statements verified" in output
