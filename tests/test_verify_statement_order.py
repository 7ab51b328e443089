"""A statement's taken_at never goes back within a poll, whichever key signed it (check 53): after
a key rotation, the old key can still sign a statement back-dated before valid_from that verifies
with the key in force then, and it is refused because it is taken before the statement it
follows."""

from tests.verifier_cases import run


def test_time_going_back_fails():
    code, output = run("invalid/53-time-goes-back.jsonl")
    assert code == 1 and "check 53, snapshot 2 (line 3): taken at 2026-12-02T05:21:12+00:00, before snapshot 1" \
        in output, output


def test_a_statement_back_dated_with_the_old_key_after_a_rotation_fails():
    code, output = run("invalid/53-back-dated-with-the-old-key.jsonl")
    assert code == 1 and "check 53, snapshot 3 (line 5)" in output and "never goes back" in output, output


def test_the_old_key_after_the_rotation_is_refused_by_its_signature():
    code, output = run("invalid/24-old-key-after-rotation.jsonl")
    assert code == 1 and "check 24, snapshot 3 (line 5): the signature does not verify" in output, output


def test_time_may_stand_still_and_rotations_may_happen():
    for name in ("valid/equal-times.jsonl", "valid/key-rotation.jsonl", "valid/two-key-rotations.jsonl"):
        code, output = run(name)
        assert code == 0, (name, output)
