"""On a 320 and 360 px phone, in Russian: the confirmation step after a language switch keeps the
code and the answer, and the tracker (there and on the receipt) never breaks inside a group.
Screenshots go to docs/img/ when SCREENSHOTS=docs, else to the test's temporary folder."""

import pytest

from tests.browser import chromium, screenshot_dir
from tests.factories import make_codes, make_poll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def assert_tracker_groups_unbroken(page):
    groups = page.locator("#tracker .group")
    assert groups.count() == 8
    # One box per group: a line never breaks inside a group of four.
    assert page.eval_on_selector_all("#tracker .group", "gs => gs.map(g => g.getClientRects().length)") == [1] * 8
    assert page.evaluate("document.scrollingElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("width", [320, 360])
def test_confirmation_after_language_switch_and_receipt_on_a_phone(live_server, browser, width, tmp_path):
    out = screenshot_dir(tmp_path)
    poll = make_poll()
    (code,) = make_codes(poll)
    context = browser.new_context(viewport={"width": width, "height": 720}, is_mobile=True, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/polls/{poll.id}/")
    page.fill("#id_code", code.lower())
    page.get_by_label("No").check()
    page.get_by_role("button", name="Continue").click()
    tracker = page.locator("#tracker").get_attribute("data-tracker")

    page.locator(".lang-switch button[value=ru]").click()
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Подтвердите" in page.locator("h1").inner_text()
    assert page.locator(".about-to-vote strong").inner_text().strip() == "Нет"
    assert page.locator(".confirm-form input[name=code]").input_value() == code
    assert page.locator("#tracker").get_attribute("data-tracker") == tracker
    assert code not in page.url
    assert_tracker_groups_unbroken(page)
    page.screenshot(path=str(out / f"phone-ru-confirm-{width}.png"), full_page=True)

    page.get_by_role("button", name="Подтвердить и проголосовать").click()
    assert page.locator("#tracker").get_attribute("data-tracker") == tracker
    assert_tracker_groups_unbroken(page)
    page.screenshot(path=str(out / f"phone-ru-receipt-{width}.png"), full_page=True)
    context.close()
