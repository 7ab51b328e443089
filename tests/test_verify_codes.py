"""Totals are bound to codes: a ballot put into the database without a code (the finding: it
passed the verifier) makes the signed total exceed the codes used, or issued, and the verifier
fails; it reports used versus issued per batch."""

import pytest

from ballots.models import Poll
from ballots.services import OPERATOR, revoke_batch
from tallying.services import publish_final, seal_poll
from tests.exports import export_lines, verify, write_export
from tests.factories import make_codes, make_poll
from tests.sealing import cast_many, insert_ballots, insert_sealed

pytestmark = pytest.mark.django_db


def insert_without_codes(poll, count):
    """Ballots straight into the inbox, as someone with the database could: no code is used."""
    insert_sealed(poll, [poll.options.first().id] * count)


def test_used_versus_issued_per_batch_is_reported(tmp_path):
    poll = make_poll()
    cast_many(poll, 4)  # batch 1: 4 codes, all used
    batch_2 = make_codes(poll, 6)  # batch 2: 6 codes, none used
    from ballots.models import CodeBatch

    revoke_batch(CodeBatch.objects.filter(poll=poll).order_by("-id").first().id, "lost in the post")
    assert batch_2
    seal_poll(poll.id)
    code, output = verify(write_export(tmp_path / "poll.jsonl", export_lines(poll)))
    assert code == 0, output
    first, second = CodeBatch.objects.filter(poll=poll).order_by("id").values_list("id", flat=True)
    assert f"codes (last statement): 10 issued, 4 used (batch {first}: 4 used of 4, batch {second} (revoked): 0 used " \
           "of 6)" in output, output


def test_a_ballot_without_a_code_fails_verification(tmp_path):
    poll = make_poll()
    insert_ballots(poll, 5)  # 5 codes issued and used
    make_codes(poll, 10)  # 10 more issued, unused: the total stays below the codes issued
    insert_without_codes(poll, 1)
    seal_poll(poll.id)
    code, output = verify(write_export(tmp_path / "poll.jsonl", export_lines(poll)))
    assert code == 1
    assert "snapshot 1 (line 2): its total 6 exceeds the 5 codes used to vote (ballots without a code)" in output


def test_a_total_above_the_codes_issued_fails_verification(tmp_path):
    poll = make_poll()
    make_codes(poll, 3)
    insert_without_codes(poll, 4)
    seal_poll(poll.id)
    code, output = verify(write_export(tmp_path / "poll.jsonl", export_lines(poll)))
    assert code == 1 and "snapshot 1 (line 2): its total 4 exceeds the 3 codes issued for the poll" in output


def test_a_poll_closed_with_no_ballot_has_a_final_result_at_position_0(tmp_path):
    poll = make_poll()
    Poll.objects.filter(pk=poll.pk).update(state=Poll.State.CLOSED)
    publish_final(poll.id, OPERATOR)
    code, output = verify(write_export(tmp_path / "poll.jsonl", export_lines(poll)))
    assert code == 0 and "0 entries" in output and "final result covers the whole ledger" in output, output
