import json

from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from referendum import limits, metrics
from referendum.responses import json_error, refuse

from . import codes, queries, services
from .errors import BallotError, PollNotFound
from .forms import BallotForm, normalized_code


def _lang():
    return "ru" if (get_language() or "en").startswith("ru") else "en"


def method_not_allowed(request, allowed):
    return refuse(
        request,
        405,
        "method_not_allowed",
        _("This address only accepts a submitted form. Nothing was recorded."),
        headers={"Allow": allowed},
    )


def _poll_not_found(request):
    error = PollNotFound()
    return refuse(request, error.status, error.code, error.message)


@require_GET
def home(request):
    now = timezone.now()
    polls = [(poll, poll.phase(now)) for poll in queries.public_polls()]
    return render(request, "ballots/home.html", {"polls": polls})


def _vote_page(request, poll, form, error=None, status=200):
    return render(
        request,
        "ballots/vote.html",
        {"poll": poll, "phase": poll.phase(), "form": form, "error": error, "preview": {
            "title": " · ".join([poll.region.name, _("Referendum")]), "description": poll.question, "image": None,
        }},
        status=status,
    )


@never_cache
@limits.limit("cast", limits.code_prefix_key, limits.setting("CAST_RATE_PER_CODE"))
@limits.backstop("cast")
def vote(request, poll_id):
    """Step one: enter the code and choose; a valid choice leads to the confirmation page."""
    poll = queries.public_poll(poll_id)
    if poll is None:
        return _poll_not_found(request)
    if request.method not in ("GET", "POST"):
        return method_not_allowed(request, "GET, POST")
    if request.method == "GET":
        return _vote_page(request, poll, BallotForm(poll))
    form = BallotForm(poll, request.POST)
    if not form.is_valid():
        return _vote_page(request, poll, form, status=400)
    try:
        code = normalized_code(form.cleaned_data["code"])
        checked = services.check_ballot(poll.id, code, form.cleaned_data["option"], poll=poll)
    except BallotError as error:
        metrics.count_cast(error.code)  # a refusal at the check step (a guessing bot stops here)
        return _vote_page(request, poll, form, error=error.message, status=error.status)
    return render(
        request,
        "ballots/confirm.html",
        {"poll": poll, "option": checked.option, "code": codes.group(code)},
    )


@never_cache
@limits.limit("cast", limits.code_prefix_key, limits.setting("CAST_RATE_PER_CODE"))
@limits.backstop("cast")
def cast(request, poll_id):
    """Step two: the confirmed ballot is cast; the receipt is shown once and never cached."""
    if request.method != "POST":
        return method_not_allowed(request, "POST")
    poll = queries.public_poll(poll_id)
    if poll is None:
        return _poll_not_found(request)
    form = BallotForm(poll, request.POST)
    if not form.is_valid():
        metrics.count_cast("invalid_form")
        return _vote_page(request, poll, form, status=400)
    try:
        tracker = services.cast_ballot(poll.id, normalized_code(form.cleaned_data["code"]), form.cleaned_data["option"])
    except BallotError as error:
        metrics.count_cast(error.code)
        return _vote_page(request, poll, form, error=error.message, status=error.status)
    metrics.count_cast("accepted")
    response = render(request, "ballots/receipt.html", {"poll": poll, "tracker": tracker})
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def api_polls(request):
    lang = _lang()
    now = timezone.now()
    return json_response({"polls": [queries.poll_as_json(p, lang, now) for p in queries.public_polls()]})


def json_response(data, status=200):
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


@csrf_exempt  # No cookie grants anything here: the code in the body is the credential.
@never_cache
@limits.limit("cast", limits.json_code_prefix_key, limits.setting("CAST_RATE_PER_CODE"))
@limits.backstop("cast")
def api_cast(request, poll_id):
    """POST {"code": "...", "option": id} → 201 {"tracker": "..."}; refusals → 4xx {"error", "message"}."""
    response = _api_cast(request, poll_id)
    if request.method == "POST":
        metrics.count_cast("accepted" if response.status_code == 201 else json.loads(response.content)["error"])
    return response


def _api_cast(request, poll_id):
    if request.method != "POST":
        return method_not_allowed(request, "POST")
    if request.content_type != "application/json":
        # Also what keeps cross-site HTML forms out: they cannot send application/json.
        return json_error(415, "unsupported_media_type", _("Send the ballot as JSON (Content-Type: application/json)."))
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: thousands of nested brackets
        return json_error(400, "invalid_json", _("The request body is not valid JSON."))
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), str) or "option" not in payload:
        return json_error(
            400, "invalid_request", _('Send an object with a "code" (text) and an "option" (the answer\'s id).')
        )
    option = payload["option"]
    if isinstance(option, bool) or not isinstance(option, int) or not 0 < option < 2**63:
        # The answer's id, a JSON integer (docs/openapi.yaml).
        return json_error(400, "bad_option", _("Please choose one of the answers listed for this question."))
    try:
        tracker = services.cast_ballot(poll_id, normalized_code(payload["code"]), payload["option"])
    except BallotError as error:
        return json_error(error.status, error.code, error.message)
    response = json_response({"tracker": tracker}, status=201)
    response["Cache-Control"] = "no-store"
    return response


def _audit_page(request):
    from django.core.paginator import InvalidPage

    try:
        return queries.audit_page(request.GET.get("page") or 1)
    except InvalidPage:
        return None


@require_GET
def audit(request):
    """The public audit log: every organizer action, newest first."""
    page = _audit_page(request)
    if page is None:
        return refuse(request, 404, "no_such_page", _("There is no such page of the audit log."))
    return render(request, "ballots/audit.html", {"page": page})


@require_GET
def api_audit(request):
    page = _audit_page(request)
    if page is None:
        return json_error(404, "no_such_page", _("There is no such page of the audit log."))
    return json_response(
        {
            "page": page.number,
            "pages": page.paginator.num_pages,
            "next": page.next_page_number() if page.has_next() else None,
            "previous": page.previous_page_number() if page.has_previous() else None,
            "entries": [queries.audit_entry_json(e) for e in page.object_list],
        }
    )
