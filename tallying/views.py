"""Observer pages: live results of every region, and one region's full time series."""

from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ballots import blind, codes
from ballots.forms import malformed_tracker_message
from ballots.queries import managed_poll, public_poll, public_polls
from ballots.services import actor_for
from referendum import limits
from referendum.responses import refuse
from regions.access import console_required

from . import charts, previews, queries, responses, services, tasks


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
        "received": tally["received"],
        "waiting": tally["waiting"],
        "publish_min_ballots": tally["publish_min_ballots"],
        "head": tally["head"],
        "as_of": as_of,
        "age": int((now - as_of).total_seconds()) if as_of else None,
        "final": datetime.fromisoformat(tally["final"]) if tally.get("final") else None,
        "after_final": tally.get("after_final", 0),
        "chart": charts.turnout_line(series, title),
        "points": [
            {"when": datetime.fromisoformat(p["taken_at"]), "total": p["total"], "position": p["position"]}
            for p in reversed(series)
        ],
    }


def _lang():
    return "ru" if _in_russian() else "en"


def _preview(request, title, description, image_url, polls):
    return {
        "title": title,
        "description": description,
        "image": request.build_absolute_uri(image_url) + "?v=" + previews.version(polls),
        "image_alt": description,
    }


@require_GET
@responses.cached_page
def results(request):
    with queries.one_tally_per_poll():
        return _results(request)


def _results(request):
    now = timezone.now()
    polls = list(public_polls())
    cards = [_card(poll, now) for poll in polls]
    summary = "; ".join(previews.summary(previews.figures(poll)) for poll in polls)
    preview = _preview(
        request, " · ".join([_("Live results"), _("Referendum")]), summary or _("No referendum is published yet."),
        reverse("results-preview", args=[_lang()]), polls,
    )
    return render(request, "tallying/results.html", {"cards": cards, "now": now, "preview": preview})


def _region_polls(slug):
    return [poll for poll in public_polls() if poll.region.slug == slug]


@require_GET
@responses.cached_page
def region_results(request, slug):
    with queries.one_tally_per_poll():
        return _region_results(request, slug)


def _region_results(request, slug):
    now = timezone.now()
    polls = _region_polls(slug)
    if not polls:
        return refuse(request, 404, "not_found", _("There is no such region."))
    cards = [_card(poll, now) for poll in polls]
    poll = polls[-1]
    preview = _preview(
        request, " · ".join([poll.region.name, _("Results"), _("Referendum")]),
        previews.description(previews.figures(poll)), reverse("region-preview", args=[slug, _lang()]), [poll],
    )
    return render(request, "tallying/region.html",
                  {"cards": cards, "region": polls[0].region, "now": now, "preview": preview})


def _png(request, png):
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = f"public, max-age={previews.PREVIEW_CACHE_SECONDS}"
    return response


def _preview_language(lang):
    if lang not in dict(settings.LANGUAGES):
        raise Http404
    return lang


@require_GET
def results_preview(request, lang):
    """The link-preview image of the results page (og:image), in one language."""
    return _png(request, previews.overview_png(list(public_polls()), _preview_language(lang)))


@require_GET
def region_preview(request, slug, lang):
    """The link-preview image of a region's results page: its latest public poll."""
    lang = _preview_language(lang)
    polls = _region_polls(slug)
    if not polls:
        raise Http404
    return _png(request, previews.poll_png(polls[-1], lang))


@require_GET
def ledger(request, poll_id):
    """The ledger for people: 100 entries a page, oldest first."""
    poll = public_poll(poll_id)
    if poll is None:
        return refuse(request, 404, "not_found", _("There is no such referendum."))
    try:
        after = max(0, int(request.GET.get("after", 0)))
    except ValueError:
        after = 0
    labels = {o.id: o.label for o in poll.options.all()}
    entries = [dict(e, label=labels.get(e["option"], e["option"])) for e in queries.ledger_page(poll, after, 100)]
    return render(request, "tallying/ledger.html", {
        "poll": poll, "entries": entries, "after": after,
        "next_after": entries[-1]["position"] if len(entries) == 100 else None,
        "previous_after": max(0, after - 100) if after else None,
    })


class TrackerForm(forms.Form):
    tracker = forms.CharField(
        label=gettext_lazy("Tracker code from your receipt"), max_length=80,
        error_messages={"required": gettext_lazy("Please enter the tracker code from your receipt.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


@never_cache
@limits.limit_value_and_prefix("receipt", limits.tracker_key, limits.tracker_prefix_key,
                               limits.setting("RECEIPT_RATE_PER_TRACKER"), limits.tracker_known)
@limits.limit("receipt", limits.session_key, limits.setting("RECEIPT_RATE_PER_SESSION"))
@limits.backstop("receipt")
def verify_receipt(request):
    """Where a receipt's ballot stands. POST only, so the tracker never appears in a URL or a
    log line; nothing about the lookup is stored."""
    form = TrackerForm(request.POST or None)
    result, status = None, 200
    if request.method == "POST" and form.is_valid():
        try:
            tracker = codes.normalize_tracker(form.cleaned_data["tracker"])
        except codes.MalformedValue as error:
            form.add_error("tracker", malformed_tracker_message(error))
            status = 400
        else:
            result = queries.receipt_status(codes.hash_tracker(tracker)) or "not_published"
            if result != "not_published":
                options = list(result["poll"].options.all())
                chosen = next(o for o in options if o.id == result["entry"]["option"])
                # One length whatever the answer (ballots/blind.py).
                result["label"] = blind.padded_label(chosen, options)
    elif form.errors:
        status = 400
    context = {"form": form, "result": result, "publish_min_ballots": settings.PUBLISH_MIN_BALLOTS}
    return render(request, "tallying/verify.html", context, status=status)


def publications_are_the_sealers():
    """This web node connects as the app role of a split set-up (DATABASE_SEALER_ROLE): it may
    not write publications, so a Celery worker publishes for it."""
    from django.db import connection

    return bool(settings.DATABASE_SEALER_ROLE) and connection.settings_dict["USER"] == settings.DATABASE_APP_ROLE


@require_POST
@console_required
def console_publish(request, poll_id):
    """A coordinator publishes the final result of a closed, fully sealed poll."""
    poll = managed_poll(request.organizer, poll_id)
    if poll is None:
        raise Http404
    if request.organizer.role != request.organizer.Role.COORDINATOR:
        return refuse(request, 403, "not_allowed", _("Only a coordinator can publish the final result."))
    if publications_are_the_sealers():
        actor = actor_for(request.organizer)
        transaction.on_commit(lambda: tasks.publish_final_task.delay(poll.id, actor.role, actor.pseudonym))
        messages.success(request, _("The final result is being published: it appears within seconds."))
        return redirect("console-poll", poll.id)
    try:
        services.publish_final(poll.id, actor_for(request.organizer))
    except services.PublishRefused as refusal:
        messages.error(request, refusal.message)
        return redirect("console-poll", poll.id)
    messages.success(request, _("The final result is published."))
    return redirect("console-poll", poll.id)
