"""The check step and a cast with the tracker the voter was shown skip Django's SELECT 1 before a
request's first statement: each is its own health check, sent again on a new connection when the
server closed the old one (a restart, a failover). A cast without such a tracker keeps the health
check and is never sent twice. Here the server really closes the connection between requests."""

import time

import psycopg
import pytest
from django.db import connection

from ballots import codes, services
from ballots.models import Credential, InboxBallot
from tests.factories import make_codes, make_poll


def backend_pid():
    return connection.connection.info.backend_pid


def server_closes_our_connection():
    """pg_terminate_backend our session from another one, then begin a new request (as
    request_started does: the health check is due again)."""
    pid = backend_pid()
    db = connection.settings_dict
    with psycopg.connect(f"postgres://postgres@{db['HOST']}:{db['PORT']}/{db['NAME']}", autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        for _ in range(100):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                break
            time.sleep(0.02)
    connection.close_if_unusable_or_obsolete()
    return pid


def used(code):
    return Credential.objects.get(code_hash=codes.hash_code(codes.normalize_code(code))).used


@pytest.mark.django_db(transaction=True)
def test_a_check_and_a_confirmed_cast_are_sent_again_on_a_new_connection():
    poll = make_poll()
    option = poll.options.first().id
    first, second = make_codes(poll, 2)
    services.check_ballot(poll.id, first, option)  # opens the connection

    closed = server_closes_our_connection()
    checked = services.check_ballot(poll.id, first, option)
    assert checked.option.id == option and backend_pid() != closed

    closed = server_closes_our_connection()
    tracker = codes.new_tracker()
    assert services.cast_ballot(poll.id, first, option, tracker=tracker) == tracker
    assert backend_pid() != closed and used(first)

    # Without a tracker shown beforehand, Django's health check finds the closed connection first.
    closed = server_closes_our_connection()
    services.cast_ballot(poll.id, second, option)
    assert backend_pid() != closed and used(second)
    assert InboxBallot.objects.filter(poll=poll).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_confirmed_cast_sent_twice_is_recorded_once():
    """What makes it repeatable: the second sending of a committed cast finds the code used."""
    poll = make_poll()
    option = poll.options.first().id
    code = make_codes(poll, 1)[0]
    tracker = codes.new_tracker()
    services.cast_ballot(poll.id, code, option, tracker=tracker)
    with pytest.raises(services.CodeAlreadyUsed):
        services.cast_ballot(poll.id, code, option, tracker=tracker)
    assert InboxBallot.objects.filter(poll=poll).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_round_trip_saved(monkeypatch):
    """On a healthy connection a new request's check, and its confirmed cast, send no SELECT 1;
    a cast without a tracker shown beforehand does."""
    poll = make_poll()
    option = poll.options.first().id
    first, second = make_codes(poll, 2)
    services.check_ballot(poll.id, first, option)
    health_checks = []
    wrapper = type(connection._connections[connection._alias])  # Django's DatabaseWrapper
    real = wrapper.is_usable
    monkeypatch.setattr(wrapper, "is_usable", lambda self: health_checks.append(1) or real(self))

    def request(statement):
        connection.close_if_unusable_or_obsolete()  # as request_started does
        before = len(health_checks)
        statement()
        return len(health_checks) - before

    assert request(lambda: services.check_ballot(poll.id, first, option)) == 0
    assert request(lambda: services.cast_ballot(poll.id, first, option, tracker=codes.new_tracker())) == 0
    assert request(lambda: services.cast_ballot(poll.id, second, option)) == 1
