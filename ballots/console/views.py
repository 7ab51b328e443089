"""The organizer console: polls of the organizer's regions only (others answer 404)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from regions.access import console_required

from .. import queries, services
from ..errors import BallotError
from ..models import Poll
from .forms import CloseForm, ExtendForm, PauseForm, PollForm

# What each state allows, as shown on the overview; the services check again.
ACTIONS = {
    Poll.State.DRAFT: ["schedule", "open", "close"],
    Poll.State.SCHEDULED: ["open", "pause", "close"],
    Poll.State.OPEN: ["pause", "extend", "close"],
    Poll.State.PAUSED: ["resume", "extend", "close"],
    Poll.State.CLOSED: [],
}


def _poll_or_404(request, poll_id):
    poll = queries.managed_poll(request.organizer, poll_id)
    if poll is None:
        raise Http404
    return poll


@never_cache
@console_required
def console_home(request):
    polls = queries.with_figures(queries.managed_polls(request.organizer))
    return render(request, "console/home.html", {"polls": polls})


@never_cache
@console_required
def poll_new(request):
    form = PollForm(request.organizer, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            poll = services.create_poll(
                services.actor_for(request.organizer), data["region"], data["question_en"], data["question_ru"],
                form.answers(), data["opens_at"], data["closes_at"],
            )
        except BallotError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The poll was created as a draft."))
            return redirect("console-poll", poll.id)
    return render(request, "console/polls/form.html", {"form": form}, status=400 if form.errors else 200)


@never_cache
@console_required
def poll_edit(request, poll_id):
    poll = _poll_or_404(request, poll_id)
    if poll.state != Poll.State.DRAFT:
        messages.error(request, _("This poll is no longer a draft: its question and answers can no longer change."))
        return redirect("console-poll", poll.id)
    form = PollForm(request.organizer, request.POST or None, initial=PollForm.initial_for(poll), with_region=False)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.edit_poll(
                services.actor_for(request.organizer), poll.id, data["question_en"], data["question_ru"],
                form.answers(), data["opens_at"], data["closes_at"],
            )
        except BallotError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The draft was saved."))
            return redirect("console-poll", poll.id)
    return render(request, "console/polls/form.html", {"form": form, "poll": poll}, status=400 if form.errors else 200)


def _overview(request, poll, forms=None, status=200):
    forms = forms or {}
    context = {
        "poll": poll,
        "phase": poll.phase(),
        "actions": ACTIONS[poll.state],
        "figures": queries.with_figures(Poll.objects.filter(pk=poll.pk)).values(
            "counted", "waiting", "received").get(),
        "batches": queries.poll_batches(poll),
        "audit": poll.audit_entries.order_by("-at", "-id")[:50],
        "pause_form": forms.get("pause", PauseForm()),
        "close_form": forms.get("close", CloseForm()),
        "extend_form": forms.get("extend", ExtendForm(initial={"closes_at": poll.closes_at})),
    }
    return render(request, "console/polls/overview.html", context, status=status)


@never_cache
@console_required
def poll_overview(request, poll_id):
    return _overview(request, _poll_or_404(request, poll_id))


@require_POST
@console_required
def poll_action(request, poll_id, action):
    """schedule, open, pause, resume, close or extend; refusals keep the poll as it was."""
    poll = _poll_or_404(request, poll_id)
    actor = services.actor_for(request.organizer)
    form_class = {"pause": PauseForm, "close": CloseForm, "extend": ExtendForm}.get(action)
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        return _overview(request, poll, {action: form}, status=400)
    calls = {
        "schedule": lambda: services.schedule_poll(poll.id, actor=actor),
        "open": lambda: services.open_poll(poll.id, actor=actor),
        "pause": lambda: services.pause_poll(poll.id, form.cleaned_data["reason"], actor=actor),
        "resume": lambda: services.resume_poll(poll.id, actor=actor),
        "close": lambda: services.close_poll(poll.id, actor=actor),
        "extend": lambda: services.extend_poll(poll.id, form.cleaned_data["closes_at"], actor=actor),
    }
    if action not in calls:
        raise Http404
    try:
        calls[action]()
    except BallotError as error:
        messages.error(request, error.message)
        return _overview(request, _poll_or_404(request, poll_id), status=error.status)
    messages.success(request, DONE[action])
    return redirect("console-poll", poll.id)


# What the organizer reads after each action: what changed, and what happens next.
DONE = {
    "schedule": gettext_lazy("The poll is scheduled: it opens by itself at the opening time."),
    "open": gettext_lazy("The poll is open: ballots are accepted now."),
    "pause": gettext_lazy("The poll is paused: no ballot is accepted until you resume it."),
    "resume": gettext_lazy("The poll is open again: ballots are accepted."),
    "close": gettext_lazy(
        "The poll is closed: no ballot is accepted any more. Its final result, with every ballot still "
        "waiting, is published automatically within seconds."
    ),
    "extend": gettext_lazy("The closing time is moved."),
}


ACTION_LABELS = [
    ("schedule", gettext_lazy("schedule")),
    ("open", gettext_lazy("open now")),
    ("pause", gettext_lazy("pause")),
    ("resume", gettext_lazy("resume")),
    ("close", gettext_lazy("close now")),
    ("extend", gettext_lazy("extend")),
]
