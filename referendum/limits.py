"""Rate limits keyed on what is attempted, never on the address alone (docs/security.md).

Behind our reverse proxy, or an onion service, every request comes from one address: a bucket per
address would let one client lock everybody out. So each limit counts what the request tries to
do (a user name, a code's prefix, a tracker's prefix, an e-mail address's keyed hash, its domain)
and, where a browser sends one, its session. A per-address limit exists only as a loose backstop,
and only when RATELIMIT_IP_META_KEY names a header that our own proxy writes.

The counters live in the cache (Redis) through django-ratelimit. When Redis is unreachable the
cache reads as empty and every limit is open (RATELIMIT_FAIL_OPEN): voting goes on with
PostgreSQL alone, and only the proxy's own per-address limit still applies.
"""

import hashlib
import json
import unicodedata
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django_ratelimit.core import _get_ip, get_usage
from django_ratelimit.exceptions import Ratelimited

from ballots import codes

# How many leading characters of a code or tracker (after normalization) name its bucket.
PREFIX_LENGTH = 4


def normalize_username(text):
    """One spelling per user name: NFKC, case-folded, whitespace stripped and runs collapsed.

    "Coordinator", " coordinator ", "COORDINATOR" and the full-width "ＣＯＯＲＤＩＮＡＴＯＲ" all
    count against one limit.
    """
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def _digest(*parts):
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def _normalized_prefix(text):
    """The first PREFIX_LENGTH letters and digits of a code or tracker, as a code is compared:
    look-alike spellings of one code (Cyrillic А for A, O for 0) share one bucket."""
    cleaned = "".join(ch for ch in codes.canonical(text) if ch.isalnum())
    return cleaned[:PREFIX_LENGTH]


def username_key(group, request):
    return "user:" + _digest(normalize_username(request.POST.get("username", "")))


def session_key(group, request):
    """The browser's session: its session cookie, else its CSRF cookie (every accepted form POST
    carries one). A client that sends neither shares one bucket with other cookieless clients of
    the same view, which only throttles clients that refuse cookies (no browser does)."""
    value = request.COOKIES.get(settings.SESSION_COOKIE_NAME) or request.COOKIES.get(settings.CSRF_COOKIE_NAME) or ""
    return "session:" + _digest(value)


def user_key(group, request):
    return "uid:" + (str(request.user.pk) if request.user.is_authenticated else "anonymous")


def code_prefix_key(group, request):
    return "code:" + _normalized_prefix(request.POST.get("code", ""))


def json_code_prefix_key(group, request):
    """The code's prefix from a JSON body; a body that is not a JSON object with a code counts
    under one shared key (the view refuses it anyway)."""
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError, RequestDataTooBig):
        payload = None
    code = payload.get("code") if isinstance(payload, dict) else None
    return "code:" + _normalized_prefix(code if isinstance(code, str) else "")


def tracker_prefix_key(group, request):
    return "tracker:" + _normalized_prefix(request.POST.get("tracker", ""))


def address_key(group, request):
    """The client address our proxy wrote (IPv6 grouped by /64), for the backstop only."""
    return "addr:" + _get_ip(request)


def backstop_rate(group, request):
    """The per-address backstop applies only when the address comes from a header our proxy writes."""
    if not settings.RATELIMIT_IP_META_KEY or settings.RATELIMIT_IP_META_KEY not in request.META:
        return None
    return settings.RATELIMIT_PER_ADDRESS


def setting(name):
    """A rate read from settings at request time (so a changed setting applies at once)."""

    def rate(group, request):
        return getattr(settings, name)

    rate.__name__ = f"setting_{name}"
    return rate


def limit(action, key, rate, method="POST"):
    """Refuse a request (429 through RATELIMIT_VIEW, with Retry-After) once `key` exceeded `rate`.

    `action` names the limit in the error page's headers and in metrics; `rate` is "count/period"
    or a function (group, request) -> rate or None (no limit).
    """

    def decorator(view):
        group = f"referendum.{action}"

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            usage = get_usage(request, group=group, key=key, rate=rate, method=method, increment=True)
            if usage is not None and usage["should_limit"]:
                request.ratelimit_action = action
                request.ratelimit_retry_after = max(1, usage["time_left"])
                raise Ratelimited()
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def backstop(action):
    """The loose per-address limit (RATELIMIT_PER_ADDRESS), off unless RATELIMIT_IP_META_KEY is set."""
    return limit(action, address_key, backstop_rate)
