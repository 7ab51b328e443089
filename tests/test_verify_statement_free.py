"""An export without any signed statement never passes: with entries it fails check 54 (entries
nobody signed: every statement stripped); with no entry either, nothing is signed yet and the
verifier says UNSIGNED with exit status 3, neither OK nor FAIL."""

from tests.verifier_cases import run


def test_every_statement_stripped_fails():
    code, output = run("invalid/54-statements-stripped.jsonl")
    assert code == 1 and "check 54, the end record (line 9): the export holds 7 entries and no signed statement" \
        in output, output
    assert "OK" not in output


def test_nothing_published_yet_is_unsigned():
    code, output = run("valid/nothing-signed-yet.jsonl")
    assert code == 3 and "UNSIGNED" in output and "nothing to verify" in output, output
