"""Who may use the organizer console: a logged-in organizer verified by a TOTP second factor."""

from functools import wraps

from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django_otp import user_has_device

from referendum.responses import refuse


def console_required(view):
    """Every console view: password login, then a confirmed TOTP device verified this session.

    Sets request.organizer. Region checks are the view's job (through the queries that take the
    organizer), so another region's objects answer 404 whatever the URL.
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect(f"/console/login?next={request.path}")
        organizer = getattr(user, "organizer", None)
        if organizer is None or not user.is_active:
            return refuse(request, 403, "not_an_organizer", _("This account is not an organizer account."))
        if not user.is_verified():
            if user_has_device(user, confirmed=True):
                return redirect("console-verify")
            return redirect("console-enroll")
        request.organizer = organizer
        return view(request, *args, **kwargs)

    return wrapped
