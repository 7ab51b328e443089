"""Bounded work: a web request's statement that runs too long is cancelled by PostgreSQL
(STATEMENT_TIMEOUT_MS) and the user gets a clear 503 in their language; nothing is recorded.
Workers and commands use WORKER_STATEMENT_TIMEOUT_MS (none by default) so sealing is never cut."""

import json

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client

from ballots import codes
from ballots.models import Credential, InboxBallot
from referendum.database import use_statement_timeout, use_worker_statement_timeout
from tests.factories import make_codes, make_poll

SHORT_MS = 300


@pytest.fixture
def short_web_timeout():
    use_statement_timeout(SHORT_MS)
    yield
    use_statement_timeout(settings.STATEMENT_TIMEOUT_MS)


@pytest.fixture
def locked_credential(transactional_db, close_thread_connections):
    """A code whose credential row another session holds locked, so a cast waits on it: a real
    slow statement (a lock wait), no test-only path in the application."""
    poll = make_poll()
    code = make_codes(poll, 1)[0]
    code_hash = codes.hash_code(codes.normalize_code(code))
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    other = psycopg.connect(**params, autocommit=False)
    other.execute("SELECT id FROM ballots_credential WHERE code_hash = %s FOR UPDATE", [code_hash])
    yield poll, code
    other.rollback()
    other.close()


def test_web_connections_use_the_configured_timeout(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")  # in ms
        assert int(cursor.fetchone()[0]) == settings.STATEMENT_TIMEOUT_MS


def test_a_slow_json_cast_is_cancelled_with_a_503_in_russian(locked_credential, short_web_timeout):
    poll, code = locked_credential
    option = poll.options.first()
    response = Client().post(
        f"/api/v1/polls/{poll.id}/ballots", json.dumps({"code": code, "option": option.id}),
        content_type="application/json", HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "timeout"
    assert "Ничего не записано" in body["message"]
    assert response["Retry-After"] == "60"
    assert InboxBallot.objects.count() == 0
    assert not Credential.objects.get(poll=poll).used


def test_a_slow_form_cast_is_cancelled_with_a_503_page(locked_credential, short_web_timeout):
    poll, code = locked_credential
    option = poll.options.first()
    response = Client().post(f"/polls/{poll.id}/cast", {"code": code, "option": option.id})
    assert response.status_code == 503
    assert b"took too long" in response.content and b"Nothing was recorded" in response.content
    assert InboxBallot.objects.count() == 0


def test_the_cast_goes_through_once_the_lock_is_gone(transactional_db, short_web_timeout):
    poll = make_poll()
    code = make_codes(poll, 1)[0]
    response = Client().post(
        f"/api/v1/polls/{poll.id}/ballots", json.dumps({"code": code, "option": poll.options.first().id}),
        content_type="application/json",
    )
    assert response.status_code == 201


def test_workers_and_commands_are_not_cut_by_the_web_timeout(transactional_db, short_web_timeout):
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [2 * SHORT_MS / 1000])
    use_worker_statement_timeout()  # what the Celery worker_init signal and manage.py do
    with connection.cursor() as cursor:
        cursor.execute("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
        assert int(cursor.fetchone()[0]) == settings.WORKER_STATEMENT_TIMEOUT_MS
        cursor.execute("SELECT pg_sleep(%s)", [2 * SHORT_MS / 1000])
