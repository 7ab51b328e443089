"""Observer pages: live results of every region, and one region's full time series."""

from datetime import datetime

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ballots.queries import public_polls
from referendum.responses import refuse

from . import charts, queries


def _in_russian():
    return (get_language() or "en").startswith("ru")


def _card(poll, now, series=None):
    tally = queries.tally_for_poll(poll)
    total = tally["total"]
    rows = [
        {
            "option": c["option"],
            "label": c["label_ru"] if _in_russian() else c["label_en"],
            "count": c["count"],
            "percent": round(100 * c["count"] / total, 1) if total else 0,
        }
        for c in tally["counts"]
    ]
    as_of = datetime.fromisoformat(tally["as_of"]) if tally.get("as_of") else None
    if series is None:
        series = queries.turnout_series(poll)
    title = _("Ballots counted over time in %(region)s") % {"region": poll.region.name}
    return {
        "poll": poll,
        "phase": poll.phase(now),
        "rows": rows,
        "total": total,
        "head": tally["head"],
        "as_of": as_of,
        "age": int((now - as_of).total_seconds()) if as_of else None,
        "chart": charts.turnout_line(series, title),
        "points": [
            {"when": datetime.fromisoformat(p["taken_at"]), "total": p["total"], "position": p["position"]}
            for p in reversed(series)
        ],
    }


@require_GET
def results(request):
    now = timezone.now()
    cards = [_card(poll, now) for poll in public_polls()]
    return render(request, "tallying/results.html", {"cards": cards, "now": now})


@require_GET
def region_results(request, slug):
    now = timezone.now()
    polls = [poll for poll in public_polls() if poll.region.slug == slug]
    if not polls:
        return refuse(request, 404, "not_found", _("There is no such region."))
    cards = [_card(poll, now) for poll in polls]
    return render(request, "tallying/region.html", {"cards": cards, "region": polls[0].region, "now": now})
