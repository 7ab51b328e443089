from django.contrib import admin

from referendum.admin import ReadOnlyAdmin

from .models import LedgerEntry, OptionCount, PollHead, Snapshot


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["id", "poll", "taken_at", "position", "total", "is_final"]
    list_filter = ["poll"]


@admin.register(PollHead)
class PollHeadAdmin(ReadOnlyAdmin):
    list_display = ["poll", "position", "sealed_at"]


@admin.register(OptionCount)
class OptionCountAdmin(ReadOnlyAdmin):
    list_display = ["poll", "option", "count"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["poll", "position", "option"]
    list_filter = ["poll"]
