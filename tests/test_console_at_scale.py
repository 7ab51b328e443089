"""The console with a poll as big as a few hours of the real vote: 20,000 ballots (10,000 in the
ledger, 10,000 waiting in the inbox) and 100,000 codes in two batches. /console/ once never
answered at 6,500 ballots and 60,000 codes (a COUNT(DISTINCT) over ballots × codes): the pages
must answer with a bounded number of queries, whatever the number of rows."""

import time

import pytest
from django.db import connection

from ballots.models import CodeBatch
from tallying.models import PollHead
from tests.console import make_organizer, verified_client
from tests.factories import make_poll
from tests.sealing import insert_ballots

CODES_PER_BATCH = 50_000
SEALED = WAITING = 10_000


@pytest.fixture
def big_poll(db):
    poll = make_poll()
    for _ in range(2):
        batch = CodeBatch.objects.create(poll=poll, size=CODES_PER_BATCH, issued=CODES_PER_BATCH,
                                         used_published=SEALED // 2)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ballots_credential (poll_id, batch_id, code_hash, used)"
                " SELECT %s, %s, sha256((%s || ':' || i)::bytea), i <= %s FROM generate_series(1, %s) AS i",
                [poll.id, batch.id, str(batch.id), (SEALED + WAITING) // 2, CODES_PER_BATCH],
            )
    insert_ballots(poll, SEALED, sealed=True)
    insert_ballots(poll, WAITING)
    PollHead.objects.create(poll=poll, position=SEALED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return poll


@pytest.mark.slow
@pytest.mark.parametrize("role", ["coordinator", "regional"])
def test_console_and_overview_answer_quickly_at_scale(big_poll, django_assert_max_num_queries, role):
    organizer, device = make_organizer(f"{role}-big", role=role, region_slugs=[big_poll.region.slug])
    client = verified_client(organizer, device)
    for path, limit in [("/console/", 10), (f"/console/polls/{big_poll.id}/", 14),
                        (f"/console/polls/{big_poll.id}/batches/", 12)]:
        started = time.perf_counter()
        with django_assert_max_num_queries(limit):
            response = client.get(path)
        elapsed = time.perf_counter() - started
        print(f"{role} {path}: {elapsed * 1000:.0f} ms")
        assert response.status_code == 200
        html = response.content.decode()
        if path != f"/console/polls/{big_poll.id}/batches/":
            assert f"{SEALED + WAITING:,}" in html or str(SEALED + WAITING) in html, path
        assert elapsed < 5, (path, elapsed)  # generous on a shared machine; the query bound is the test
