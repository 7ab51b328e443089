"""Bounded work per request: every public page, every JSON API, the cast path (JSON and form) and
every console page runs at most a fixed number of SQL queries, with five regions' polls, several
batches, snapshots and audit entries, so an N+1 (one query per poll, batch or row) fails here."""

import json

import pytest
from django.test import Client

from ballots.services import OPERATOR, cast_ballot, issue_codes, start_batch
from tallying.services import seal_poll
from tests.console import make_organizer, verified_client
from tests.factories import make_poll, make_region

REGIONS = [("siberia", "Siberia", "Сибирь"), ("urals", "Urals", "Урал"), ("kaliningrad", "Kaliningrad", "Калининград"),
           ("krasnodar", "Krasnodar", "Краснодар"), ("ingria", "Ingria", "Ингрия")]


@pytest.fixture
def world(db):
    polls, spare = [], {}
    for slug, en, ru in REGIONS:
        poll = make_poll(region=make_region(slug, en, ru))
        _, codes = issue_codes(poll, 6, actor=OPERATOR)
        issue_codes(poll, 2, actor=OPERATOR)
        start_batch(poll, 3)
        options = list(poll.options.all())
        for i, code in enumerate(codes[:4]):
            cast_ballot(poll.id, code, options[i % 2].id)
            if i % 2:
                seal_poll(poll.id)  # several publications: snapshots, ledger entries
        spare[poll.id] = codes[4:]
        polls.append(poll)
    return polls, spare


def _count(django_assert_max_num_queries, limit, call):
    with django_assert_max_num_queries(limit):
        response = call()
    assert response.status_code < 400, (response.status_code, getattr(response, "content", b"")[:300])
    return response


PUBLIC_GET = [
    ("/", 3),
    ("/polls/{poll}/", 4),
    # One card per poll, each from the cached tally, its latest signed statement, the received
    # figure and the turnout series (built once per publication: tallying/responses.py).
    # Each poll's tally is read once per page (card, preview text and image version share it).
    ("/results/", 2 + 7 * len(REGIONS)),
    ("/results/siberia/", 2 + 7),
    ("/ledger/{poll}/", 4),
    ("/verify/", 0),
    ("/audit/", 3),
    ("/api/v1/polls", 2),
    ("/api/v1/polls/{poll}", 7),
    ("/api/v1/polls/{poll}/tally", 7),
    ("/api/v1/polls/{poll}/snapshots", 3),
    ("/api/v1/polls/{poll}/ledger", 3),
    ("/api/v1/polls/{poll}/export", 4),
    ("/api/v1/public-key", 0),
    ("/api/v1/audit", 3),
]


@pytest.mark.parametrize("path,limit", PUBLIC_GET)
def test_public_pages_and_apis(world, django_assert_max_num_queries, path, limit):
    poll = world[0][-1]
    response = _count(django_assert_max_num_queries, limit, lambda: Client().get(path.format(poll=poll.id)))
    if response.streaming:
        b"".join(response.streaming_content)


def test_json_cast(world, django_assert_max_num_queries):
    polls, spare = world
    poll = polls[0]
    body = json.dumps({"code": spare[poll.id][0], "option": poll.options.first().id})
    # The poll was published since this process last cast (the world's seal_poll), so its key
    # changed: the statement refuses the old key, the poll's key and answers are read again, and
    # the statement runs once more. One statement, its own transaction (the bare one takes five).
    with django_assert_max_num_queries(3):
        response = Client().post(f"/api/v1/polls/{poll.id}/ballots", body, content_type="application/json")
    assert response.status_code == 201
    body = json.dumps({"code": spare[poll.id][1], "option": poll.options.first().id})
    with django_assert_max_num_queries(1):  # the next cast in this process: the statement alone
        response = Client().post(f"/api/v1/polls/{poll.id}/ballots", body, content_type="application/json")
    assert response.status_code == 201


def test_form_cast_through_the_confirmation(world, django_assert_max_num_queries):
    polls, spare = world
    poll = polls[2]
    client = Client(enforce_csrf_checks=True)
    client.get(f"/polls/{poll.id}/")
    form = {"code": spare[poll.id][0], "option": poll.options.first().id,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    # The poll with its answers (2), then its window, the answer and the code in one statement.
    with django_assert_max_num_queries(3):
        assert client.post(f"/polls/{poll.id}/", form).status_code == 200  # the confirmation page
    # The poll with its answers (2), then the cast's one statement (twice, and the poll's new key
    # read between, as the poll was published since this process last cast).
    with django_assert_max_num_queries(5):
        assert client.post(f"/polls/{poll.id}/cast", form).status_code == 200  # the receipt


def test_receipt_lookup(world, django_assert_max_num_queries):
    polls, spare = world
    poll = polls[1]
    tracker = cast_ballot(poll.id, spare[poll.id][0], poll.options.first().id)
    with django_assert_max_num_queries(6):
        assert Client().post("/verify/", {"tracker": tracker}).status_code == 200


CONSOLE_GET = [
    ("/console/", 10),
    ("/console/polls/new", 10),
    ("/console/polls/{poll}/", 14),
    ("/console/polls/{poll}/batches/", 12),
    ("/console/polls/{poll}/batches/{batch}/", 12),
]


@pytest.mark.parametrize("role", ["coordinator", "regional"])
@pytest.mark.parametrize("path,limit", CONSOLE_GET)
def test_console_pages(world, django_assert_max_num_queries, role, path, limit):
    polls, _spare = world
    poll = polls[0]
    organizer, device = make_organizer(f"{role}-user", role=role, region_slugs=[poll.region.slug])
    client = verified_client(organizer, device)
    batch = poll.code_batches.order_by("id").first()
    _count(django_assert_max_num_queries, limit, lambda: client.get(path.format(poll=poll.id, batch=batch.id)))
