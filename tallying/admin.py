from django.contrib import admin

from referendum.admin import ReadOnlyAdmin

from .models import LedgerEntry, OptionCount, PollHead, Snapshot


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
    ordering = ["poll_id", "position"]
    list_filter = ["poll"]
