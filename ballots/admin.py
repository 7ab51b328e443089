from django.contrib import admin

from .models import Option, Poll


class OptionInline(admin.TabularInline):
    model = Option
    extra = 0


@admin.register(Poll)
class PollAdmin(admin.ModelAdmin):
    list_display = ["id", "region", "question_en", "state", "opens_at", "closes_at"]
    list_filter = ["state", "region"]
    inlines = [OptionInline]
