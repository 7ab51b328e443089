"""The confirmation and receipt pages are rendered once per poll, answer and language, then filled
in per request (referendum/filled_pages.py). Each variant must be byte for byte what the template
engine renders for that request, and no voter's values may reach another voter's page."""

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.middleware.csrf import _unmask_cipher_token
from django.shortcuts import render
from django.test import RequestFactory
from django.urls import resolve
from django.utils import translation

from ballots import codes, queries
from referendum import filled_pages
from tests.factories import make_poll

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def request_for(path, host="testserver"):
    request = RequestFactory().post(path, HTTP_HOST=host)
    request.resolver_match = resolve(path.split("?")[0])
    request.user = AnonymousUser()
    return request


def comparable(content):
    """The page with each CSRF token unmasked: every render masks the secret afresh."""
    return CSRF.sub(lambda m: f'name="csrfmiddlewaretoken" secret="{_unmask_cipher_token(m.group(1))}"',
                    content.decode())


def confirm(request, poll, option, code, tracker, filled):
    context = {"poll": poll, "option": option}
    values = {"code": codes.group(code), "tracker": tracker, "token": codes.receipt_token(poll.id, code, tracker)}
    if filled:
        return filled_pages.render_filled(request, "ballots/confirm.html", context, key=(poll.id, option.id),
                                          values=values, grouped=("tracker",))
    return render(request, "ballots/confirm.html", {**context, **values})


def receipt(request, poll, tracker, again, filled):
    context = {"poll": poll, "again": again, "publish_min_ballots": 100}
    if filled:
        return filled_pages.render_filled(request, "ballots/receipt.html", context, key=(poll.id, again, 100),
                                          values={"tracker": tracker}, grouped=("tracker",))
    return render(request, "ballots/receipt.html", {**context, "tracker": tracker})


@pytest.fixture
def poll(db):
    filled_pages._rendered.clear()
    return queries.public_poll(make_poll().id)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_each_confirmation_page_is_what_the_template_renders(poll, language):
    translation.activate(language)
    # A host of its own and a query string (og:url holds both).
    path = f"/polls/{poll.id}/?next=<b>&x=\"'"
    for option in poll.options.all():
        for _voter in range(2):  # the first renders the variant, the second fills it in
            code, tracker = codes.normalize_code(codes.new_code()), codes.new_tracker()
            request = request_for(path, host="localhost:8443")
            filled = confirm(request, poll, option, code, tracker, filled=True)
            plain = confirm(request, poll, option, code, tracker, filled=False)
            assert comparable(filled.content) == comparable(plain.content)
            assert f'name="code" value="{codes.group(code)}"' in filled.content.decode()
    assert len(filled_pages._rendered) == poll.options.count()


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("again", [False, "back", "confirm"])
def test_each_receipt_page_is_what_the_template_renders(poll, language, again):
    translation.activate(language)
    for _voter in range(2):
        tracker = codes.new_tracker()
        request = request_for(f"/polls/{poll.id}/cast?lang=\"><script>")
        filled = receipt(request, poll, tracker, again, filled=True)
        plain = receipt(request, poll, tracker, again, filled=False)
        assert filled.content == plain.content
        assert 'data-tracker="' + tracker + '"' in filled.content.decode()
        assert "<script>" not in filled.content.decode()
    assert len(filled_pages._rendered) == 1  # the second voter's page was filled in, not rendered


def test_no_voter_sees_anothers_code_tracker_or_token(poll):
    option = poll.options.first()
    first_code, first_tracker = codes.normalize_code(codes.new_code()), codes.new_tracker()
    first = confirm(request_for(f"/polls/{poll.id}/"), poll, option, first_code, first_tracker, filled=True)
    first_token = codes.receipt_token(poll.id, first_code, first_tracker)
    second_code, second_tracker = codes.normalize_code(codes.new_code()), codes.new_tracker()
    second = confirm(request_for(f"/polls/{poll.id}/"), poll, option, second_code, second_tracker, filled=True)
    page = second.content.decode()
    assert codes.group(second_code) in page and second_tracker in page
    first_groups = [f'<span class="group">{group}</span>' for group in first_tracker.split("-")]
    for value in (codes.group(first_code), first_tracker, first_token, *first_groups):
        assert value not in page
    assert codes.group(first_code) in first.content.decode()
    # No marker is ever left in a page.
    assert filled_pages._MARK not in page and filled_pages._MARK not in first.content.decode()
