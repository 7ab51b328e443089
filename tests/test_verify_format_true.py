"""`"format": true` is not format 1 (nor 2): JSON's true is not the integer 1, though Python's
True == 1. The poll record fails check 5, a statement check 22, a rotation check 12."""

import pytest

from tests.verifier_cases import run


@pytest.mark.parametrize("name, expected", [
    ("invalid/05-format-true.jsonl", "check 5, the poll record (line 1): export format true"),
    ("invalid/22-statement-format-true.jsonl", "check 22, snapshot 1 (line 2): unknown statement format true"),
    ("invalid/12-rotation-format-true.jsonl", "check 12, key rotation 1 (line 2): not a format-2 key-rotation"),
])
def test_format_true_is_refused(name, expected):
    code, output = run(name)
    assert code == 1 and expected in output, output
