from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Count, F, Max, Min
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThanOrEqual
from django.db.models.sql.datastructures import Join
from django.utils.functional import cached_property

from referendum.admin import ReadOnlyAdmin

from .models import LedgerEntry, OptionCount, PollHead, Snapshot

KEY = ("poll_id", "position")


def plain_ledger_in_key_order(queryset):
    """Whether every row of `queryset` is one ledger entry, once, in (poll_id, position) order.

    Ordered first by (poll_id, position), a unique key, any later term changes nothing (the change
    list repeats the admin's ordering after its own). Filters on the ledger's own columns and joins
    along foreign keys (select_related, a filter through the poll) keep that; another ordering,
    DISTINCT, GROUP BY, extra(), a slice, a union or a join that can repeat rows (a reverse or
    many-to-many relation) may not.
    """
    query = queryset.query
    return (
        tuple(query.order_by[:2]) == KEY and not query.extra_order_by and not query.distinct
        and query.group_by is None and not query.extra and not query.is_sliced and query.combinator is None
        and all(not isinstance(join, Join) or join.join_field.many_to_one or join.join_field.one_to_one
                for join in query.alias_map.values())
    )


class LedgerPaginator(Paginator):
    """Django's pages of the ledger in (poll, position) order, each found by its key instead of an OFFSET.

    Django's page k is `LIMIT per_page OFFSET (k - 1) * per_page`: PostgreSQL reads and drops every
    earlier entry (half a second for the last page of a million). But the rows of a poll whose
    positions run first..last without a gap sit at known offsets, the i-th (from 0) at position
    first + i. One grouped query over the (poll_id, position) index gives every poll's count, first
    and last position (their sum is the paginator's count, which Django asks for anyway); a page then
    starts at the poll and position its offset lands on, `WHERE (poll_id, position) >= (p, s) ORDER BY
    poll_id, position LIMIT per_page`: an index range, the same rows as the OFFSET.

    Positions are unique per poll (a constraint) and sealing writes them 1, 2, 3, …, but the pages do
    not depend on it: if any poll's count is not last - first + 1, or the queryset is not plainly the
    ledger in (poll_id, position) order (see plain_ledger_in_key_order), the pages are Django's own.
    """

    @cached_property
    def polls(self):
        """[(poll_id, count, first position, last position)] in poll order, or None (no shortcut)."""
        if not plain_ledger_in_key_order(self.object_list):
            return None
        return list(
            self.object_list.order_by().values_list("poll_id")
            .annotate(n=Count("*"), first=Min("position"), last=Max("position")).order_by("poll_id")
        )

    @cached_property
    def keyed(self):
        """Whether every poll's positions on these pages run without a gap."""
        return self.polls is not None and all(n == last - first + 1 for _poll, n, first, last in self.polls)

    @cached_property
    def count(self):
        return super().count if self.polls is None else sum(n for _poll, n, _first, _last in self.polls)

    def page(self, number):
        number = self.validate_number(number)
        if not self.keyed:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        key = self.key_at(bottom)
        if key is None:  # no entry at all: the empty first page
            return super().page(number)
        start = TupleGreaterThanOrEqual(Tuple(F("poll_id"), F("position")), key)
        return self._get_page(self.object_list.filter(start)[: top - bottom], number, self)

    def key_at(self, offset):
        """(poll_id, position) of the entry `offset` rows from the first, or None past the last."""
        for poll_id, n, first, _last in self.polls:
            if offset < n:
                return poll_id, first + offset
            offset -= n
        return None


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["id", "poll", "taken_at", "position", "total", "is_final"]
    list_select_related = ["poll__region"]  # a poll's name shows its region's
    # The (poll, taken_at) index; "poll" would sort every snapshot by the poll's region first.
    ordering = ["poll_id", "taken_at", "id"]
    list_filter = ["poll"]


@admin.register(PollHead)
class PollHeadAdmin(ReadOnlyAdmin):
    list_display = ["poll", "position", "sealed_at"]
    list_select_related = ["poll__region"]


@admin.register(OptionCount)
class OptionCountAdmin(ReadOnlyAdmin):
    list_display = ["poll", "option", "count"]
    list_select_related = ["poll__region", "option"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["poll", "position", "option"]
    list_select_related = ["poll__region", "option"]
    # The (poll, position) index: by id, a poll's page walked past every later poll's entries.
    ordering = list(KEY)
    list_filter = ["poll"]
    paginator = LedgerPaginator
    # The unfiltered count beside a filtered one is only shown by the search form, and there is none:
    # it would be a second count of every entry (40 ms at a million) for nothing on the page.
    show_full_result_count = False
