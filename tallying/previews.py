"""Link previews: the PNG a messenger shows beside a link to the results (Open Graph og:image).

Drawn by our own code with Pillow, in the page's language, with DejaVu Sans shipped in
tallying/fonts (it covers Cyrillic; licence beside it). 1200×630, the size Telegram, VK and
others show. An image depends only on published figures (the ledger head of each poll) and the
received count; it is cached per publication and for at most PREVIEW_CACHE_SECONDS, so a flood
of link unfurls costs one drawing per poll, language and publication.
"""

import functools
import io
import textwrap
from datetime import datetime
from pathlib import Path

from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

from . import queries

WIDTH, HEIGHT = 1200, 630
PREVIEW_CACHE_SECONDS = 60
FONTS = Path(__file__).resolve().parent / "fonts"
INK, MUTED, BACKGROUND, BAND, ACCENT, TRACK = "#1b1f24", "#5b6470", "#f4f1ea", "#14324a", "#1f5f8b", "#ddd6c8"
ANSWER_COLOURS = ["#1f5f8b", "#b26a00", "#2e7d32", "#7b3f8c", "#b3261e", "#5b6470"]


@functools.lru_cache(maxsize=32)
def _font(size, bold=False):
    return ImageFont.truetype(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), size)


def figures(poll):
    """What an image of the poll shows, in the active language."""
    tally = queries.tally_for_poll(poll)
    counted = tally["counted"]
    in_russian = (translation.get_language() or "en").startswith("ru")
    rows = [
        {
            "label": c["label_ru"] if in_russian else c["label_en"],
            "count": c["count"],
            "percent": 100 * c["count"] / counted if counted else 0.0,
        }
        for c in tally["counts"]
    ]
    return {
        "poll": poll,
        "region": poll.region.name,
        "question": poll.question,
        "rows": rows,
        "counted": counted,
        "received": tally["received"],
        "position": tally["head"]["position"],
        "as_of": datetime.fromisoformat(tally["as_of"]) if tally.get("as_of") else None,
        "final": bool(tally.get("final")),
        "phase": tally["state"],
    }


def _number(value):
    text = f"{value:,}"
    return text.replace(",", "\u202f") if translation.get_language() == "ru" else text


def _percent(value):
    text = f"{value:.1f}"
    return f"{text.replace('.', ',')}\u202f%" if translation.get_language() == "ru" else f"{text}%"


