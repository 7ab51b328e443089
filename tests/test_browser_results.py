"""Observers in a real browser: the results update by themselves; with JS off they are complete."""

import pytest
from playwright.sync_api import expect

from tallying.services import seal_until_caught_up
from tests.browser import chromium
from tests.factories import make_poll
from tests.sealing import cast_many

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def count_cell(page, poll, option):
    return page.locator(f'[data-poll="{poll.id}"] tr[data-option="{option.id}"] [data-count]')


def test_results_update_live_without_reload(live_server):
    poll = make_poll()
    yes = poll.options.first()
    cast_many(poll, 2, option_index=0)
    seal_until_caught_up(poll.id)
    with chromium() as browser:
        page = browser.new_page()
        page.goto(live_server.url + "/results/")
        assert count_cell(page, poll, yes).inner_text() == "2"
        page.evaluate("window.__marker = 'same page'")
        cast_many(poll, 5, option_index=0)
        seal_until_caught_up(poll.id)
        expect(page.locator(f'article[data-poll="{poll.id}"] [data-total]')).to_have_text("7", timeout=15000)
        expect(page.locator(f'tbody[data-poll="{poll.id}"] [data-total]')).to_have_text("7")  # the summary too
        assert count_cell(page, poll, yes).inner_text() == "7"
        assert page.evaluate("window.__marker") == "same page"  # updated in place, not reloaded
        assert "s ago" in page.locator(f'[data-poll="{poll.id}"] [data-as-of-text]').inner_text()


def test_results_complete_with_javascript_off(live_server):
    poll = make_poll()
    cast_many(poll, 3, option_index=1)
    seal_until_caught_up(poll.id)
    with chromium() as browser:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(live_server.url + "/results/")
        no = poll.options.last()
        assert count_cell(page, poll, no).inner_text() == "3"
        assert page.locator(f'[data-poll="{poll.id}"] meter').count() == 2
        assert page.get_by_role("link", name="Refresh").count() >= 1
