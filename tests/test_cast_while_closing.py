"""Closing a poll while casts are in flight: nothing is accepted after the close commits."""

import threading
import time

import pytest
from django.db import connections

from ballots import services
from ballots.errors import PollClosed
from ballots.models import Credential, InboxBallot
from tests.factories import make_codes, make_poll

CASTERS = 8
CODES_PER_CASTER = 150


@pytest.mark.django_db(transaction=True)
def test_no_ballot_is_accepted_after_close():
    poll = make_poll()
    option = poll.options.first()
    codes = make_codes(poll, CASTERS * CODES_PER_CASTER)
    started = threading.Barrier(CASTERS + 1)
    outcomes = [[] for _ in range(CASTERS)]

    def caster(i):
        try:
            started.wait(timeout=30)
            for code in codes[i * CODES_PER_CASTER : (i + 1) * CODES_PER_CASTER]:
                try:
                    services.cast_ballot(poll.id, code, option.id)
                    outcomes[i].append("accepted")
                except PollClosed:
                    outcomes[i].append("closed")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=caster, args=(i,)) for i in range(CASTERS)]
    for thread in threads:
        thread.start()
    started.wait(timeout=30)
    # Let a good share of the casts land, then close while the others are still in flight.
    deadline = time.monotonic() + 30
    while InboxBallot.objects.filter(poll=poll).count() < CASTERS * 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    services.close_poll(poll.id)
    ballots_at_close = InboxBallot.objects.filter(poll=poll).count()
    for thread in threads:
        thread.join(timeout=120)

    flat = [outcome for per_thread in outcomes for outcome in per_thread]
    accepted = [kind for kind in flat if kind == "accepted"]
    refused = [kind for kind in flat if kind == "closed"]
    assert len(flat) == CASTERS * CODES_PER_CASTER
    assert accepted and refused, "the close must really race with casts"
    # Nothing committed after the close: the count seen when close returned is final.
    assert InboxBallot.objects.filter(poll=poll).count() == ballots_at_close == len(accepted)
    # Refused codes were not consumed.
    assert Credential.objects.filter(poll=poll, used=True).count() == len(accepted)
    # Once a caster saw the close, it never got a ballot in again.
    for per_thread in outcomes:
        if "closed" in per_thread:
            assert "accepted" not in per_thread[per_thread.index("closed") :]


@pytest.mark.django_db(transaction=True)
def test_a_cast_that_waited_for_a_close_is_refused_and_keeps_its_code():
    """The cast waits for the poll's row while a close holds it; once the close commits, the cast
    reads the row as the close left it: refused, its code not consumed, nothing in the inbox."""
    import psycopg
    from django.conf import settings

    poll = make_poll()
    (code,) = make_codes(poll, 1)
    db = settings.DATABASES["default"]
    closer = psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
                             password=db["PASSWORD"] or None)
    outcome = []

    def cast():
        try:
            services.cast_ballot(poll.id, code, poll.options.first().id)
            outcome.append("accepted")
        except PollClosed:
            outcome.append("closed")
        finally:
            connections.close_all()

    with closer.transaction():
        closer.execute("SELECT 1 FROM ballots_poll WHERE id = %s FOR UPDATE", [poll.id])
        caster = threading.Thread(target=cast)
        caster.start()
        time.sleep(0.5)  # the cast is now waiting for the row
        assert caster.is_alive() and outcome == []
        closer.execute("UPDATE ballots_poll SET state = 'closed' WHERE id = %s", [poll.id])
    caster.join(timeout=30)
    closer.close()
    assert outcome == ["closed"]
    assert not Credential.objects.get(poll=poll).used and not InboxBallot.objects.filter(poll=poll).exists()
