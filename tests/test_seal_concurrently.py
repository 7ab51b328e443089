"""Sealing run twice, or by two workers at once, counts nothing twice and skips nothing."""

import threading

import pytest
from django.db import connections

from ballots.models import Credential, InboxBallot
from tallying.services import seal_poll, seal_until_caught_up
from tests.factories import make_poll
from tests.sealing import assert_ledger_consistent, cast_many


@pytest.mark.django_db(transaction=True)
def test_two_sealers_at_once_on_the_same_poll():
    poll = make_poll()
    cast = cast_many(poll, 600)
    barrier = threading.Barrier(4)
    sealed = []

    def sealer():
        try:
            barrier.wait(timeout=30)
            sealed.append(seal_until_caught_up(poll.id, batch_size=50))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sealer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(sealed) == 600
    assert assert_ledger_consistent(poll.id) == 600
    assert not InboxBallot.objects.filter(poll=poll).exists()
    from tallying.models import OptionCount

    assert dict(OptionCount.objects.filter(poll=poll).values_list("option_id", "count")) == dict(cast)


@pytest.mark.django_db(transaction=True)
def test_sealing_delivered_twice_changes_nothing_the_second_time():
    poll = make_poll()
    cast_many(poll, 30)
    assert seal_poll(poll.id) == 30
    assert seal_poll(poll.id) == 0
    assert assert_ledger_consistent(poll.id) == 30


@pytest.mark.django_db(transaction=True)
def test_casts_during_sealing_are_sealed_by_a_later_run():
    poll = make_poll()
    cast_many(poll, 40)
    stop = threading.Event()

    def caster():
        try:
            while not stop.is_set():
                cast_many(poll, 5)
        finally:
            connections.close_all()

    thread = threading.Thread(target=caster)
    thread.start()
    for _ in range(10):
        seal_poll(poll.id, batch_size=7)
    stop.set()
    thread.join(timeout=60)
    seal_until_caught_up(poll.id)
    assert assert_ledger_consistent(poll.id) == Credential.objects.filter(poll=poll, used=True).count()
    assert not InboxBallot.objects.filter(poll=poll).exists()
