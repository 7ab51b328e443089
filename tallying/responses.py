"""Whole responses of the tally API and the results pages, served from the cache (Redis).

Each is built once per publication (the key is dropped when one is published) and at most every
RESPONSE_SECONDS otherwise, by one process at a time (the others serve the stale entry meanwhile);
a cache hit runs no SQL. A matching If-None-Match gets a 304. Each
process also keeps what it read from Redis for LOCAL_SECONDS, so most hits cost no round trip
either: the live "received" figure is at most RESPONSE_SECONDS + LOCAL_SECONDS old (plus
queries.RECEIVED_CACHE_SECONDS, 2 s in all), and a
publication shows in every process within LOCAL_SECONDS (at once in the process that published).

A cached page is the same for every visitor in a language: the language switch needs no CSRF
token, so a public page sets no cookie; a page that does carry a token is never cached. Its
absolute links (og:url, og:image) are stored with a placeholder for the host the visitor asked for
(our clearnet name or our onion service). Visitors with a session or pending messages (the
organizers) always get a fresh render, and so do URLs with a query string.
"""

import hashlib
import time
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import get_language

RESPONSE_SECONDS = 1.0
LOCAL_SECONDS = 0.5
_local = {}  # key -> (entry, monotonic time it was read); this process only
ORIGIN_PLACEHOLDER = b"__ORIGIN__"
CSRF_INPUT = b'name="csrfmiddlewaretoken"'


def tally_key(poll_id):
    return f"response:tally:{poll_id}"


def page_key(path, language):
    return f"response:page:{language}:{path}"


def keys_of_publication(poll_id, region_slugs):
    """Every cached response a publication of the poll changes."""
    keys = [tally_key(poll_id)]
    for language, _name in settings.LANGUAGES:
        keys.append(page_key(reverse("results"), language))
        keys.extend(page_key(reverse("region-results", args=[slug]), language) for slug in region_slugs)
    return keys


# How long past its RESPONSE_SECONDS an entry may still be served while one process rebuilds it
# (all the others serve the stale one meanwhile, instead of every worker rebuilding at once).
STALE_SECONDS = 5


def _rebuild_lock(key):
    return f"{key}:rebuilding"


def cache_get(key, rebuild=True):
    """The entry, if fresh; a stale one while another process rebuilds it; else None, and then the
    caller builds it (it holds the rebuild lock, or there was nothing to serve). With
    rebuild=False (the early middleware, which cannot build) a stale entry nobody rebuilds is None,
    and the lock is left to the view."""
    held = _local.get(key)
    now = time.monotonic()
    if held is not None and now - held[1] < LOCAL_SECONDS:
        return held[0]
    entry = cache.get(key)
    if entry is None:
        _local.pop(key, None)
        return None
    if time.time() >= entry.get("fresh_until", 0):
        if not rebuild:
            if cache.get(_rebuild_lock(key)) is None:
                return None
        elif cache.add(_rebuild_lock(key), 1, timeout=STALE_SECONDS):
            return None  # stale, and this process rebuilds it
    _local[key] = (entry, now)
    return entry


def cache_set(key, entry):
    entry["fresh_until"] = time.time() + RESPONSE_SECONDS
    cache.set(key, entry, timeout=RESPONSE_SECONDS + STALE_SECONDS)
    cache.delete(_rebuild_lock(key))
    _local[key] = (entry, time.monotonic())


def forget(keys):
    """Drop the responses everywhere: in Redis at once, in other processes within LOCAL_SECONDS."""
    cache.delete_many(keys)
    for key in keys:
        _local.pop(key, None)


def entry_for(body, content_type, weak=False):
    digest = hashlib.sha256(body).hexdigest()[:32]
    return {"body": body, "content_type": content_type, "etag": f'{"W/" if weak else ""}"{digest}"'}


def _matches(request, etag):
    return etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]


def _origin(request):
    return f"{request.scheme}://{request.get_host()}".encode()


def serve(request, entry, cache_control):
    if _matches(request, entry["etag"]):
        response = HttpResponse(status=304)
    else:
        body = entry["body"]
        if entry.get("origin"):
            body = body.replace(ORIGIN_PLACEHOLDER, _origin(request))
        response = HttpResponse(body, content_type=entry["content_type"])
    response["ETag"] = entry["etag"]
    response["Cache-Control"] = cache_control
    return response


def cached_json(key, build, cache_control):
    """The view's response from the cache, else build() → bytes or None (a 404) and keep it."""

    def respond(request):
        entry = cache_get(key)
        if entry is None:
            body = build()
            if body is None:
                return None
            entry = entry_for(body, "application/json")
            cache_set(key, entry)
        return serve(request, entry, cache_control)

    return respond


def _shared_page_request(request):
    cookies = request.COOKIES
    return (
        request.method == "GET"
        and not request.META.get("QUERY_STRING")
        and settings.SESSION_COOKIE_NAME not in cookies
        and "messages" not in cookies
    )


def cached_page(view):
    """Serve a public page, the same for every visitor in a language, from the cache."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not _shared_page_request(request):
            return view(request, *args, **kwargs)
        key = page_key(request.path, get_language())
        entry = cache_get(key)
        if entry is not None:
            return serve(request, entry, "no-cache")
        response = view(request, *args, **kwargs)
        if response.status_code != 200 or response.streaming or CSRF_INPUT in response.content:
            return response  # a visitor's CSRF token must never reach another visitor
        origin = _origin(request)
        entry = entry_for(response.content.replace(origin, ORIGIN_PLACEHOLDER), response["Content-Type"], weak=True)
        entry["origin"] = origin in response.content
        cache_set(key, entry)
        response["ETag"] = entry["etag"]
        response["Cache-Control"] = "no-cache"
        return response

    wrapper.serves_cached_page = True  # referendum.middleware.CachedReadMiddleware serves its hits early
    return wrapper


def early_page(request, match):
    """A cached page for CachedReadMiddleware, before the session and language middleware: the
    entry for this path in the visitor's language, or None (then the whole chain runs)."""
    if not getattr(match.func, "serves_cached_page", False) or not _shared_page_request(request):
        return None
    from django.utils import translation

    language = translation.get_language_from_request(request)
    entry = cache_get(page_key(request.path, language), rebuild=False)
    if entry is None:
        return None
    with translation.override(language):
        return serve(request, entry, "no-cache"), language
