"""A member twice in one object is refused in every record of an export, not only in signed texts
(check 2): a viewer that keeps the first one and a verifier that keeps the last would show two
different polls from one file."""

import pytest

from tests.verifier_cases import run, vector


def test_a_fake_question_before_the_real_one_fails_at_line_1():
    text = vector("invalid/02-duplicate-member-in-the-poll-record.jsonl").read_text(encoding="utf-8")
    assert text.splitlines()[0].count('"question_en":') == 2  # the fake first, the signed one second
    code, output = run("invalid/02-duplicate-member-in-the-poll-record.jsonl")
    assert code == 1 and 'check 2, line 1: the member "question_en" appears twice in one object' in output, output


@pytest.mark.parametrize("name, line, member", [
    ("invalid/02-duplicate-member-in-an-entry.jsonl", 8, "option"),
    ("invalid/02-duplicate-member-in-the-end-record.jsonl", 12, "entries"),
])
def test_in_any_record(name, line, member):
    code, output = run(name)
    assert code == 1 and f'check 2, line {line}: the member "{member}" appears twice' in output, output


def test_and_in_signed_texts_as_before():
    code, output = run("invalid/21-statement-duplicate-member.jsonl")
    assert code == 1 and "check 21, snapshot 1 (line 2): the statement is not canonical JSON (a key appears twice" \
        in output, output
