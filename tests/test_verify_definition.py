"""The poll's wording is signed: an export whose question, answer labels (either language) or
region were edited fails verification, and the failure names the definition."""

import json

import pytest
from django.core.management import call_command

from ballots.queries import poll_definition
from tallying import ledger
from tallying.services import seal_poll
from tests.exports import encode, export_lines, records, verify, write_export
from tests.factories import make_codes, make_poll
from tests.sealing import insert_sealed

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def genuine(django_db_setup, django_db_blocker):
    """An export as the issue found it: 6,514 ballots, 6,483 "Yes" and 31 "No" (here smaller)."""
    with django_db_blocker.unblock():
        poll = make_poll()
        yes, no = poll.options.all()
        # An uneven result (37 "Yes", 3 "No"), so a swap of labels would matter; each ballot uses a code.
        make_codes(poll, 40)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("UPDATE ballots_credential SET used = true WHERE poll_id = %s", [poll.id])
        insert_sealed(poll, [yes.id] * 37 + [no.id] * 3)
        seal_poll(poll.id, batch_size=25)
        seal_poll(poll.id, batch_size=25)
        lines = export_lines(poll)
        definition = poll_definition(poll)
    yield {"lines": lines, "definition": definition, "key": json.loads(lines[0])["public_key"]}
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def test_genuine_export_verifies_and_names_the_wording(tmp_path, genuine):
    header = json.loads(genuine["lines"][0])
    assert header["format"] == 2 and header["definition"] == genuine["definition"]
    assert header["genesis"] == ledger.definition_hash(genuine["definition"]).hex()
    first_entry = next(r for r in records(genuine["lines"]) if r["type"] == "entry")
    assert first_entry["prev_hash"] == header["genesis"]  # the chain begins from the definition
    code, output = verify(write_export(tmp_path / "poll.jsonl", genuine["lines"]), "--public-key", genuine["key"])
    assert code == 0, output
    assert "“Yes”: 37" in output and "“No”: 3" in output and "“Do you support the independence of Siberia?”" in output


def edited(lines, change, fix_genesis=False):
    recs = records(lines)
    change(recs[0]["definition"])
    if fix_genesis:  # a careful forger also makes the header's genesis match the new wording
        recs[0]["genesis"] = ledger.definition_hash(recs[0]["definition"]).hex()
    return encode(recs)


def swap_labels(definition):
    a, b = definition["answers"]
    a["label_en"], b["label_en"] = b["label_en"], a["label_en"]
    a["label_ru"], b["label_ru"] = b["label_ru"], a["label_ru"]


CHANGES = {
    "question_en": lambda d: d.update(question_en="Do you support staying?"),
    "question_ru": lambda d: d.update(question_ru="Вы за то, чтобы остаться?"),
    "label_en": lambda d: d["answers"][0].update(label_en="No"),
    "label_ru": lambda d: d["answers"][1].update(label_ru="Да"),
    "region": lambda d: d.update(region="urals"),
    "swapped labels": swap_labels,
}


@pytest.mark.parametrize("what", CHANGES)
@pytest.mark.parametrize("fix_genesis", [False, True], ids=["header-only", "genesis-too"])
def test_edited_definition_fails(tmp_path, genuine, what, fix_genesis):
    tampered = edited(genuine["lines"], CHANGES[what], fix_genesis)
    code, output = verify(write_export(tmp_path / "poll.jsonl", tampered), "--public-key", genuine["key"])
    assert code == 1, output
    assert "definition" in output, output
    if fix_genesis:  # then the first signed statement is what contradicts it, naming the field
        field = "label_en" if what == "swapped labels" else what
        assert "check 28, snapshot 1 (line 2): the poll's definition in the export differs from the one this statement signs" \
               in output and field in output, output
    else:
        assert "check 9, the poll record (line 1): the definition hashes to" in output and "the poll's definition (question, answers, region)" \
            " is not the one that was signed" in output


def test_edited_definition_of_a_poll_with_nothing_published_fails_at_its_first_entry(tmp_path, genuine):
    """Without statements, the chain itself binds the definition: entry 1 follows the genesis."""
    recs = [r for r in records(genuine["lines"]) if r["type"] != "snapshot"]
    recs[-1]["snapshots"] = 0
    CHANGES["label_en"](recs[0]["definition"])
    recs[0]["genesis"] = ledger.definition_hash(recs[0]["definition"]).hex()
    code, output = verify(write_export(tmp_path / "poll.jsonl", encode(recs)), "--public-key", genuine["key"])
    assert code == 1 and "check 44, entry 1 (line 2): prev_hash does not match the genesis" in output, output

