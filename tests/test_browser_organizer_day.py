"""An organizer's whole day, in headless Chromium: a coordinator adds a region and an organizer;
the organizer enrolls through the one-time link, runs a poll, issues and downloads codes; a
voter votes; the public audit log shows every step under pseudonyms; the account is deactivated
and its open session ends. Then the vote and console flows by keyboard alone."""

import csv
import io
import re
from base64 import b32decode
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ballots.models import CodeBatch, InboxBallot, Poll
from regions.models import Organizer
from tests.browser import chromium
from tests.console import PASSWORD, current_token, make_organizer
from tests.factories import make_codes, make_poll, make_region
from tests.sealing import waiting_options

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "the new organizer's own passphrase 7"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def code_of(secret, drift=0):
    return f"{totp(b32decode(secret), drift=drift):06d}"


def test_an_organizers_whole_day(live_server, browser):
    make_region()
    coordinator, device = make_organizer("maria", role="coordinator")
    boss = browser.new_context(viewport={"width": 390, "height": 844})
    page = boss.new_page()

    # The coordinator signs in with password and TOTP.
    page.goto(live_server.url + "/console/login")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(current_token(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/console/")

    # Adds a region.
    page.get_by_role("link", name="Regions").click()
    page.get_by_label("Short name").fill("tatarstan")
    page.get_by_label("Name in English").fill("Tatarstan")
    page.get_by_label("Name in Russian").fill("Татарстан")
    page.get_by_role("button", name="Add the region").click()
    assert "Region Tatarstan added." in page.locator(".messages").inner_text()

    # Creates an organizer for it and gets the one-time link.
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="New account").click()
    page.get_by_label("User name").fill("kazan")
    page.get_by_label("regional organizer").check()
    page.get_by_label("Tatarstan").check()
    page.get_by_role("button", name="Create the account and its link").click()
    link = page.locator("#link").input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/console/welcome\?token=[\w-]{{40,}}", link)

    # The new organizer follows the link: password, then TOTP enrolment from the shown key.
    organizer_context = browser.new_context(viewport={"width": 390, "height": 844})
    org = organizer_context.new_page()
    org.goto(link)
    org.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    org.get_by_label("New password again").fill(NEW_PASSWORD)
    org.get_by_role("button", name="Set the password").click()
    org.wait_for_url("**/console/enroll")
    secret = org.locator(".secret").inner_text().strip()
    org.get_by_label("Six-digit code").fill(code_of(secret))
    org.get_by_role("button", name="Confirm").click()
    org.wait_for_url("**/console/")
    assert org.get_by_role("link", name="Accounts").count() == 0  # a regional organizer sees none of it

    # Creates and opens a poll in Tatarstan.
    org.get_by_role("link", name="New poll").click()
    assert org.locator("#id_region option").all_inner_texts() == ["Tatarstan"]
    org.get_by_label("Question in English").fill("Do you support the independence of Tatarstan?")
    org.get_by_label("Question in Russian").fill("Поддерживаете ли вы независимость Татарстана?")
    for n, (en, ru) in enumerate([("Yes", "Да"), ("No", "Нет")], start=1):
        org.get_by_label(f"Answer {n} in English").fill(en)
        org.get_by_label(f"Answer {n} in Russian").fill(ru)
    now = timezone.now()
    org.fill("#id_opens_at", (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    org.fill("#id_closes_at", (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    org.get_by_role("button", name="Save draft").click()
    org.get_by_role("button", name="Open now").click()
    poll = Poll.objects.get(region__slug="tatarstan")
    assert poll.state == Poll.State.OPEN

    # Issues a batch and downloads it, once.
    org.get_by_role("link", name="Manage batches").click()
    org.get_by_label("Number of codes").fill("5")
    org.get_by_role("button", name="Issue codes").click()
    with org.expect_download() as download:
        org.get_by_role("button", name="Download CSV").click()
    codes = [row["code"] for row in csv.DictReader(io.StringIO(open(download.value.path()).read()))]
    assert len(codes) == 5
    org.reload()
    assert org.get_by_role("button", name="Download CSV").count() == 0
    assert CodeBatch.objects.get(poll=poll).delivered_at is not None

    # A code from it votes.
    voter = browser.new_page()
    voter.goto(f"{live_server.url}/polls/{poll.id}/")
    voter.fill("#id_code", codes[0])
    voter.get_by_label("Yes").check()
    voter.get_by_role("button", name="Continue").click()
    voter.get_by_role("button", name="Confirm and cast my vote").click()
    assert voter.locator("#tracker").is_visible()
    assert InboxBallot.objects.filter(poll=poll).count() == 1

    # Pause, resume, close.
    org.goto(f"{live_server.url}/console/polls/{poll.id}/")
    org.get_by_label("Reason").fill("Checking a flood of requests")
    org.get_by_role("button", name="Pause (emergency stop)").click()
    org.get_by_role("button", name="Resume").click()
    org.get_by_label("Yes, close this poll now").check()
    org.get_by_role("button", name="Close now").click()
    assert Poll.objects.get(pk=poll.id).state == Poll.State.CLOSED

    # The coordinator deactivates the account; its open session ends at once.
    kazan = Organizer.objects.get(user__username="kazan")
    page.goto(live_server.url + "/console/accounts/")
    card = page.locator(".account", has_text="kazan")
    card.get_by_label("Yes, deactivate this account now").check()
    card.get_by_role("button", name="Deactivate").click()
    assert "deactivated" in page.locator(".messages").inner_text()
    org.goto(f"{live_server.url}/console/polls/{poll.id}/")
    assert "/console/login" in org.url

    # The public audit log shows each step, under pseudonyms only.
    audit = browser.new_page()
    audit.goto(live_server.url + "/audit/")
    rows = [r.split("\t") for r in audit.locator("tbody tr").all_inner_texts()]
    steps = [(row[1].split(" ")[0], row[3]) for row in reversed(rows)]
    assert steps == [
        (coordinator.pseudonym, "added a region"),
        (coordinator.pseudonym, f"created an organizer account: {kazan.pseudonym}"),
        (kazan.pseudonym, f"set a password with a one-time link: {kazan.pseudonym}"),
        (kazan.pseudonym, "created the poll"),
        (kazan.pseudonym, "opened the poll"),
        (kazan.pseudonym, "issued a batch of codes"),
        (kazan.pseudonym, "paused the poll"),
        (kazan.pseudonym, "resumed the poll"),
        (kazan.pseudonym, "closed the poll"),
        (coordinator.pseudonym, f"deactivated an organizer account: {kazan.pseudonym}"),
    ]
    text = audit.locator("main").inner_text()
    assert "kazan" not in text and "maria" not in text and "Checking a flood of requests" in text
    for context in (boss, organizer_context):
        context.close()
    voter.close()
    audit.close()


def tab_to(page, selector, limit=80):
    """Press Tab until the focused element matches `selector` (keyboard only, no clicks)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            outline = page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"
            )
            assert outline[0] != "none" or outline[2] != "none", f"{selector}: no visible focus ({outline})"
            return
    raise AssertionError(f"Tab never reached {selector}")


def submit(page):
    """Enter on the focused link or form, and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_voter_and_organizer_by_keyboard_alone(live_server, browser):
    poll = make_poll()
    (code,) = make_codes(poll, 1)
    page = browser.new_page()
    page.goto(f"{live_server.url}/polls/{poll.id}/")
    tab_to(page, "#id_code")
    page.keyboard.type(code)
    tab_to(page, "input[type=radio]")
    page.keyboard.press("ArrowDown")  # the second answer: No
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".about-to-vote")
    assert page.locator(".about-to-vote strong").inner_text() == "No"
    tab_to(page, "button[type=submit]:not(.lang-switch button)")
    assert "Confirm" in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    page.wait_for_selector("#tracker")
    assert [poll.options.get(pk=o).label_en for o in waiting_options(poll)] == ["No"]
    page.close()

    _coordinator, device = make_organizer("keys", role="coordinator")
    page = browser.new_page()
    page.goto(live_server.url + "/console/login")
    tab_to(page, "#id_username")
    page.keyboard.type("keys")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/verify")
    tab_to(page, "#id_token")
    page.keyboard.type(current_token(TOTPDevice.objects.get(pk=device.pk)))
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/")
    tab_to(page, f"a[href='/console/polls/{poll.id}/']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/polls/{poll.id}/")
    tab_to(page, "#id_reason")
    page.keyboard.type("Keyboard-only pause")
    tab_to(page, "form[action$='/pause'] button")
    submit(page)
    assert Poll.objects.get(pk=poll.id).state == Poll.State.PAUSED
    tab_to(page, "form[action$='/resume'] button")
    submit(page)
    assert Poll.objects.get(pk=poll.id).state == Poll.State.OPEN
    tab_to(page, "a[href='/console/regions/']")
    submit(page)
    tab_to(page, "#id_slug")
    page.keyboard.type("altai")
    page.keyboard.press("Tab")
    page.keyboard.type("Altai")
    page.keyboard.press("Tab")
    page.keyboard.type("Алтай")
    submit(page)
    assert "Altai" in page.locator("main table").inner_text()
    page.close()
