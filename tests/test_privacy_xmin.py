"""What PostgreSQL stores beside our columns must not link a ballot to its credential:
after sealing and VACUUM no ballot row's xmin equals a credential row's xmin or xmax."""

import pytest
from django.db import connection

from tallying.services import seal_until_caught_up
from tests.factories import make_poll
from tests.sealing import cast_many


def system_columns(table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text, xmax::text, ctid::text FROM {table}")  # noqa: S608 — fixed names
        return cursor.fetchall()


def transaction_ids(rows, which):
    return {row[which] for row in rows if row[which] != "0"}


@pytest.mark.django_db(transaction=True)
def test_sealing_and_vacuum_leave_no_shared_transaction_ids():
    poll = make_poll()
    cast_many(poll, 25)

    ballots = system_columns("ballots_ballot")
    credentials = system_columns("ballots_credential")
    # Before sealing the link exists: the cast wrote the ballot and marked the code in one transaction.
    assert transaction_ids(ballots, 0) & transaction_ids(credentials, 0)

    seal_until_caught_up(poll.id, batch_size=10)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ballots_ballot, ballots_credential")

    ballots = system_columns("ballots_ballot")
    credentials = system_columns("ballots_credential")
    assert len(ballots) == 25
    ballot_xmins = transaction_ids(ballots, 0)
    credential_ids = transaction_ids(credentials, 0) | transaction_ids(credentials, 1)
    assert not ballot_xmins & credential_ids
    assert not transaction_ids(ballots, 1) & credential_ids
