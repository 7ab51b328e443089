import json
from functools import wraps

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from referendum import filled_pages, limits, metrics
from referendum.responses import json_error, refuse

from . import codes, queries, services
from .errors import BallotError, CodeAlreadyUsed, CodeForOtherPoll, PollNotFound
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


def _outcome(request, outcome):
    """What became of this casting attempt, counted by counted_outcome once the limits agree."""
    request.cast_outcome = outcome


def counted_outcome(view):
    """Count the attempt's outcome (referendum_cast_outcomes_total) as its answer leaves: an
    attempt the limits turn into 429 after the view refused it (limits.limit_refusals) counts only
    as rate-limited."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if getattr(request, "cast_outcome", None):
            metrics.count_cast(request.cast_outcome)
        return response

    return wrapped


def _poll_not_found(request):
    error = PollNotFound()
    return refuse(request, error.status, error.code, error.message)


@require_GET
def home(request):
    now = timezone.now()
    polls = [(poll, poll.phase(now)) for poll in queries.public_polls()]
    return render(request, "ballots/home.html", {"polls": polls})


def _naming_the_region(error, code):
    """A code of another region's poll: say which region it is for."""
    if not isinstance(error, CodeForOtherPoll):
        return error
    other = queries.poll_of_code(code)
    if other is None:
        return error
    return CodeForOtherPoll(_(
        "This voting code is for another region's referendum: %(region)s. Please vote there: choose "
        "%(region)s on the list of referendums."
    ) % {"region": other.region.name})


def _vote_page(request, poll, form, error=None, status=200, tracker=None):
    """`error`: the service's refusal (BallotError), shown above the form. The form carries the
    tracker that the confirmation step will show, drawn now (see _kept_tracker)."""
    tracker = tracker or codes.new_tracker()
    return render(
        request,
        "ballots/vote.html",
        {"poll": poll, "phase": poll.phase(), "form": form, "error": error and error.message,
         "code_used": isinstance(error, CodeAlreadyUsed), "tracker": tracker,
         "token": codes.receipt_token(poll.id, None, tracker), "preview": {
            "title": " · ".join([poll.region.name, _("Referendum")]), "description": poll.question, "image": None,
        }},
        status=status,
    )


def _kept_tracker(request, poll, code=None, bound_only=False):
    """The tracker a form carries, if its token is this server's for this poll and this code (or,
    unless `bound_only`, for this poll before any code was typed); None otherwise. A client can
    neither choose a tracker nor move one to another code (codes.receipt_token)."""
    tracker, token = request.POST.get("tracker", ""), request.POST.get("token", "")
    if not tracker:
        return None
    if (not bound_only and codes.receipt_token_valid(poll.id, None, tracker, token)) or (
        code and codes.receipt_token_valid(poll.id, code, tracker, token)
    ):
        return codes.group(codes.normalize_tracker(tracker))
    return None


def _switch_language(request):
    """The language switch of the confirmation step posts the ballot back here, so that the code
    and the answer are kept without a URL or a stored copy; the choice is remembered as
    set_language remembers it (a cookie)."""
    language = request.POST.get("language")
    if language in dict(settings.LANGUAGES):
        translation.activate(language)
        request.LANGUAGE_CODE = language
        return language
    return None


def _remember_language(response, language):
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    return response


@never_cache
@counted_outcome
@limits.limit_refusals("cast", limits.code_key, limits.code_prefix_key, limits.setting("CAST_RATE_PER_CODE"),
                       limits.code_known)
@limits.backstop("cast")
def vote(request, poll_id):
    """Step one: enter the code and choose; a valid choice leads to the confirmation page.

    The confirmation step posts back here too: "Go back and change" (step=change) shows this
    form again with the code and answer kept, its language switch shows the confirmation again."""
    if request.method not in ("GET", "POST"):
        poll = queries.public_poll(poll_id)
        return method_not_allowed(request, "GET, POST") if poll else _poll_not_found(request)
    # A POST reads the poll's definition from memory (queries.remembered_poll); its own check says
    # whether the poll accepts, and every other page of this step reads the poll afresh.
    poll = queries.public_poll(poll_id) if request.method == "GET" else queries.remembered_poll(poll_id)
    if poll is None:
        return _poll_not_found(request)
    if request.method == "GET":
        return _vote_page(request, poll, BallotForm(poll))
    language = _switch_language(request)
    return _remember_language(_vote_step(request, poll), language)


def _fresh_vote_page(request, poll, **kwargs):
    """The ballot form again, as posted (a refusal, or "Go back and change"), with the poll as it
    is now."""
    poll = queries.public_poll(poll.id) or poll
    form = BallotForm(poll, request.POST)
    form.is_valid()
    return _vote_page(request, poll, form, **kwargs)


