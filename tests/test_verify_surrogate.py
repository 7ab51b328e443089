"""A lone surrogate escape (\\ud800 without its pair) in the poll definition is a clean FAIL at
check 2, never a traceback: it is no Unicode text, so no two programs agree on its hash."""

from tests.verifier_cases import run


def test_a_lone_surrogate_in_the_definition_fails_cleanly():
    code, output = run("invalid/02-lone-surrogate.jsonl")
    assert code == 1, output
    assert output.strip().endswith("check 2, line 1: a string holds a lone surrogate (\\ud800–\\udfff escape "
                                   "without its pair)"), output
    assert "Traceback" not in output


def test_a_paired_surrogate_escape_is_text():
    code, output = run("valid/members-reordered-and-escaped.jsonl")
    assert code == 0, output
