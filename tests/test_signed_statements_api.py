"""Signed heads for everyone: the snapshots API gives each publication's statement text and
signature, paged; the tally API gives the latest signed statement. Both verify with the public
key alone, and carry the poll's definition."""

import json

import pytest
from django.test import Client

from ballots.queries import poll_definition
from tallying import ledger
from tallying.canonical import parse_canonical
from tallying.services import seal_poll
from tallying.signing import verify
from tests.factories import make_poll
from tests.sealing import insert_ballots

pytestmark = pytest.mark.django_db


def published(poll, rounds):
    for _ in range(rounds):
        insert_ballots(poll, 2)
        seal_poll(poll.id)


def test_snapshots_api_pages_signed_statements():
    poll = make_poll()
    published(poll, 7)
    client = Client()
    key = client.get("/api/v1/public-key").json()["public_key"]
    seen, after, pages = [], 0, 0
    while after is not None:
        page = client.get(f"/api/v1/polls/{poll.id}/snapshots", {"after": after, "limit": 3}).json()
        assert page["limit"] == 3 and len(page["snapshots"]) <= 3
        seen.extend(page["snapshots"])
        after, pages = page["next_after"], pages + 1
    assert pages == 3 and [s["position"] for s in seen] == [2, 4, 6, 8, 10, 12, 14]
    assert [s["id"] for s in seen] == sorted(s["id"] for s in seen)
    definition = poll_definition(poll)
    for snapshot in seen:
        assert verify(key, snapshot["statement"], snapshot["signature"])
        statement = parse_canonical(snapshot["statement"])
        assert statement["definition"] == definition
        assert statement["genesis"] == ledger.definition_hash(definition).hex()
        assert statement["head_hash"] == snapshot["head_hash"] and statement["position"] == snapshot["position"]
        assert statement["batches"] and all(b["used"] <= b["issued"] for b in statement["batches"].values())


def test_tally_gives_the_latest_signed_statement(django_capture_on_commit_callbacks):
    poll = make_poll()
    client = Client()
    empty = client.get(f"/api/v1/polls/{poll.id}/tally").json()
    assert empty["statement"] is None
    assert empty["head"] == {"position": 0, "hash": ledger.definition_hash(poll_definition(poll)).hex()}
    with django_capture_on_commit_callbacks(execute=True):  # each publication refreshes the cached tally
        published(poll, 2)
    tally = client.get(f"/api/v1/polls/{poll.id}/tally").json()
    statement = tally["statement"]
    assert verify(client.get("/api/v1/public-key").json()["public_key"], statement["text"], statement["signature"])
    signed = json.loads(statement["text"])
    assert signed["position"] == tally["head"]["position"] == 4 and signed["head_hash"] == tally["head"]["hash"]
    assert {int(k): v for k, v in signed["counts"].items()} == {c["option"]: c["count"] for c in tally["counts"]}
    latest = client.get(f"/api/v1/polls/{poll.id}/snapshots", {"after": 0}).json()["snapshots"][-1]
    assert latest["id"] == statement["id"] and latest["statement"] == statement["text"]


@pytest.mark.parametrize("query", [{"after": "x"}, {"limit": "many"}])
def test_bad_page_parameters(query):
    poll = make_poll()
    response = Client().get(f"/api/v1/polls/{poll.id}/snapshots", query)
    assert response.status_code == 400 and response.json()["error"] == "bad_page"


def test_huge_cursor_is_an_empty_page_not_an_error():
    poll = make_poll()
    published(poll, 1)
    for url in (f"/api/v1/polls/{poll.id}/snapshots", f"/api/v1/polls/{poll.id}/ledger"):
        response = Client().get(url, {"after": str(10**30)})
        assert response.status_code == 200, url
