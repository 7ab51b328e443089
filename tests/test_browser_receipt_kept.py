"""A receipt no network can take away: through a proxy that holds back or loses the answer to the
cast, a voter who taps twice, reloads the receipt, goes Back and confirms again, or loses the
answer and retries, ends up holding the tracker of the one ballot that is counted, with
JavaScript on and off. The ledger then holds exactly that ballot."""

import pytest

from ballots import codes
from ballots.models import Credential, InboxBallot
from tallying.models import LedgerEntry
from tallying.services import seal_poll
from tests.browser import chromium
from tests.factories import make_codes, make_poll
from tests.slow_network import SlowNetwork

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def voter(live_server, browser, request):
    """A poll, a code, a slow network and a browser page at the confirmation step (answer "No").
    Yields (page, network, poll, code, tracker shown on the confirmation step)."""
    poll = make_poll()
    (code,) = make_codes(poll, 1)
    with SlowNetwork(live_server.url, "/cast") as network:
        context = browser.new_context(java_script_enabled=request.param, viewport={"width": 360, "height": 740})
        page = context.new_page()
        page.javascript = request.param
        page.goto(f"{network.url}/polls/{poll.id}/")
        page.fill("#id_code", code)
        page.get_by_label("No").check()
        page.get_by_role("button", name="Continue").click()
        shown = page.locator("#tracker").get_attribute("data-tracker")
        assert page.locator("#tracker").inner_text().strip() == shown  # the voter can write it down
        yield page, network, poll, code, shown
        context.close()


def confirm(page):
    page.get_by_role("button", name="Confirm and cast my vote").click()


def receipt_tracker(page):
    page.wait_for_selector(".receipt #tracker", timeout=15000)
    return page.locator(".receipt #tracker").get_attribute("data-tracker")


def resend(page):
    """The voter's reload of a page that came from a form: the browser sends the form again. Right
    after an error page the tab may be switching renderers, so try again briefly."""
    for attempt in range(20):
        try:
            page.reload()
            return
        except Exception as error:  # noqa: BLE001
            if "Not attached" not in str(error) or attempt == 19:
                raise
            page.wait_for_timeout(100)


def assert_one_ballot_with(poll, code, tracker):
    assert Credential.objects.get(code_hash=codes.hash_code(codes.normalize_code(code))).used
    assert InboxBallot.objects.filter(poll=poll).count() == 1
    assert seal_poll(poll.id) == 1  # K is 1 in the tests: this publishes it
    (entry,) = LedgerEntry.objects.filter(poll=poll)
    assert bytes(entry.tracker_hash) == codes.hash_tracker(codes.normalize_tracker(tracker))
    assert entry.option.label_en == "No"


JS = pytest.mark.parametrize("voter", [True, False], ids=["js-on", "js-off"], indirect=True)


@JS
def test_double_tap_on_a_slow_answer(voter):
    page, network, poll, code, shown = voter
    network.delay = 2.0
    box = page.get_by_role("button", name="Confirm and cast my vote").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.mouse.click(x, y)  # the first answer has not come back yet
    assert receipt_tracker(page) == shown
    assert page.locator(".error").count() == 0
    # With JavaScript the second tap sends nothing; without, the browser may send the form again
    # (and show the second answer: the same receipt).
    assert len(network.posts_to_cast()) == 1 if page.javascript else len(network.posts_to_cast()) >= 1
    assert_one_ballot_with(poll, code, shown)


@JS
def test_reload_of_the_receipt(voter):
    page, network, poll, code, shown = voter
    confirm(page)
    assert receipt_tracker(page) == shown
    page.reload()  # the browser sends the same form again
    assert receipt_tracker(page) == shown
    assert "Your code has been used" in page.locator("h1").inner_text()
    assert page.locator(".error").count() == 0
    assert [status for _m, _p, status in network.posts_to_cast()] == [200, 200]
    assert_one_ballot_with(poll, code, shown)


@JS
def test_back_then_confirm_again(voter):
    page, network, poll, code, shown = voter
    confirm(page)
    assert receipt_tracker(page) == shown
    try:
        page.go_back()
    except Exception as error:  # noqa: BLE001 - the confirmation step is not kept by the browser
        assert "ERR_CACHE_MISS" in str(error)
        resend(page)  # "Confirm form resubmission": the browser sends the vote step's form again
    if page.get_by_role("button", name="Confirm and cast my vote").count():
        confirm(page)
    assert receipt_tracker(page) == shown
    assert "Your code has been used" in page.locator("h1").inner_text()
    assert page.locator(".error").count() == 0
    assert_one_ballot_with(poll, code, shown)


@JS
def test_lost_answer_then_retry(voter):
    page, network, poll, code, shown = voter
    network.drops = 1
    confirm(page)  # the answer is lost: the ballot is in, the phone heard nothing back
    page.wait_for_load_state()
    if page.locator(".receipt #tracker").count() == 0:
        resend(page)  # retry: the browser sends the same form again
    # (Chromium may retry on its own when a connection closes with nothing received.)
    assert receipt_tracker(page) == shown
    assert [status for _m, _p, status in network.posts_to_cast()] == [200, 200]
    assert "Your code has been used" in page.locator("h1").inner_text()
    assert_one_ballot_with(poll, code, shown)
