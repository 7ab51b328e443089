"""`python -m tallying.verify NEW --against OLD`: a later export must extend what an observer
held before (an earlier export, or a folder of statements kept earlier). A history rewritten and
re-signed with the real key passes every check on its own, and fails this one, naming where the
chains part."""

import json

import pytest
from django.core.management import call_command

from tallying.services import seal_poll
from tests.exports import encode, export_lines, records, rewrite_history, verify, write_export
from tests.factories import make_poll
from tests.sealing import insert_ballots

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def views(django_db_setup, django_db_blocker, tmp_path_factory):
    """OLD after two publications (30 ballots); NEW after two more (60); and a REWRITTEN history:
    the database's entry 23 changed, everything after it chained again and re-signed."""
    folder = tmp_path_factory.mktemp("views")
    with django_db_blocker.unblock():
        poll = make_poll()
        insert_ballots(poll, 30)
        seal_poll(poll.id, batch_size=12)
        seal_poll(poll.id, batch_size=20)
        old = write_export(folder / "old.jsonl", export_lines(poll))
        insert_ballots(poll, 30)
        seal_poll(poll.id, batch_size=30)
        new = write_export(folder / "new.jsonl", export_lines(poll))
        rewrite_history(poll, 23)
        rewritten = write_export(folder / "rewritten.jsonl", export_lines(poll))
        key = json.loads(old.read_text().splitlines()[0])["public_key"]
    yield {"old": old, "new": new, "rewritten": rewritten, "key": key, "folder": folder}
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def kept_statements(export, folder):
    """The statements of an export as the watcher keeps them (statement-<n>.json)."""
    folder.mkdir()
    for n, record in enumerate(r for r in records(export.read_text().splitlines()) if r["type"] == "snapshot"):
        (folder / f"statement-{n:012d}.json").write_text(json.dumps(
            {"statement": record["statement"], "signature": record["signature"]}, ensure_ascii=False))
    return folder


def test_genuine_later_export_extends_the_earlier_one(views):
    code, output = verify(views["new"], "--public-key", views["key"], "--against", views["old"])
    assert code == 0, output
    assert "OK NEW extends OLD" in output and "60 entries" in output


def test_genuine_later_export_extends_kept_statements(views, tmp_path):
    code, output = verify(views["new"], "--public-key", views["key"], "--against",
                          kept_statements(views["old"], tmp_path / "kept"))
    assert code == 0, output


def test_rewritten_history_passes_alone_but_not_against_the_earlier_export(views):
    code, output = verify(views["rewritten"], "--public-key", views["key"])
    assert code == 0, output  # re-signed with the real key: consistent on its own
    code, output = verify(views["rewritten"], "--public-key", views["key"], "--against", views["old"])
    assert code == 1, output
    assert "NEW does not extend OLD: the chains part at position 23" in output, output


def test_rewritten_history_against_kept_statements_names_the_range(views, tmp_path):
    code, output = verify(views["rewritten"], "--public-key", views["key"], "--against",
                          kept_statements(views["old"], tmp_path / "kept"))
    assert code == 1, output
    # OLD signed heads at 12 and 30; the rewrite begins at 23.
    assert "signed head" in output and "at position 30" in output
    assert "the chains part between positions 13 and 30" in output, output


def test_cut_history_fails(views, tmp_path):
    """NEW that holds fewer entries than OLD signed (history cut back) does not extend it."""
    recs = [r for r in records(views["new"].read_text().splitlines())]
    entries = [r for r in recs if r["type"] == "entry"][:20]
    snapshots = [r for r in recs if r["type"] == "snapshot" and json.loads(r["statement"])["position"] <= 20]
    cut = [recs[0], *snapshots, *entries, {"type": "end", "snapshots": len(snapshots), "entries": 20}]
    code, output = verify(write_export(tmp_path / "cut.jsonl", encode(cut)), "--public-key", views["key"],
                          "--against", views["old"])
    assert code == 1 and "NEW does not extend OLD" in output, output


def test_final_result_held_must_stay(views, tmp_path, django_db_blocker):
    """OLD holds a final result; NEW without it (or with another) does not extend OLD."""
    recs = records(views["new"].read_text().splitlines())
    with django_db_blocker.unblock():
        from tallying import signing

        last = max(i for i, r in enumerate(recs) if r["type"] == "snapshot")
        statement = json.loads(recs[last]["statement"])
        statement["final"] = True
        recs[last]["statement"], recs[last]["signature"] = signing.sign(statement)
    with_final = write_export(tmp_path / "final.jsonl", encode(recs))
    assert verify(with_final, "--public-key", views["key"])[0] == 0
    code, output = verify(views["new"], "--public-key", views["key"], "--against", with_final)
    assert code == 1 and "is a final result that NEW does not hold" in output, output

