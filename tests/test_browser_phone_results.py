"""Results on a phone (320 and 360 px, Russian): every region's figures (received, counted,
waiting, percentages) on the first screen, the explanation of steps once, and percentages written
the same by the live script as by the server (decimal comma). Screenshots go to docs/img/ when
SCREENSHOTS=docs, else to the test's temporary folder."""

import pytest
from playwright.sync_api import expect

from regions.services import seed_regions
from tallying.services import seal_until_caught_up
from tests.browser import chromium, screenshot_dir
from tests.factories import make_poll
from tests.sealing import cast_many

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.mark.parametrize("width", [320, 360])
def test_every_region_on_the_first_screen(live_server, browser, width, tmp_path):
    out = screenshot_dir(tmp_path)
    polls = [make_poll(region=region) for region in seed_regions()]
    for index, poll in enumerate(polls):
        cast_many(poll, 3 + index, option_index=index % 2)
        cast_many(poll, 2, option_index=(index + 1) % 2)
        seal_until_caught_up(poll.id)
    cast_many(polls[0], 1, option_index=0)  # received, not yet counted (sealed below, live)
    context = browser.new_context(viewport={"width": width, "height": 740}, is_mobile=True, locale="ru-RU",
                                  extra_http_headers={"Accept-Language": "ru"})
    page = context.new_page()
    page.goto(live_server.url + "/results/")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "каждые несколько секунд" not in page.content()
    assert page.locator("p.steps").count() == 1  # the explanation of steps, once per page
    summary = page.locator("table.summary")
    assert summary.locator("tbody").count() == 5
    bottom = page.evaluate("document.querySelector('table.summary').getBoundingClientRect().bottom")
    assert bottom <= 740, "every region's figures fit the first screen"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    first = summary.locator(f'tbody[data-poll="{polls[0].id}"]')
    assert first.locator("[data-received]").inner_text() == "6"
    assert first.locator("[data-waiting]").inner_text() == "1"
    served = first.locator("[data-percent]").first.inner_text()
    assert "," in served  # 60,0 in Russian
    page.screenshot(path=str(out / f"phone-ru-results-{width}.png"))

    seal_until_caught_up(polls[0].id)  # the live script now rewrites the figures
    expect(first.locator("[data-total]")).to_have_text("6", timeout=15000)
    card = page.locator(f'article[data-poll="{polls[0].id}"]')
    for percent in [*first.locator("[data-percent]").all(), *card.locator("[data-percent]").all()]:
        text = percent.inner_text()
        assert "," in text and "." not in text, text
    context.close()
