"""Device cookies for the console's sign-in (OWASP, "Slow down online guessing attacks with device
cookies"): no organizer is locked out by name.

A browser that completed a sign-in (password and second factor) gets a signed cookie naming the
account (by a keyed hash of its normalized user name, never the name) and a random device id.
A sign-in attempt that carries a valid device cookie for the user name it tries is counted against
that device's own budget (CONSOLE_LOGIN_DEVICE_RATE) and passes the node's hashing gate; every
other attempt is counted against the user name's budget (CONSOLE_LOGIN_RATE) and the gate. So a
stranger's wrong passwords for an organizer's name exhaust only the budget of unknown devices:
the organizer's own browser signs in at once.

The cookie is HttpOnly, SameSite=Strict, Secure in production, scoped to /console/, and lasts
CONSOLE_DEVICE_COOKIE_DAYS. It grants nothing by itself: the password and the second factor are
still asked for.
"""

import secrets

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

from referendum.limits import normalize_username

COOKIE_NAME = "referendum_device"
COOKIE_PATH = "/console/"
SALT = "referendum.console.device"


def _account(username):
    return salted_hmac(SALT, normalize_username(username), algorithm="sha256").hexdigest()[:32]


def remember(response, user):
    """Give this browser a device cookie for the user (call after a complete sign-in)."""
    value = signing.dumps({"a": _account(user.get_username()), "d": secrets.token_urlsafe(16)}, salt=SALT)
    response.set_cookie(
        COOKIE_NAME, value, max_age=settings.CONSOLE_DEVICE_COOKIE_DAYS * 24 * 3600, path=COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Strict",
    )
    return response


def _cookie(request):
    value = request.COOKIES.get(COOKIE_NAME)
    if not value:
        return None
    try:
        data = signing.loads(value, salt=SALT, max_age=settings.CONSOLE_DEVICE_COOKIE_DAYS * 24 * 3600)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("d"), str) else None


def known_device(request):
    """The device id when the request carries a valid device cookie for the user name it posts."""
    if not hasattr(request, "_console_device"):
        data = _cookie(request)
        posted = request.POST.get("username", "") if request.method == "POST" else ""
        request._console_device = data["d"] if data and data.get("a") == _account(posted) else None
    return request._console_device


def device_key(group, request):
    return "device:" + (known_device(request) or "")


def device_rate(group, request):
    return settings.CONSOLE_LOGIN_DEVICE_RATE if known_device(request) else None


def unknown_device_rate(group, request):
    """The per-user-name budget applies to attempts from devices that never signed in as that user."""
    return None if known_device(request) else settings.CONSOLE_LOGIN_RATE
