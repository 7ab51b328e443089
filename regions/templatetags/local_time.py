"""Times as a region's voters read them: local time first, UTC next to it."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.utils.formats import date_format
from django.utils.html import format_html

register = template.Library()


def _zone(region):
    try:
        return ZoneInfo(getattr(region, "time_zone", "") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _offset(moment):
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


@register.simple_tag
def local_time(moment, region):
    """<time> with the region's local date and time and its offset, then the time in UTC (with the
    UTC date when it differs): "4 December 2026, 22:15 (UTC+7) · 15:15 UTC"."""
    if moment is None:
        return ""
    local = moment.astimezone(_zone(region))
    utc = moment.astimezone(UTC)
    utc_text = date_format(utc, "H:i" if utc.date() == local.date() else "j E, H:i") + " UTC"
    if local.utcoffset().total_seconds() == 0:
        return format_html('<time datetime="{}">{}</time>', moment.isoformat(), date_format(utc, "j E Y, H:i") + " UTC")
    return format_html(
        '<time datetime="{}">{} <span class="tz">({})</span> <span class="utc">· {}</span></time>',
        moment.isoformat(), date_format(local, "j E Y, H:i"), _offset(local), utc_text,
    )


@register.simple_tag
def local_time_iso(text, region):
    """local_time of an ISO 8601 text (as the audit log's details hold times); '' if not one."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return ""
    return local_time(moment, region)
