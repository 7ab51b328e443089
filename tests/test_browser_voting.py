"""A voter casts a ballot in a real headless Chromium, with and without JavaScript."""

import re

import pytest

from ballots import codes
from ballots.keys import open_waiting
from ballots.models import Credential, InboxBallot
from tests.browser import chromium
from tests.factories import make_codes, make_poll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def as_typed_sloppily(code):
    """How a voter might type a printed code: lower case, spaces instead of dashes, O for 0."""
    return code.lower().replace("-", " ").replace("0", "o")


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_voter_casts_a_ballot_and_gets_a_receipt(live_server, browser, javascript):
    poll = make_poll()
    code, spare = make_codes(poll, 2)
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})
    page = context.new_page()

    page.goto(live_server.url + "/")
    assert page.locator("h2", has_text="Siberia").is_visible()
    page.get_by_role("link", name="Vote in Siberia").click()
    page.fill("#id_code", as_typed_sloppily(code))
    page.get_by_label("No").check()
    page.get_by_role("button", name="Continue").click()

    assert "You are about to vote:" in page.locator(".about-to-vote").inner_text()
    assert page.locator(".about-to-vote strong").inner_text().strip() == "No"
    assert Credential.objects.filter(poll=poll, used=True).count() == 0  # not consumed yet
    page.get_by_role("button", name="Confirm and cast my vote").click()

    tracker = page.locator("#tracker").inner_text().strip()
    assert re.fullmatch(r"([0-9A-Z]{4}-){7}[0-9A-Z]{4}", tracker)
    assert "What is this receipt for?" in page.content()
    ((option, tracker_hash),) = open_waiting(poll.id)  # sealed: opened with the key store's key
    assert poll.options.get(pk=option).label_en == "No"
    assert bytes(tracker_hash) == codes.hash_tracker(codes.normalize_tracker(tracker))
    assert Credential.objects.filter(poll=poll, used=True).count() == 1

    # The same code again: it has been used; the page says what the tracker shown means (the
    # browser cannot tell a fresh page from the vote step sent again after Back, docs/receipts.md).
    page.goto(f"{live_server.url}/polls/{poll.id}/")
    page.fill("#id_code", code)
    page.get_by_label("Yes").check()
    page.get_by_role("button", name="Continue").click()
    assert "Your code has been used" in page.locator("h1").inner_text()
    assert "If you did not vote with this code just now, this is not a receipt" in page.content()
    assert InboxBallot.objects.count() == 1
    context.close()


def test_stylesheet_loads_and_phone_layout_does_not_scroll_sideways(live_server, browser):
    poll = make_poll()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    response = page.goto(f"{live_server.url}/polls/{poll.id}/")
    assert response.status == 200
    # Our stylesheet is applied (the header colour comes from site.css).
    header_colour = page.eval_on_selector(".site-header", "e => getComputedStyle(e).backgroundColor")
    assert header_colour == "rgb(20, 50, 74)"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    context.close()


def test_code_from_qr_fragment_fills_the_field_and_leaves_the_address_bar(live_server, browser):
    poll = make_poll()
    (code,) = make_codes(poll)
    page = browser.new_page()
    page.goto(f"{live_server.url}/polls/{poll.id}/#code={code}")
    assert page.input_value("#id_code") == code
    assert "#" not in page.url and code not in page.url
    page.close()


def test_no_request_leaves_for_another_host(live_server, browser):
    poll = make_poll()
    page = browser.new_page()
    hosts = set()
    page.on("request", lambda request: hosts.add(re.sub(r"^\w+://([^/]+).*$", r"\1", request.url)))
    page.goto(live_server.url + "/")
    page.goto(f"{live_server.url}/polls/{poll.id}/")
    assert hosts == {live_server.url.split("://", 1)[1]}
    page.close()
