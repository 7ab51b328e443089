"""The operators' management commands: seed_demo, issue_codes, open_poll, close_poll."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from ballots import codes
from ballots.models import Credential, Poll
from regions.models import Region
from tests.factories import make_poll


@pytest.mark.django_db
def test_seed_demo_twice_duplicates_nothing(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # demo data exists only in development (tests/test_production_guards.py)
    call_command("seed_demo")
    counts = (Region.objects.count(), Poll.objects.count(), Credential.objects.count())
    listed = (tmp_path / "demo-codes.csv").read_text()
    call_command("seed_demo")
    assert counts[:2] == (5, 5)
    assert (Region.objects.count(), Poll.objects.count(), Credential.objects.count()) == counts
    assert (tmp_path / "demo-codes.csv").read_text() == listed
    polls = Client().get("/api/v1/polls").json()["polls"]
    assert sorted(p["region"] for p in polls) == sorted(["siberia", "urals", "kaliningrad", "krasnodar", "ingria"])
    assert {p["state"] for p in polls} == {"open"}
    for poll in polls:
        assert set(poll) >= {"id", "region", "question", "options", "state", "opens_at", "closes_at"}
        assert all(set(option) >= {"id", "label"} for option in poll["options"])


@pytest.mark.django_db
def test_issue_codes_writes_working_codes_to_csv(tmp_path):
    poll = make_poll()
    out = tmp_path / "codes.csv"
    call_command("issue_codes", "--poll", str(poll.id), "--count", "25", "--out", str(out))
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 25 and len({r["code"] for r in rows}) == 25
    hashes = {codes.hash_code(codes.normalize_code(r["code"])) for r in rows}
    assert hashes == {bytes(h) for h in Credential.objects.filter(poll=poll).values_list("code_hash", flat=True)}
    response = Client().post(
        f"/api/v1/polls/{poll.id}/ballots",
        data=json.dumps({"code": rows[0]["code"], "option": poll.options.first().id}),
        content_type="application/json",
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_issue_codes_refuses_an_unknown_poll(tmp_path):
    with pytest.raises(CommandError, match="no poll 424242"):
        call_command("issue_codes", "--poll", "424242", "--count", "5", "--out", str(tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.django_db
def test_open_and_close_poll_commands():
    poll = make_poll(state=Poll.State.DRAFT)
    call_command("open_poll", str(poll.id))
    assert Poll.objects.get(pk=poll.id).state == Poll.State.OPEN
    call_command("close_poll", str(poll.id))
    assert Poll.objects.get(pk=poll.id).state == Poll.State.CLOSED
    with pytest.raises(CommandError, match="already closed"):
        call_command("close_poll", str(poll.id))
    with pytest.raises(CommandError, match="no poll"):
        call_command("open_poll", "424242")
