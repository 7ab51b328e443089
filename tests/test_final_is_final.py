"""A final result is final: after it nothing is published for the poll (sealing skips it, the
database refuses ledger entries and snapshots), and the results page and tally API never label
as final anything published after it, even in a database where someone forced it in."""

import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from ballots.models import InboxBallot, Poll
from ballots.services import OPERATOR
from tallying import ledger
from tallying.models import LedgerEntry, PollHead, Snapshot
from tallying.services import publish_final, seal_poll
from tests.exports import export_lines, verify, write_export
from tests.factories import make_poll
from tests.sealing import insert_ballots

pytestmark = pytest.mark.django_db


def closed_with_final(ballots=6):
    poll = make_poll()
    insert_ballots(poll, ballots)
    seal_poll(poll.id)
    Poll.objects.filter(pk=poll.pk).update(state=Poll.State.CLOSED)
    return poll, publish_final(poll.id, OPERATOR)


def test_sealing_publishes_nothing_after_the_final():
    poll, final = closed_with_final()
    insert_ballots(poll, 5)  # behind the services' back: the poll accepts no ballot
    assert seal_poll(poll.id) == 0
    assert InboxBallot.objects.filter(poll=poll).count() == 5
    assert Snapshot.objects.filter(poll=poll).order_by("-id").first() == final


def test_the_database_refuses_entries_and_snapshots_after_the_final():
    poll, final = closed_with_final()
    head = PollHead.objects.get(poll=poll)
    option = poll.options.first().id
    tracker = bytes(range(32))
    with pytest.raises(IntegrityError, match="final result"), transaction.atomic():
        LedgerEntry.objects.create(
            poll=poll, position=head.position + 1, option_id=option, tracker_hash=tracker,
            prev_hash=bytes(head.head_hash),
            entry_hash=ledger.entry_hash(bytes(head.head_hash), head.position + 1, poll.id, option, tracker),
        )
    with pytest.raises(IntegrityError, match="final result"), transaction.atomic():
        Snapshot.objects.create(poll=poll, taken_at=timezone.now(), counts={}, total=0, position=head.position,
                                head_hash=bytes(head.head_hash))


def force_a_publication_after_the_final(poll, final):
    """What only the database owner could do: get around the service's check and the triggers and
    append a publication after the final result."""
    insert_ballots(poll, 3)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            Snapshot.objects.filter(pk=final.pk).update(is_final=False)
            seal_poll(poll.id, clear=False)
            Snapshot.objects.filter(pk=final.pk).update(is_final=True)
        finally:
            cursor.execute("SET session_replication_role = origin")


def test_results_never_label_later_publications_final(tmp_path):
    poll, final = closed_with_final(6)
    force_a_publication_after_the_final(poll, final)
    assert PollHead.objects.get(poll=poll).position == 9
    tally = Client().get(f"/api/v1/polls/{poll.id}/tally").json()
    assert tally["final"] == final.taken_at.isoformat()
    assert tally["head"]["position"] == 6 and tally["total"] == 6 and tally["after_final"] == 3
    page = Client().get("/results/").content.decode()
    assert "Final result" in page and "3 ballots were published after the final result" in page
    assert 'data-total>6</' in page and 'data-total>9</' not in page
    # The verifier, too, refuses the export: a statement after the final one.
    code, output = verify(write_export(tmp_path / "poll.jsonl", export_lines(poll)))
    assert code == 1 and "comes after the final result" in output, output


def test_final_statement_is_signed_and_marked(tmp_path):
    poll, final = closed_with_final(6)
    statement = json.loads(final.statement)
    assert statement["final"] is True and statement["position"] == 6 and statement["format"] == 2
    code, output = verify(write_export(tmp_path / "poll.jsonl", export_lines(poll)))
    assert code == 0 and "final result covers the whole ledger" in output, output
