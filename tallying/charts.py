"""Server-side SVG charts of our own: no third-party library, no script, no inline style.

Every chart is decoration beside an HTML table that carries the same numbers (Tor Browser's
"Safest" level turns SVG off).
"""

from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 320, 140
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 8, 10, 24


def _parse(value):
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _nice_ceiling(value):
    """A round axis maximum at or above value (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def turnout_line(series, title):
    """Ballots counted over time as steps, from snapshot_series() points; '' if fewer than two."""
    points = [(_parse(p["taken_at"]), p["total"]) for p in series]
    if len(points) < 2:
        return ""
    start, end = points[0][0], points[-1][0]
    span = max((end - start).total_seconds(), 1)
    top = _nice_ceiling(max(total for _, total in points))
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def xy(when, total):
        x = PAD_LEFT + inner_w * (when - start).total_seconds() / span
        y = PAD_TOP + inner_h * (1 - total / top)
        return f"{x:.1f},{y:.1f}"

    # Counts move in steps (a publication adds at least K ballots at once): a stair, not a slope.
    stairs = [points[0]]
    for (_, before), (when, total) in zip(points, points[1:], strict=False):
        stairs += [(when, before), (when, total)]
    line = " ".join(xy(when, total) for when, total in stairs)
    area = f"{PAD_LEFT},{PAD_TOP + inner_h} {line} {PAD_LEFT + inner_w},{PAD_TOP + inner_h}"
    base_y = PAD_TOP + inner_h
    parts = [
        f'<svg class="chart turnout" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{base_y}" x2="{PAD_LEFT + inner_w}" y2="{base_y}"/>',
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base_y}"/>',
        f'<line class="grid" x1="{PAD_LEFT}" y1="{PAD_TOP + inner_h / 2:.1f}" x2="{PAD_LEFT + inner_w}" '
        f'y2="{PAD_TOP + inner_h / 2:.1f}"/>',
        f'<polygon class="area" points="{area}"/>',
        f'<polyline class="line" points="{line}"/>',
        f'<text class="label" x="{PAD_LEFT - 5}" y="{PAD_TOP + 5}" text-anchor="end">{top:,}</text>',
        f'<text class="label" x="{PAD_LEFT - 6}" y="{PAD_TOP + inner_h / 2 + 4:.1f}" text-anchor="end">'
        f"{top // 2:,}</text>",
        f'<text class="label" x="{PAD_LEFT - 6}" y="{base_y}" text-anchor="end">0</text>',
        f'<text class="label" x="{PAD_LEFT}" y="{HEIGHT - 8}">{start:%d.%m %H:%M}</text>',
        f'<text class="label" x="{PAD_LEFT + inner_w}" y="{HEIGHT - 8}" text-anchor="end">{end:%d.%m %H:%M}</text>',
        "</svg>",
    ]
    return mark_safe("".join(parts))  # noqa: S308 — every interpolated text is escaped or numeric
