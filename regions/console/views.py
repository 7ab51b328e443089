"""Console pages for coordinators: regions and organizer accounts. A regional organizer is refused.

The one-time link is shown once, in the response to the action that made it, and never stored
in clear: only its hash is kept (regions.models.EnrolmentLink).
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from referendum.responses import refuse
from regions import queries, services
from regions.access import console_required
from regions.models import Organizer

from .forms import AccountActionForm, AccountForm, DeactivateForm, RegionForm, WelcomeForm


def coordinator_required(view):
    @console_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.organizer.role != Organizer.Role.COORDINATOR:
            return refuse(request, 403, "not_allowed", _("Only a coordinator can manage regions and organizer accounts."))
        return view(request, *args, **kwargs)

    return wrapped


@never_cache
@coordinator_required
def regions(request):
    form = RegionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                region = services.add_region(request.organizer, data["slug"], data["name_en"], data["name_ru"])
            except services.AccountError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Region %(name)s added.") % {"name": region.name})
                return redirect("console-regions")
        status = 400
    return render(request, "console/regions/list.html",
                  {"form": form, "regions": queries.regions_with_counts()}, status=status)


@never_cache
@coordinator_required
def accounts(request):
    return render(request, "console/accounts/list.html", {"accounts": queries.organizer_accounts()})


def _link_page(request, organizer, token, created):
    url = request.build_absolute_uri(reverse("console-welcome")) + "?token=" + token
    response = render(request, "console/accounts/link.html", {
        "account": organizer, "link": url, "created": created, "hours": settings.ENROLMENT_LINK_HOURS,
    })
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@coordinator_required
def account_new(request):
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            organizer, token = services.create_organizer(
                request.organizer, data["username"], data["role"], data["regions"]
            )
        except services.AccountError as error:
            form.add_error(None, error.message)
        else:
            return _link_page(request, organizer, token, created=True)
    return render(request, "console/accounts/new.html", {"form": form}, status=400 if form.errors else 200)


def _account_refused(request, message, status):
    messages.error(request, message)
    return render(request, "console/accounts/list.html", {"accounts": queries.organizer_accounts()}, status=status)


@require_POST
@coordinator_required
def account_reset(request):
    form = AccountActionForm(request.POST)
    if not form.is_valid():
        return _account_refused(request, _("There is no such organizer account."), 400)
    try:
        organizer, token = services.reset_second_factor(request.organizer, form.cleaned_data["organizer"])
    except services.AccountError as error:
        return _account_refused(request, error.message, error.status)
    return _link_page(request, organizer, token, created=False)


@require_POST
@coordinator_required
def account_deactivate(request):
    form = DeactivateForm(request.POST)
    if not form.is_valid():
        message = form.errors.get("confirm", [_("There is no such organizer account.")])[0]
        return _account_refused(request, message, 400)
    try:
        organizer = services.deactivate_organizer(request.organizer, form.cleaned_data["organizer"])
    except services.AccountError as error:
        return _account_refused(request, error.message, error.status)
    messages.success(request, _("The account %(name)s is deactivated; its sessions have ended.")
                     % {"name": organizer.user.username})
    return redirect("console-accounts")


@never_cache
def welcome(request):
    """The one-time link: set a password, then enroll a second factor (console-enroll)."""
    token = request.POST.get("token") or request.GET.get("token") or ""
    if not token:
        return redirect("console-verify" if request.user.is_authenticated else "console-login")
    link = services.live_link(token)
    if link is None:
        return refuse(request, 410, "link_refused", services.LINK_REFUSED)
    user = link.organizer.user
    form = WelcomeForm(user, request.POST or None, initial={"token": token})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.use_enrolment_link(token, form.cleaned_data["new_password1"])
        except services.AccountError as error:
            return refuse(request, error.status, "link_refused", error.message)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        # Only a session that came through a link may enroll a new authenticator (see console_enroll).
        request.session["enrolment_allowed"] = True
        return redirect("console-enroll")
    response = render(request, "console/welcome.html", {"form": form, "account": user},
                      status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"
    return response
