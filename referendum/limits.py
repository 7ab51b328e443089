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
import hmac
import json
import socket
import threading
import time
import unicodedata
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django_ratelimit.core import _get_ip, get_usage
from django_ratelimit.exceptions import Ratelimited

from ballots import codes

from . import metrics

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
    """The first PREFIX_LENGTH letters and digits of a code or tracker, as a code is compared
    (look-alike spellings of one code, Cyrillic А for A, O for 0, share one bucket), under a keyed
    hash: a Redis dump holds rate-limit keys, and django-ratelimit's own MD5 of a 4-symbol prefix
    is undone by trying the million prefixes, dating a voter's attempt by its window. The key
    derives from SECRET_KEY, which Redis never holds."""
    cleaned = "".join(ch for ch in codes.canonical(text) if ch.isalnum())
    key = hashlib.sha256(b"referendum/limits/prefix\x00" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, cleaned[:PREFIX_LENGTH].encode("utf-8"), hashlib.sha256).hexdigest()[:24]


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
    return "code:" + _normalized_prefix(_json_code(request))


def tracker_prefix_key(group, request):
    return "tracker:" + _normalized_prefix(request.POST.get("tracker", ""))


def _value_digest(text):
    """A whole code or tracker, as its letters and digits, under a key of its own (not the pepper's
    hash the database holds): a bucket nobody can fill without knowing the value itself."""
    cleaned = "".join(ch for ch in unicodedata.normalize("NFKC", text or "").upper() if ch.isalnum())
    key = hashlib.sha256(b"referendum/limits/value\x00" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, cleaned.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _json_code(request):
    """The code of a JSON body, parsed once per request (two limits ask for it)."""
    if not hasattr(request, "_limits_json_code"):
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError, RequestDataTooBig):
            payload = None
        code = payload.get("code") if isinstance(payload, dict) else None
        request._limits_json_code = code if isinstance(code, str) else ""
    return request._limits_json_code


def code_key(group, request):
    return "code-value:" + _value_digest(request.POST.get("code", ""))


def json_code_key(group, request):
    return "code-value:" + _value_digest(_json_code(request))


def tracker_key(group, request):
    return "tracker-value:" + _value_digest(request.POST.get("tracker", ""))


def _code_known(code):
    from ballots import codes
    from ballots.models import Credential

    try:
        digest = codes.hash_code(codes.normalize_code(code))
    except codes.MalformedValue:
        return False
    return Credential.objects.filter(code_hash=digest).exists()


def code_known(request):
    """The form's code is an issued code (one indexed lookup; used or not)."""
    return _code_known(request.POST.get("code", ""))


def json_code_known(request):
    return _code_known(_json_code(request))


def tracker_known(request):
    """Every well-formed tracker counts as real: a waiting ballot is sealed, so nobody, the server
    included, can tell its tracker from one never issued, and refusing it because strangers guessed
    its prefix would lock its voter out. Guessing one (160 bits) is hopeless anyway; the per-value
    and per-session limits still apply."""
    from ballots import codes

    try:
        codes.normalize_tracker(request.POST.get("tracker", ""))
    except codes.MalformedValue:
        return False
    return True


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


def refuse_now(request, action, retry_after):
    """Answer 429 (RATELIMIT_VIEW) with Retry-After, counted under `action`."""
    request.ratelimit_action = action
    request.ratelimit_retry_after = max(1, int(retry_after))
    raise Ratelimited()


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
                refuse_now(request, action, usage["time_left"])
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _counted_together(request, specs):
    """Count several limits of one request in one Redis round trip (a pipeline of SET NX and INCR
    per key, the keys and windows django-ratelimit's own, stored as django-redis stores integers):
    a cast counted its code and its prefix in four round trips, a fifth of its time. Returns one
    (should_limit, time_left) or None per spec; None for all when the cache is not Redis or does
    not answer (limits open, as with django-ratelimit: voting goes on without Redis)."""
    from django.core.cache import caches
    from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate

    if not getattr(settings, "RATELIMIT_ENABLE", True) or request.method != "POST":
        return [None] * len(specs)
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    if not hasattr(cache, "client") or not hasattr(cache.client, "get_client"):
        # Embedded mode (a file cache): django-ratelimit's own path, one limit at a time.
        usages = [get_usage(request, group=group, key=key, rate=rate, method="POST", increment=True)
                  for group, key, rate in specs]
        return [(u["should_limit"], u["time_left"]) if u else None for u in usages]
    entries = []
    for group, key, rate in specs:
        rate = rate(group, request) if callable(rate) else rate
        if rate is None:
            entries.append(None)
            continue
        count, period = _split_rate(rate)
        value = key(group, request)
        window = _get_window(value, period)
        entries.append((count, period, window, cache.make_key(_make_cache_key(group, window, rate, value, "POST"))))
    try:
        pipe = cache.client.get_client(write=True).pipeline(transaction=False)
        for entry in filter(None, entries):
            pipe.set(entry[3], 0, nx=True, ex=entry[1] + EXPIRATION_FUDGE)
            pipe.incr(entry[3])
        results = iter(pipe.execute())
    except Exception:  # noqa: BLE001 — Redis down or hung (the breaker): limits open, as documented
        return [None] * len(specs)
    now = int(time.time())
    usages = []
    for entry in entries:
        if entry is None:
            usages.append(None)
            continue
        next(results)
        used = next(results)
        usages.append((used > entry[0], entry[2] - now))
    return usages