def _vote_step(request, poll):
    cleaned = BallotForm.cleaned(poll, request.POST)
    tracker = _kept_tracker(request, poll)
    if cleaned is None:
        return _fresh_vote_page(request, poll, status=400, tracker=tracker)
    try:
        code = normalized_code(cleaned["code"])
    except BallotError as error:
        _outcome(request, error.code)
        return _fresh_vote_page(request, poll, error=error, status=error.status, tracker=tracker)
    tracker = tracker or _kept_tracker(request, poll, code)
    if request.POST.get("step") == "change":
        return _fresh_vote_page(request, poll, tracker=tracker)
    try:
        checked = services.check_ballot(poll.id, code, cleaned["option"], poll=poll)
    except CodeAlreadyUsed as error:
        _outcome(request, error.code)
        if tracker:
            # This page's form sent again after the ballot was cast: Back from the receipt lands
            # here (the browser sends the step's form again). The tracker it carries is the one
            # the confirmation step showed.
            return _receipt_page(request, poll, tracker, again="back")
        return _fresh_vote_page(request, poll, error=error, status=error.status)
    except BallotError as error:
        _outcome(request, error.code)  # a refusal at the check step (a guessing bot stops here)
        error = _naming_the_region(error, code)
        return _fresh_vote_page(request, poll, error=error, status=error.status, tracker=tracker)
    return _confirm_page(request, poll, checked.option, code, tracker)


def _confirm_page(request, poll, option, code, tracker=None):
    """The confirmation step shows the receipt's tracker before anything is recorded, so that no
    lost answer can take it away; its forms carry it with a token that binds it to this code."""
    tracker = tracker or codes.new_tracker()
    return filled_pages.render_filled(
        request, "ballots/confirm.html", {"poll": poll, "option": option}, key=(poll.id, option.id),
        values={"code": codes.group(code), "tracker": tracker, "token": codes.receipt_token(poll.id, code, tracker)},
        grouped=("tracker",),
    )


@never_cache
@counted_outcome
@limits.limit_refusals("cast", limits.code_key, limits.code_prefix_key, limits.setting("CAST_RATE_PER_CODE"),
                       limits.code_known)
@limits.backstop("cast")
def cast(request, poll_id):
    """Step two: the confirmed ballot is cast; the receipt is shown once and never cached."""
    if request.method != "POST":
        return method_not_allowed(request, "POST")
    poll = queries.remembered_poll(poll_id)  # the cast's statement says whether it accepts
    if poll is None:
        return _poll_not_found(request)
    cleaned = BallotForm.cleaned(poll, request.POST)
    if cleaned is None:
        _outcome(request, "invalid_form")
        return _fresh_vote_page(request, poll, status=400)
    confirmed = None
    try:
        code = normalized_code(cleaned["code"])
        confirmed = _kept_tracker(request, poll, code, bound_only=True)
        tracker = services.cast_ballot(poll.id, code, cleaned["option"], tracker=confirmed)
    except CodeAlreadyUsed as error:
        _outcome(request, error.code)
        if confirmed:
            # The same ballot again (a double tap, a reload, Back then Confirm, a retry after a lost
            # answer): the code was used, most likely by this very form. Its tracker is the receipt.
            return _receipt_page(request, poll, confirmed, again="confirm")
        return _fresh_vote_page(request, poll, error=error, status=error.status)
    except BallotError as error:
        _outcome(request, error.code)
        if isinstance(error, CodeForOtherPoll):
            error = _naming_the_region(error, code)
        return _fresh_vote_page(request, poll, error=error, status=error.status)
    _outcome(request, "accepted")
    return _receipt_page(request, poll, tracker)


def _receipt_page(request, poll, tracker, again=False):
    response = filled_pages.render_filled(
        request, "ballots/receipt.html",
        {"poll": poll, "again": again, "publish_min_ballots": settings.PUBLISH_MIN_BALLOTS},
        key=(poll.id, again, settings.PUBLISH_MIN_BALLOTS), values={"tracker": tracker}, grouped=("tracker",),
    )
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
@counted_outcome
@limits.limit_refusals("cast", limits.json_code_key, limits.json_code_prefix_key,
                       limits.setting("CAST_RATE_PER_CODE"), limits.json_code_known)
@limits.backstop("cast")
def api_cast(request, poll_id):
    """POST {"code": "...", "option": id} → 201 {"tracker": "..."}; refusals → 4xx {"error", "message"}."""
    response = _api_cast(request, poll_id)
    if request.method == "POST":
        _outcome(request, "accepted" if response.status_code == 201 else json.loads(response.content)["error"])
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
        code = normalized_code(payload["code"])
        tracker = services.cast_ballot(poll_id, code, payload["option"])
    except CodeForOtherPoll as error:
        error = _naming_the_region(error, code)
        return json_error(error.status, error.code, error.message)
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
