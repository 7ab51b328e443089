"""One code, fifty simultaneous casts on separate connections: exactly one ballot."""

import json
import threading

import pytest
from django.db import connections
from django.test import Client

from ballots.models import Credential, InboxBallot
from tests.factories import make_codes, make_poll

CASTERS = 50


def _race(target, count):
    """Run target(i) in `count` threads released together; return their results in order."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_casts_with_one_code_give_one_ballot(settings):
    # The race itself, not the per-code limit (tests/test_rate_limits.py), is under test here.
    settings.CAST_RATE_PER_CODE = "1000/m"
    poll = make_poll()
    option = poll.options.first()
    (code,) = make_codes(poll, 1)

    def cast(i):
        response = Client().post(
            f"/api/v1/polls/{poll.id}/ballots",
            data=json.dumps({"code": code, "option": option.id}),
            content_type="application/json",
        )
        return response.status_code, response.json()

    results = _race(cast, CASTERS)

    accepted = [body for status, body in results if status == 201]
    refused = [body for status, body in results if status != 201]
    assert len(accepted) == 1
    assert len(refused) == CASTERS - 1
    assert all(status == 409 for status, body in results if status != 201)
    assert {body["error"] for body in refused} == {"code_used"}
    assert all("already been used" in body["message"] for body in refused)
    assert InboxBallot.objects.filter(poll=poll).count() == 1
    assert Credential.objects.get(poll=poll).used is True


@pytest.mark.django_db(transaction=True)
def test_simultaneous_casts_with_different_codes_are_all_accepted():
    poll = make_poll()
    option = poll.options.first()
    codes = make_codes(poll, 20)

    def cast(i):
        response = Client().post(
            f"/api/v1/polls/{poll.id}/ballots",
            data=json.dumps({"code": codes[i], "option": option.id}),
            content_type="application/json",
        )
        return response.status_code

    assert _race(cast, len(codes)) == [201] * len(codes)
    assert InboxBallot.objects.filter(poll=poll).count() == len(codes)
    assert Credential.objects.filter(poll=poll, used=True).count() == len(codes)