def _fit(draw, text, font, width):
    """The text cut with an ellipsis so that it fits in `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(draw, text, font, width, lines):
    """At most `lines` lines of text within `width` pixels (the last cut with an ellipsis)."""
    out, words = [], text.split()
    while words and len(out) < lines:
        line = words.pop(0)
        while words and draw.textlength(f"{line} {words[0]}", font=font) <= width:
            line = f"{line} {words.pop(0)}"
        out.append(line)
    if words:
        out[-1] = _fit(draw, out[-1] + " " + " ".join(words), font, width)
    return [_fit(draw, line, font, width) for line in out]


def _canvas(title):
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, WIDTH, 104], fill=BAND)
    draw.text((56, 52), _fit(draw, title, _font(46, bold=True), WIDTH - 112), font=_font(46, bold=True),
              fill="#ffffff", anchor="lm")
    return image, draw


def _footer(draw, counted, received, as_of, final):
    y = HEIGHT - 92
    draw.line([56, y - 22, WIDTH - 56, y - 22], fill=TRACK, width=2)
    text = _("Ballots counted: %(counted)s   ·   received: %(received)s") % {
        "counted": _number(counted), "received": _number(received),
    }
    draw.text((56, y), _fit(draw, text, _font(32, bold=True), WIDTH - 112), font=_font(32, bold=True), fill=INK)
    when = as_of.strftime("%Y-%m-%d %H:%M UTC") if as_of else "—"
    label = _("Final result") if final else _("as of")
    note = f"{label} {when}"
    draw.text((56, y + 46), note, font=_font(26), fill=MUTED)


def _encode(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def draw_poll(data):
    """The image of one region's poll: question, each answer's share and count, totals, time."""
    site = _("Referendum")
    image, draw = _canvas(f"{site} · {data['region']}")
    y = 132
    for line in _wrap(draw, data["question"], _font(34, bold=True), WIDTH - 112, 2):
        draw.text((56, y), line, font=_font(34, bold=True), fill=INK)
        y += 44
    rows = sorted(data["rows"], key=lambda r: -r["count"])[:4]
    y += 24
    row_height = min(84, (HEIGHT - 140 - y) // max(len(rows), 1))
    label_font, value_font = _font(34), _font(34, bold=True)
    values = [f"{_percent(row['percent'])}  ({_number(row['count'])})" for row in rows]
    bar_left = 400
    bar_right = WIDTH - 80 - max((draw.textlength(v, font=value_font) for v in values), default=0)
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        draw.text((56, y), _fit(draw, row["label"], label_font, 330), font=label_font, fill=INK)
        draw.rounded_rectangle([bar_left, y + 6, bar_right, y + 40], radius=6, fill=TRACK)
        filled = bar_left + (bar_right - bar_left) * row["percent"] / 100
        if filled > bar_left + 1:
            draw.rounded_rectangle([bar_left, y + 6, filled, y + 40], radius=6,
                                   fill=ANSWER_COLOURS[index % len(ANSWER_COLOURS)])
        draw.text((WIDTH - 56, y), value, font=value_font, fill=INK, anchor="ra")
        y += row_height
    if not data["counted"]:
        draw.text((56, y), _("No ballot counted yet."), font=_font(28), fill=MUTED)
    _footer(draw, data["counted"], data["received"], data["as_of"], data["final"])
    return _encode(image)


def draw_overview(all_data):
    """The image of the results page: every region, its leading answers' shares and its totals."""
    site, page = _("Referendum"), _("Live results")
    image, draw = _canvas(f"{site} · {page}")
    shown = all_data[:6]
    y, row_height = 130, min(64, (HEIGHT - 130 - 130) // max(len(shown), 1))
    name_font, value_font = _font(30, bold=True), _font(26)
    for data in shown:
        draw.text((56, y), _fit(draw, data["region"], name_font, 270), font=name_font, fill=INK)
        bar_left, bar_right = 340, 720
        draw.rounded_rectangle([bar_left, y + 6, bar_right, y + 34], radius=6, fill=TRACK)
        left = bar_left
        for index, row in enumerate(data["rows"]):
            right = left + (bar_right - bar_left) * row["percent"] / 100
            if right > left + 1:
                draw.rectangle([left, y + 6, right, y + 34], fill=ANSWER_COLOURS[index % len(ANSWER_COLOURS)])
            left = right
        leader = max(data["rows"], key=lambda r: r["count"], default=None)
        summary = (
            f"{_fit(draw, leader['label'], value_font, 150)} {_percent(leader['percent'])}"
            if leader and data["counted"] else "—"
        )
        counted = _("%(counted)s counted") % {"counted": _number(data["counted"])}
        draw.text((WIDTH - 56, y + 4), _fit(draw, f"{summary} · {counted}", value_font, WIDTH - 56 - 760),
                  font=value_font, fill=INK, anchor="ra")
        y += row_height
    if not shown:
        draw.text((56, y), _("No referendum is published yet."), font=_font(28), fill=MUTED)
    as_of = max((d["as_of"] for d in all_data if d["as_of"]), default=None)
    _footer(draw, sum(d["counted"] for d in all_data), sum(d["received"] for d in all_data), as_of,
            bool(all_data) and all(d["final"] for d in all_data))
    return _encode(image)


def version(polls):
    """What the image depends on besides time: the ledger head of each poll (changes at each
    publication). Used in the og:image URL, so messengers fetch a new image after a publication."""
    return "-".join(f"{p.id}.{queries.tally_for_poll(p)['head']['position']}" for p in polls) or "0"


def _cached(key, build):
    png = cache.get(key)
    if png is None:
        png = build()
        cache.set(key, png, timeout=PREVIEW_CACHE_SECONDS)
    return png


def poll_png(poll, lang):
    with translation.override(lang):
        key = f"preview:poll:{poll.id}:{lang}:{version([poll])}:{poll.phase()}"
        return _cached(key, lambda: draw_poll(figures(poll)))


def overview_png(polls, lang):
    with translation.override(lang):
        key = f"preview:all:{lang}:{version(polls)}:{''.join(p.phase()[0] for p in polls)}"
        return _cached(key, lambda: draw_overview([figures(p) for p in polls]))


def summary(data):
    """One region in a line: its answers' shares and how many ballots are counted."""
    shares = ", ".join(f"{r['label']} {_percent(r['percent'])}" for r in data["rows"]) if data["counted"] else ""
    counted = _("%(counted)s counted") % {"counted": _number(data["counted"])}
    return f"{data['region']}: {shares} ({counted})" if shares else f"{data['region']}: {counted}"


def description(data):
    """A one-line summary for og:description: the answers' shares and the totals."""
    shares = ", ".join(f"{r['label']} {_percent(r['percent'])}" for r in data["rows"]) if data["counted"] else ""
    totals = _("%(counted)s counted, %(received)s received") % {
        "counted": _number(data["counted"]), "received": _number(data["received"]),
    }
    return textwrap.shorten(" · ".join(x for x in (data["question"], shares, totals) if x), 300, placeholder="…")