def _refuse_over_value_or_prefix(request, action, group, value_key, prefix_key, rate, known):
    by_value, by_prefix = _counted_together(request, [(group, value_key, rate), (group, prefix_key, rate)])
    if by_value is not None and by_value[0]:
        refuse_now(request, action, by_value[1])
    if by_prefix is not None and by_prefix[0] and not known(request):
        refuse_now(request, action, by_prefix[1])


def limit_value_and_prefix(action, value_key, prefix_key, rate, known):
    """Two limits counted in one Redis round trip. A value over its own limit (value_key) is refused.
    For the prefix's limit (prefix_key): strangers guessing values that share a real one's prefix
    fill that bucket, and a plain limit would then refuse the real value's holder; so past it only
    attempts whose value `known(request)` does not know are refused (a cheap indexed lookup, made
    only while the prefix is over its limit)."""

    def decorator(view):
        group = f"referendum.{action}"

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            _refuse_over_value_or_prefix(request, action, group, value_key, prefix_key, rate, known)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def limit_refusals(action, value_key, prefix_key, rate, known):
    """limit_value_and_prefix for casting, counted after the view and only when it refused (4xx).

    A cast that is accepted uses its code up: no later attempt with that code can succeed, so
    counting it protects nothing, and it would cost every voter a Redis round trip (a third of a
    JSON cast's time in `make bench`) and leave a dated key in Redis for each one who voted. A
    refused attempt (a guess, a used code, a closed poll) is counted as before; once its value or
    (for values that do not exist) its prefix is over the limit, the answer is 429 instead of the
    refusal, so past the limit a guesser learns nothing. The view's work is done by then, and it
    is only ever a refusal: nothing was recorded. What the limits never did is unchanged: a real
    code is not refused because strangers filled its prefix."""

    def decorator(view):
        group = f"referendum.{action}"

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            if request.method == "POST" and response.status_code >= 400:
                _refuse_over_value_or_prefix(request, action, group, value_key, prefix_key, rate, known)
            return response

        return wrapped

    return decorator


# Expensive work (a password hash: a quarter to a third of a CPU-second at PBKDF2's default cost) runs only
# behind cheap gates: a per-node rate kept in Redis, and a per-process cap on hashes at once.
_hash_slots = {}
_hash_slots_lock = threading.Lock()


def _slots():
    size = settings.PASSWORD_HASH_CONCURRENCY
    with _hash_slots_lock:
        if size not in _hash_slots:  # a changed setting (tests) gets slots of its own
            _hash_slots[size] = threading.BoundedSemaphore(size)
        return _hash_slots[size]


def node_key(group, request):
    """This machine: the budget is shared by every worker process of one node."""
    return "node:" + socket.gethostname()


def costly(action, rate, exempt=None):
    """Let a POST that will hash a password run only within this node's budget (`rate`, e.g.
    PASSWORD_HASH_NODE_RATE) and while fewer than PASSWORD_HASH_CONCURRENCY hashes run in this
    process; otherwise answer 429 at once, having spent almost nothing. `exempt(request)` names the
    attempts that have a budget of their own (a device that signed in before), which the flood
    cannot spend: they pass both gates.
    """

    def decorator(view):
        group = f"referendum.{action}.node"

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method != "POST" or (exempt is not None and exempt(request)):
                return view(request, *args, **kwargs)
            usage = get_usage(request, group=group, key=node_key, rate=rate, method="POST", increment=True)
            if usage is not None and usage["should_limit"]:
                refuse_now(request, action, usage["time_left"])
            slots = _slots()
            if not slots.acquire(blocking=False):
                refuse_now(request, action, 1)
            try:
                return view(request, *args, **kwargs)
            finally:
                slots.release()

        return wrapped

    return decorator


def slow_down(action, key, rate, method="POST"):
    """Count like `limit`, never refuse: past `rate` the request is marked busy
    (request.over_budget = True) for the view to slow it, and counted in the metric
    referendum_over_budget_total{action} for an alert. For a budget whose refusal would shut a
    door for everybody (a whole mail provider's domain) rather than for the one who spent it."""

    def decorator(view):
        group = f"referendum.{action}"

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            usage = get_usage(request, group=group, key=key, rate=rate, method=method, increment=True)
            request.over_budget = usage is not None and usage["should_limit"]
            if request.over_budget:
                metrics.count_over_budget(action)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def backstop(action):
    """The loose per-address limit (RATELIMIT_PER_ADDRESS), off unless RATELIMIT_IP_META_KEY is set."""
    return limit(action, address_key, backstop_rate)
