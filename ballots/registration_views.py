"""The public page where a voter asks for a voting code by e-mail (see ballots/registration.py)."""

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from referendum import limits
from referendum.responses import refuse

from . import queries, registration
from .errors import BallotError, MalformedAddress, PollNotFound


class RegisterForm(forms.Form):
    email = forms.CharField(
        label=gettext_lazy("Your e-mail address"),
        max_length=320,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
        error_messages={"required": gettext_lazy("Please enter your e-mail address.")},
    )


def _normalized(request):
    if not hasattr(request, "_normalized_email"):
        try:
            request._normalized_email = registration.normalize_address(request.POST.get("email", ""))
        except MalformedAddress:
            request._normalized_email = None
    return request._normalized_email


def _email_key(group, request):
    """Rate-limit bucket: the keyed hash of the normalized address for this poll."""
    normalized = _normalized(request) or ""
    return "email:" + registration.address_hash(request.resolver_match.kwargs["poll_id"], normalized).hex()


def _email_rate(group, request):
    """No per-address limit for what is not an address (the form just says so)."""
    return settings.EMAIL_RATE_PER_ADDRESS if _normalized(request) else None


def _domain_key(group, request):
    """The provider or registrable domain (registration.budget_domain): every subdomain of a
    wildcard domain, and every alias of a provider, count as one."""
    normalized = _normalized(request)
    return "domain:" + (registration.budget_domain(normalized) if normalized else "")


def _domain_rate(group, request):
    """Per domain: a catch-all domain gives one person unlimited addresses, so each domain has a
    budget; the large providers (EMAIL_LARGE_DOMAINS) a larger one. Past it requests are slowed
    and counted for an alert, never refused: a refusal would close the domain to its real voters."""
    normalized = _normalized(request)
    if normalized is None:
        return None
    if registration.is_large_provider(normalized):
        return settings.EMAIL_RATE_PER_LARGE_DOMAIN
    return settings.EMAIL_RATE_PER_DOMAIN


def _page(request, poll, form, status=200):
    return render(
        request,
        "ballots/register.html",
        {"poll": poll, "form": form, "open": registration.accepts_registration(poll)},
        status=status,
    )


@never_cache
@limits.limit("email_registration", _email_key, _email_rate)
@limits.slow_down("email_domain", _domain_key, _domain_rate)
@limits.backstop("email_registration")
def register(request, poll_id):
    poll = queries.public_poll(poll_id)
    if poll is None:
        error = PollNotFound()
        return refuse(request, error.status, error.code, error.message)
    if request.method not in ("GET", "POST"):
        return refuse(request, 405, "method_not_allowed", _("This address only accepts a submitted form."),
                      headers={"Allow": "GET, POST"})
    if not registration.accepts_registration(poll):
        return _page(request, poll, None, status=403 if request.method == "POST" else 200)
    if request.method == "GET":
        return _page(request, poll, RegisterForm())
    form = RegisterForm(request.POST)
    if not form.is_valid():
        return _page(request, poll, form, status=400)
    vote_url = request.build_absolute_uri(reverse("vote", args=[poll.pk]))
    try:
        registration.request_code(poll, form.cleaned_data["email"], vote_url, language=get_language() or "en",
                                  busy=getattr(request, "over_budget", False))
    except BallotError as error:
        form.add_error("email", error.message)
        return _page(request, poll, form, status=error.status)
    except registration.MailUnavailable:
        return refuse(request, 503, "mail_unavailable",
                      _("We cannot send e-mail right now. Nothing was recorded; please try again in a few minutes."))
    response = render(request, "ballots/register_sent.html", {"poll": poll})
    response["Cache-Control"] = "no-store"
    return response
