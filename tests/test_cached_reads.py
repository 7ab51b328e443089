"""Reads from memory: the tally API and the results pages are whole responses kept in the cache,
rebuilt at each publication and at least every couple of seconds (the live "received" figure);
a cache hit runs no SQL, and a matching If-None-Match gets a 304."""

import json
import time

import pytest
from django.test import Client

from ballots.services import cast_ballot
from tallying import responses
from tallying.responses import LOCAL_SECONDS, RESPONSE_SECONDS
from tallying.services import seal_poll
from tests.factories import make_codes, make_poll


@pytest.fixture
def poll(db, settings):
    settings.PUBLISH_MIN_BALLOTS = 2
    return make_poll()


def tally(client, poll, **headers):
    return client.get(f"/api/v1/polls/{poll.id}/tally", headers=headers)


def test_tally_api_is_served_from_the_cache_without_sql(poll, django_assert_num_queries):
    client = Client()
    first = tally(client, poll)
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = tally(client, poll)
    assert again.content == first.content and again["ETag"] == first["ETag"]
    with django_assert_num_queries(0):
        not_modified = tally(client, poll, if_none_match=first["ETag"])
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == first["ETag"]


def test_an_unknown_poll_is_still_a_404(db):
    response = Client().get("/api/v1/polls/999999/tally")
    assert response.status_code == 404 and response.json()["error"] == "poll_not_found"


def test_a_publication_replaces_the_cached_responses_at_once(poll, django_capture_on_commit_callbacks):
    client = Client()
    before = tally(client, poll)
    page_before = client.get("/results/")
    yes = poll.options.first()
    for code in make_codes(poll, 2):
        cast_ballot(poll.id, code, yes.id)
    with django_capture_on_commit_callbacks(execute=True):
        assert seal_poll(poll.id) == 2
    after = tally(client, poll)  # well within RESPONSE_SECONDS of the first read
    assert after["ETag"] != before["ETag"]
    assert json.loads(after.content)["counted"] == 2
    assert tally(client, poll, if_none_match=before["ETag"]).status_code == 200
    page_after = client.get("/results/")
    assert page_after["ETag"] != page_before["ETag"]


def test_received_is_live_within_the_cache_lifetime(poll):
    client = Client()
    assert json.loads(tally(client, poll).content)["received"] == 0
    cast_ballot(poll.id, make_codes(poll, 1)[0], poll.options.first().id)  # fewer than K: nothing published
    time.sleep(RESPONSE_SECONDS + LOCAL_SECONDS + 0.1)  # "received" is at most this old
    body = json.loads(tally(client, poll).content)
    assert body["received"] == 1 and body["counted"] == 0


def test_results_page_from_the_cache_per_language_and_without_a_cookie(poll, django_assert_num_queries):
    english, russian = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first = english.get("/results/")
    assert first.status_code == 200
    Client().get("/results/", headers={"accept-language": "ru"})  # each page and language is built once
    Client().get(f"/results/{poll.region.slug}/")
    with django_assert_num_queries(0):
        cached = english.get("/results/")
        in_russian = russian.get("/results/", headers={"accept-language": "ru"})
        region = english.get(f"/results/{poll.region.slug}/")
    assert cached.status_code == in_russian.status_code == region.status_code == 200
    assert b"Live results" in cached.content and "Результаты".encode() in in_russian.content
    assert cached["ETag"] != in_russian["ETag"]
    # A public page gives its visitor no cookie and nothing of anyone else's.
    for response in (first, cached, in_russian, region):
        assert "Set-Cookie" not in response and b"csrfmiddlewaretoken" not in response.content
    assert not english.cookies and not russian.cookies
    # The language switch works without a token (a forged one could only switch a language).
    switched = russian.post("/i18n/setlang/", {"language": "en", "next": "/results/"})
    assert switched.status_code == 302 and russian.cookies["django_language"].value == "en"
    assert b"Live results" in russian.get("/results/").content
    with django_assert_num_queries(0):
        assert english.get("/results/", headers={"if-none-match": cached["ETag"]}).status_code == 304


def test_a_page_with_a_csrf_token_is_never_cached(poll):
    """Were a page with a form cached, one visitor's token would reach the others."""
    from django.http import HttpResponse
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    calls = []

    @responses.cached_page
    def with_form(request):
        calls.append(1)
        return HttpResponse(f'<input name="csrfmiddlewaretoken" value="{get_token(request)}">')

    for _ in range(3):
        with_form(RequestFactory().get("/with-form/"))
    assert len(calls) == 3 and responses.cache_get(responses.page_key("/with-form/", "en")) is None


