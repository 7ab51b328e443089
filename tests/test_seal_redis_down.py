"""Redis unreachable: casting goes on unchanged, tallies fall back to the database and show their
age; when Redis is back, the cached tally catches up."""

import json

import pytest
from django.test import Client, override_settings

from tallying import responses
from tallying.services import seal_poll
from tallying.tasks import seal_open_polls
from tests.factories import make_codes, make_poll
from tests.sealing import assert_ledger_consistent
from tests.servers import free_port


def dead_cache():
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }


def cast(poll, code):
    return Client().post(
        f"/api/v1/polls/{poll.id}/ballots",
        data=json.dumps({"code": code, "option": poll.options.first().id}),
        content_type="application/json",
    )


def tally(poll):
    response = Client().get(f"/api/v1/polls/{poll.id}/tally")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_voting_goes_on_and_tallies_catch_up_when_redis_returns():
    poll = make_poll()
    codes = make_codes(poll, 12)
    for code in codes[:5]:
        assert cast(poll, code).status_code == 201
    seal_poll(poll.id)
    before = tally(poll)
    assert before["total"] == 5 and before["as_of"]

    with override_settings(CACHES=dead_cache()):
        # Casting (rate limits included) does not need Redis.
        assert [cast(poll, code).status_code for code in codes[5:]] == [201] * 7
        during = tally(poll)
        assert during["total"] == 5 and during["as_of"] == before["as_of"]  # its age shows
        assert seal_poll(poll.id) == 7
        assert tally(poll)["total"] == 12  # read from the database

    # Redis is back. This process's own copy of the response (at most LOCAL_SECONDS old) was built
    # from the database during the outage; another process reads Redis, which still holds the old
    # tally until the next periodic run mends it.
    assert tally(poll)["total"] == 12
    responses._local.clear()  # as another gunicorn worker sees it
    assert tally(poll)["total"] == 5
    seal_open_polls()
    after = tally(poll)
    assert after["total"] == 12 and after["as_of"] > before["as_of"]
    assert assert_ledger_consistent(poll.id) == 12
