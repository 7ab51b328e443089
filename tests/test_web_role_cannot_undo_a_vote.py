"""The web role (DATABASE_APP_ROLE) marks codes used and inserts sealed ballots, and nothing more
of a vote's state: it cannot set a used code unused (nor delete it), update the published counts or
the head, or insert a snapshot or a ledger entry. The sealer role (DATABASE_SEALER_ROLE) can
publish. Connected as each role for real, the way a stolen web node or worker would."""

import psycopg
import pytest
from django.conf import settings

from ballots.models import Credential
from ballots.services import cast_ballot
from tallying.services import seal_poll
from tests.factories import make_codes, make_poll
from tests.workers import app_database_url, sealer_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def refused(conn, statement, params=()):
    try:
        with conn.transaction():
            conn.execute(statement, params)
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.CheckViolation) as error:
        return type(error).__name__
    return None


def test_the_web_role_cannot_undo_or_rewrite_a_vote():
    assert settings.DATABASE_SEALER_ROLE, "the suite runs with publication split off (Makefile)"
    poll = make_poll()
    code, spare = make_codes(poll, 2)
    cast_ballot(poll.id, code, poll.options.first().id)
    assert seal_poll(poll.id) == 1
    used = Credential.objects.get(poll=poll, used=True).id
    with psycopg.connect(app_database_url(), autocommit=True) as web:
        assert refused(web, "UPDATE ballots_credential SET used = false WHERE id = %s", [used]) == "CheckViolation"
        assert refused(web, "DELETE FROM ballots_credential WHERE id = %s", [used]) == "CheckViolation"
        assert refused(web, "UPDATE tallying_optioncount SET count = count + 100") == "InsufficientPrivilege"
        assert refused(web, "UPDATE tallying_pollhead SET position = 0") == "InsufficientPrivilege"
        assert refused(web, "INSERT INTO tallying_snapshot (poll_id, taken_at, counts, total, position, head_hash,"
                            " statement, signature, is_final) SELECT poll_id, taken_at, counts, total, position,"
                            " head_hash, statement, signature, false FROM tallying_snapshot LIMIT 1") == "InsufficientPrivilege"
        assert refused(web, "INSERT INTO tallying_ledgerentry SELECT * FROM tallying_ledgerentry LIMIT 1") == "InsufficientPrivilege"
        # What a cast needs still works: an unused code marked used.
        assert refused(web, "UPDATE ballots_credential SET used = true WHERE poll_id = %s AND NOT used", [poll.id]) is None
    with psycopg.connect(sealer_database_url(), autocommit=True) as sealer:
        # The sealer publishes (counts and head), and still cannot undo a vote.
        assert refused(sealer, "UPDATE tallying_pollhead SET sealed_at = sealed_at WHERE poll_id = %s", [poll.id]) is None
        assert refused(sealer, "UPDATE tallying_optioncount SET count = count WHERE poll_id = %s", [poll.id]) is None
        assert refused(sealer, "UPDATE ballots_credential SET used = false WHERE id = %s", [used]) == "CheckViolation"
        assert refused(sealer, "UPDATE tallying_ledgerentry SET option_id = option_id") == "InsufficientPrivilege"
    assert spare