def test_a_cached_tally_leaves_early_with_the_headers_of_a_full_answer(poll, settings, django_assert_num_queries):
    """A hit leaves before the session, language and CSRF middleware (CachedTallyMiddleware); its
    headers are those of the answer built through every middleware, in every language."""
    from referendum import metrics

    for language in ("en", "ru"):
        full = tally(Client(), poll, accept_language=language)  # a miss: the whole chain, the view
        with django_assert_num_queries(0):
            early = tally(Client(), poll, accept_language=language)
        assert early.content == full.content
        assert dict(early.headers) == dict(full.headers)
        assert early["Content-Language"] == language and "Content-Security-Policy" in early
        with django_assert_num_queries(0):
            not_modified = tally(Client(), poll, accept_language=language, if_none_match=full["ETag"])
        assert not_modified.status_code == 304 and not_modified["Vary"] == full["Vary"]
        responses._local.clear()
        full_304 = tally(Client(), poll, accept_language=language, if_none_match=full["ETag"])
        assert dict(full_304.headers) == dict(not_modified.headers)
        responses.forget([responses.tally_key(poll.id)])
    # Counted under its view, like any other answer.
    before = metrics.RESPONSES.labels("api-tally", "2xx")._value.get()
    tally(Client(), poll)
    tally(Client(), poll)
    assert metrics.RESPONSES.labels("api-tally", "2xx")._value.get() == before + 2
    # Not a tally: the whole chain as before.
    assert Client().get(f"/api/v1/polls/{poll.id}/nothing-here").status_code == 404


def test_the_content_security_policy_is_built_once_and_follows_the_setting(poll, settings):
    first = Client().get("/results/")["Content-Security-Policy"]
    assert "default-src 'self'" in first
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    responses._local.clear()
    assert Client().get(f"/api/v1/polls/{poll.id}/tally")["Content-Security-Policy"] == "default-src 'none'"


def _without_date(response):
    return {k: v for k, v in response.headers.items() if k not in ("Set-Cookie", "Date")}


@pytest.mark.parametrize("path", ["/results/", "/results/{slug}/"])
def test_a_cached_page_leaves_early_like_a_full_answer(poll, path, django_assert_num_queries):
    path = path.format(slug=poll.region.slug)
    for language in ("en", "ru"):
        responses._local.clear()
        responses.forget([responses.page_key(path, language)])
        full = Client().get(path, headers={"accept-language": language})  # a miss: built by the view
        with django_assert_num_queries(0):
            early = Client().get(path, headers={"accept-language": language})
        assert early.status_code == full.status_code == 200 and early.content == full.content
        assert _without_date(early) == _without_date(full)
        assert early["Content-Language"] == language
        # It left before the session middleware, which the full answer went through.
        assert hasattr(full.wsgi_request, "session") and not hasattr(early.wsgi_request, "session")


def test_a_cached_page_names_the_host_each_visitor_asked_for(poll, settings):
    """Clearnet and onion visitors share the cached page, not its absolute links."""
    settings.ALLOWED_HOSTS = ["clear.example", "abcdefghijklmnop.onion"]
    responses._local.clear()
    responses.forget([responses.page_key("/results/", "en")])
    first = Client().get("/results/", HTTP_HOST="clear.example").content.decode()
    second = Client().get("/results/", HTTP_HOST="abcdefghijklmnop.onion").content.decode()
    assert "http://clear.example/" in first and "onion" not in first
    assert "http://abcdefghijklmnop.onion/" in second and "clear.example" not in second
    assert "__ORIGIN__" not in second


def test_a_stale_response_is_rebuilt_by_one_process_while_the_others_serve_it(poll, django_assert_num_queries):
    """Past RESPONSE_SECONDS the first reader takes the rebuild lock and builds; a reader in another
    process meanwhile gets the stale copy without SQL, instead of building it too."""
    first = tally(Client(), poll)
    key = responses.tally_key(poll.id)
    entry = responses.cache_get(key)
    entry["fresh_until"] = time.time() - 1  # as it is RESPONSE_SECONDS later
    from django.core.cache import cache
    cache.set(key, entry, timeout=30)
    responses._local.clear()
    assert responses.cache_get(key) is None  # this reader rebuilds: it holds the lock now
    responses._local.clear()  # another process
    with django_assert_num_queries(0):
        stale = tally(Client(), poll)
    assert stale.content == first.content
    # The rebuilder stores the new entry and lets the lock go.
    responses._local.clear()
    cache.delete(responses._rebuild_lock(key))
    cache.set(key, entry, timeout=30)
    rebuilt = tally(Client(), poll)
    assert rebuilt.status_code == 200 and cache.get(responses._rebuild_lock(key)) is None
    assert cache.get(key)["fresh_until"] > time.time()


def test_the_early_tally_route_is_the_url_confs():
    from django.urls import resolve, reverse

    from referendum.middleware import CachedReadMiddleware

    for poll_id in (1, 42, 9_999_999):
        path = reverse("api-tally", args=[poll_id])
        assert CachedReadMiddleware.TALLY_PATH.fullmatch(path)[1] == str(poll_id)
        assert resolve(path).url_name == "api-tally"
    for other in ("/api/v1/polls/1/tally/", "/api/v1/polls/x/tally", "/api/v1/polls/1/snapshots"):
        assert CachedReadMiddleware.TALLY_PATH.fullmatch(other) is None
