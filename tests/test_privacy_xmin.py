"""What PostgreSQL stores beside our columns must not link a ballot to its credential or to the
order of casting, read as someone who seized the database would: every tuple of every page,
live or dead, with pageinspect.

1,000 ballots are cast in a known order while sealing is held back, then one publication moves
them to the ledger. The ledger's heap order must carry no trace of the cast order, and after the
publication and the sealing run's own VACUUM of the inbox (the test runs none itself) no tuple of
the inbox or the ledger may carry the transaction id of a cast, which the credential's row
versions also carry.
"""

import random
import re

import pytest
from django.db import connection

from ballots import codes
from ballots.models import InboxBallot
from ballots.services import cast_ballot
from tallying.models import LedgerEntry
from tallying.services import seal_poll
from tests.factories import make_codes, make_poll

BALLOTS = 1000
BALLOT_TABLES = ("ballots_inboxballot", "tallying_ledgerentry")


def all_tuples(table):
    """(t_xmin, t_xmax, lp_flags) of every line pointer on every page of the table, dead ones too."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        cursor.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", [table])
        pages = cursor.fetchone()[0]
        rows = []
        for page in range(pages):
            cursor.execute(
                "SELECT t_xmin::text, t_xmax::text, lp_flags FROM heap_page_items(get_raw_page(%s, %s))",
                [table, page],
            )
            rows.extend(cursor.fetchall())
        return rows


def transaction_ids(rows, which):
    return {row[which] for row in rows if row[which] not in (None, "0")}


def heap_rank_of_trackers():
    """tracker hash → rank of its ledger row in physical (page, item) order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tracker_hash, ctid::text FROM tallying_ledgerentry")
        rows = [(bytes(t), tuple(int(n) for n in re.findall(r"\d+", ctid))) for t, ctid in cursor.fetchall()]
    return {tracker: rank for rank, (tracker, _ctid) in enumerate(sorted(rows, key=lambda row: row[1]))}


def spearman(ranks):
    """Spearman's rank correlation between 0..n-1 and a permutation of it."""
    n = len(ranks)
    return 1 - 6 * sum((i - r) ** 2 for i, r in enumerate(ranks)) / (n * (n * n - 1))


def mean_neighbour_distance(ranks):
    return sum(abs(a - b) for a, b in zip(ranks, ranks[1:], strict=False)) / (len(ranks) - 1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ledger_heap_order_and_tuples_keep_no_trace_of_casting(settings):
    settings.PUBLISH_MIN_BALLOTS = 100
    poll = make_poll()
    options = [o.id for o in poll.options.all()]
    trackers = [
        codes.hash_tracker(codes.normalize_tracker(cast_ballot(poll.id, code, options[i % len(options)])))
        for i, code in enumerate(make_codes(poll, BALLOTS))
    ]
    inbox = all_tuples("ballots_inboxballot")
    credentials = all_tuples("ballots_credential")
    # Before publication the link exists: the cast wrote the ballot and marked the code in one
    # transaction (this is what the test must see disappear).
    assert transaction_ids(inbox, 0) & transaction_ids(credentials, 0)

    assert seal_poll(poll.id) == BALLOTS
    assert not InboxBallot.objects.exists() and LedgerEntry.objects.filter(poll=poll).count() == BALLOTS

    # Heap order: the ledger's physical order is its (shuffled) position order, not cast order.
    heap_rank = heap_rank_of_trackers()
    ranks = [heap_rank[t] for t in trackers]
    rho = spearman(ranks)
    assert abs(rho) < 0.1, f"cast order shows in the ledger's heap order (Spearman {rho:.3f})"
    observed = mean_neighbour_distance(ranks)
    shuffled = list(range(BALLOTS))
    random.shuffle(shuffled)
    baseline = mean_neighbour_distance(shuffled)  # ≈ n/3 for random placement
    assert observed / baseline > 0.85, (
        f"consecutive casts lie closer in the heap ({observed:.0f}) than random placement ({baseline:.0f})"
    )
    positions = dict(LedgerEntry.objects.filter(poll=poll).values_list("tracker_hash", "position"))
    in_heap_order = sorted(trackers, key=heap_rank.get)
    assert [positions[t] for t in in_heap_order] == list(range(1, BALLOTS + 1))  # heap order = positions

    # Tuples: no ballot row version, live or dead, shares a transaction id with a credential's.
    credentials = all_tuples("ballots_credential")
    credential_ids = transaction_ids(credentials, 0) | transaction_ids(credentials, 1)
    assert len(transaction_ids(credentials, 0)) >= BALLOTS  # the casts' updates are there to find
    for table in BALLOT_TABLES:
        tuples = all_tuples(table)
        assert not transaction_ids(tuples, 0) & credential_ids, f"{table} shares an xmin with a credential"
        assert not transaction_ids(tuples, 1) & credential_ids, f"{table} shares an xmax with a credential"
    # The ledger's rows, all written by the one sealing transaction (the heap may also hold other
    # tests' rolled-back rows, dead, which are not this poll's).
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT xmin::text) FROM tallying_ledgerentry WHERE poll_id = %s",
                       [poll.id])
        assert cursor.fetchone() == (BALLOTS, 1)


def raw_pages(table):
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        cursor.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int", [table])
        pages = cursor.fetchone()[0]
        raw = b""
        for page in range(pages):
            cursor.execute("SELECT get_raw_page(%s, %s)", [table, page])
            raw += bytes(cursor.fetchone()[0])
        return raw


@pytest.mark.django_db(transaction=True)
def test_published_ballots_leave_no_bytes_in_the_inbox_pages_while_others_wait(settings):
    """A plain VACUUM frees a deleted tuple's line pointer but leaves its bytes (tracker hash and
    the header with the cast's xmin) in the page as long as live rows share it: an examiner reading
    raw pages would find them. The sealing run rewrites the inbox, so only waiting ballots remain."""
    settings.PUBLISH_MIN_BALLOTS = 20
    poll = make_poll()
    option = poll.options.first().id
    for code in make_codes(poll, 300):
        cast_ballot(poll.id, code, option)
    cast_sealed = {bytes(b) for b in InboxBallot.objects.values_list("sealed", flat=True)}
    assert seal_poll(poll.id, batch_size=200) == 200  # 100 keep waiting, on the same pages
    waiting = {bytes(b) for b in InboxBallot.objects.values_list("sealed", flat=True)}
    published = cast_sealed - waiting
    assert LedgerEntry.objects.filter(poll=poll).count() == len(published) == 200 and len(waiting) == 100
    raw = raw_pages("ballots_inboxballot")
    assert all(b in raw for b in waiting)  # the search does find what is there
    leftovers = [b for b in published if b in raw]
    assert not leftovers, f"{len(leftovers)} published ballots still readable in the inbox's pages"
