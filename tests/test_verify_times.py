"""Times follow one profile of RFC 3339 (docs/verification.md, "Times"):
YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM). The compact ISO 8601 form, a space instead of T, a time
without seconds or offset, a leap second, -00:00 and seven fraction digits are refused wherever a
time is signed (check 23 for statements, 13 for key rotations, 6 for the poll record's window);
times in other offsets are compared as instants."""

import pytest

from tests.verifier_cases import MANIFEST, run


@pytest.mark.parametrize("name", sorted(f for f in MANIFEST if f.startswith("invalid/23-taken-at-")))
def test_a_statement_time_outside_the_profile_fails_check_23(name):
    code, output = run(name)
    assert code == 1 and "check 23, snapshot 1 (line 2): taken_at is not a time of the profile" in output, output
    assert "Traceback" not in output


def test_the_profile_refuses_the_three_forms_the_other_verifier_refused():
    refused = {MANIFEST[f]["description"] for f in MANIFEST if f.startswith("invalid/23-taken-at-")}
    assert {"taken_at: ISO 8601 basic format", "taken_at: a space instead of T", "taken_at: no seconds"} <= refused


def test_a_rotation_time_in_the_basic_format_fails_check_13():
    code, output = run("invalid/13-rotation-basic-time.jsonl")
    assert code == 1 and "check 13, key rotation 1 (line 2): valid_from is not a time of the profile" in output


def test_the_poll_window_follows_the_profile_too():
    code, output = run("invalid/06-opens-at-without-seconds.jsonl")
    assert code == 1 and "check 6, the poll record (line 1): opens_at is not a time of the profile" in output


def test_other_offsets_and_short_fractions_are_instants():
    code, output = run("valid/times-in-other-offsets.jsonl")
    assert code == 0 and output.startswith("OK "), output
