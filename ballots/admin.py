from django.contrib import admin

from referendum.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import AuditEntry, CodeBatch, InboxBallot, Option, Poll


class OptionInline(ReadOnlyInline):
    model = Option
    fields = ["ordering", "label_en", "label_ru"]


@admin.register(Poll)
class PollAdmin(ReadOnlyAdmin):
    list_display = ["id", "region", "question_en", "state", "opens_at", "closes_at"]
    list_filter = ["state", "region"]
    inlines = [OptionInline]


@admin.register(Option)
class OptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "poll", "label_en", "label_ru", "ordering"]
    list_select_related = ["poll__region"]


@admin.register(InboxBallot)
class InboxBallotAdmin(ReadOnlyAdmin):
    """Ballots accepted and not yet published: how many wait, never which answer (the admin is no
    place to watch answers arrive before they are published K at a time)."""

    list_display = ["id", "poll"]
    list_select_related = ["poll__region"]
    fields = ["id", "poll"]
    readonly_fields = fields
    list_filter = ["poll"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "organizer", "role", "poll", "action"]
    # poll may be null, so Django does not follow it by itself: one query per row otherwise.
    list_select_related = ["poll__region"]
    list_filter = ["action"]


@admin.register(CodeBatch)
class CodeBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "poll", "kind", "size", "issued", "status", "revoked_at"]
    list_select_related = ["poll__region"]  # a poll's name shows its region's
