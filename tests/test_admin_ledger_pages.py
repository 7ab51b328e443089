"""The admin's ledger change list finds its pages by key, not OFFSET (issue 13: its last page took
half a second at a million entries), and shows exactly the rows Django's own pagination shows:
same order, same rows, on the first, middle and last pages, filtered by poll or not; whenever the
shortcut cannot be sure (another ordering, a gap in a poll's positions), the pages are Django's."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tallying.admin import LedgerPaginator
from tallying.models import LedgerEntry
from tests.console import make_organizer, verified_client
from tests.factories import make_poll, make_region
from tests.sealing import insert_ballots

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

# Several polls, one smaller than a page (a page spans three polls), 4,041 entries: 41 pages of 100.
SIZES = [1234, 57, 2100, 650]
LIST = "/admin/tallying/ledgerentry/"


@pytest.fixture
def polls(db):
    made = []
    for i, size in enumerate(SIZES):
        poll = make_poll(region=make_region(slug=f"region-{i}", name_en=f"Region {i}", name_ru=f"Регион {i}"))
        insert_ballots(poll, size, sealed=True)
        made.append(poll)
    return made


@pytest.fixture
def client(db):
    organizer, device = make_organizer("coordinator", role="coordinator")
    organizer.user.is_staff = organizer.user.is_superuser = True
    organizer.user.save()
    return verified_client(organizer, device)


def djangos_page(number, per_page=100, orphans=0, **filters):
    """The ids Django's own Paginator (LIMIT/OFFSET) puts on a page of the admin's ordering."""
    queryset = LedgerEntry.objects.filter(**filters).order_by("poll_id", "position")
    return [e.id for e in Paginator(queryset, per_page, orphans=orphans).page(number).object_list]


def shown(client, query=""):
    """(ids on the page, the change list) of one admin page."""
    response = client.get(LIST + query)
    assert response.status_code == 200
    cl = response.context["cl"]
    return [e.id for e in cl.result_list], cl


def ledger_queries(queries):
    return [q["sql"] for q in queries if 'FROM "tallying_ledgerentry"' in q["sql"]]


@pytest.mark.parametrize("poll_index", [None, 0, 1, 2])
def test_first_middle_and_last_pages_show_djangos_rows(client, polls, poll_index):
    filters = {} if poll_index is None else {"poll_id": polls[poll_index].id}
    total = LedgerEntry.objects.filter(**filters).count()
    last = max(1, -(-total // 100))
    query = "" if poll_index is None else f"poll__id__exact={polls[poll_index].id}&"
    for number in sorted({1, 2, last // 2, last // 2 + 1, last - 1, last} & set(range(1, last + 1))):
        ids, cl = shown(client, f"?{query}p={number}")
        assert isinstance(cl.paginator, LedgerPaginator) and cl.paginator.keyed
        assert cl.result_count == total
        assert ids == djangos_page(number, **filters), number
        assert len(ids) == (total - 100 * (last - 1) if number == last else 100)


def test_every_page_equals_djangos_whatever_the_page_size(polls):
    """Page sizes that put page boundaries everywhere (in a poll, at a poll's end, across the small
    poll), with orphans folded into the last page."""
    queryset = LedgerEntry.objects.select_related("poll__region", "option").order_by("poll_id", "position")
    for per_page, orphans in [(100, 0), (57, 0), (1234, 0), (1291, 0), (333, 40), (4041, 0), (5000, 0)]:
        paginator = LedgerPaginator(queryset, per_page, orphans=orphans)
        reference = Paginator(queryset, per_page, orphans=orphans)
        assert paginator.keyed and paginator.count == reference.count == sum(SIZES)
        assert paginator.num_pages == reference.num_pages
        for number in paginator.page_range:
            page = paginator.page(number)
            assert [e.id for e in page] == [e.id for e in reference.page(number)], (per_page, number)
            assert (page.start_index(), page.end_index()) == (reference.page(number).start_index(),
                                                              reference.page(number).end_index())


def test_no_entries_is_one_empty_page(db):
    paginator = LedgerPaginator(LedgerEntry.objects.order_by("poll_id", "position"), 100)
    assert paginator.count == 0 and paginator.keyed and list(paginator.page(1)) == []


def test_the_last_page_reads_the_index_from_its_key_in_a_fixed_number_of_queries(client, polls):
    with CaptureQueriesContext(connection) as first:
        shown(client, "?p=1")
    with CaptureQueriesContext(connection) as last:
        ids, _cl = shown(client, "?p=41")
    assert ids == djangos_page(41)
    assert len(last) == len(first) <= 16
    sql = ledger_queries(last)
    assert len(sql) == 2, sql  # the per-poll counts (no second count of every entry), the page
    assert "GROUP BY" in sql[0] and "OFFSET" not in sql[1]
    assert f'("tallying_ledgerentry"."poll_id", "tallying_ledgerentry"."position") >= ({polls[-1].id}, 610)' in sql[1]
    assert sql[1].endswith('ORDER BY "tallying_ledgerentry"."poll_id" ASC, "tallying_ledgerentry"."position" ASC'
                           " LIMIT 41")
    with CaptureQueriesContext(connection) as filtered:
        ids, _cl = shown(client, f"?poll__id__exact={polls[2].id}&p=21")
    assert ids == djangos_page(21, poll_id=polls[2].id)
    assert len(filtered) == len(first)
    assert "OFFSET" not in ledger_queries(filtered)[1]


def test_another_ordering_is_djangos_offset(client, polls):
    """Sorted by a column (here position, then poll), the pages are Django's own, OFFSET and all."""
    with CaptureQueriesContext(connection) as queries:
        ids, cl = shown(client, "?o=1.0&p=3")
    assert not cl.paginator.keyed
    assert any("OFFSET 200" in sql for sql in ledger_queries(queries))
    assert tuple(cl.queryset.query.order_by)[:1] == ("position",)
    expected = LedgerEntry.objects.order_by(*cl.queryset.query.order_by)
    assert ids == [e.id for e in Paginator(expected, 100).page(3).object_list]


def test_a_gap_in_a_polls_positions_falls_back_to_offset(client, polls):
    """Sealing never leaves one, but the pages do not depend on it."""
    LedgerEntry.objects.filter(poll=polls[0], position=10).delete()
    with CaptureQueriesContext(connection) as queries:
        ids, cl = shown(client, "?p=30")
    assert cl.paginator.polls is not None and not cl.paginator.keyed
    assert cl.result_count == sum(SIZES) - 1
    assert any("OFFSET 2900" in sql for sql in ledger_queries(queries))
    assert ids == djangos_page(30)
    # Another poll, without a gap, still goes by key.
    ids, cl = shown(client, f"?poll__id__exact={polls[2].id}&p=21")
    assert cl.paginator.keyed and ids == djangos_page(21, poll_id=polls[2].id)
