"""Every public and console page fits a phone (320 and 390 px wide) in English and Russian, passes
axe-core (WCAG 2.1 A and AA rules) with no serious or critical violation, and its controls are
tap targets of at least 44 px. Pages reached by a form (confirmation, receipt, receipt check,
e-mail registration, printable cards, one-time link, enrolment) are reached by filling the form."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django_otp.plugins.otp_totp.models import TOTPDevice

from ballots import services as ballot_services
from ballots.models import Poll
from regions import services as region_services
from tallying.services import seal_all_polls
from tests.browser import chromium
from tests.console import PASSWORD, current_token, make_organizer
from tests.factories import make_codes, make_poll, make_region

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WIDTHS = [320, 390]
LANGUAGES = ["en", "ru"]
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
# Controls a thumb must hit. Links inside running text are exempt (WCAG 2.5.5's inline exception).
TAP_TARGETS = (
    "button, .button, .site-nav a, .console-nav a, label.option, select, textarea,"
    " input[type=text], input[type=password], input[type=number], input[type=email], input[type=datetime-local]"
)
MEASURE = """(selector) => {
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.closest('.visually-hidden')) continue;
    if (box.height < 44 || box.width < 44) small.push(el.outerHTML.slice(0, 120) + ` (${Math.round(box.width)}x${Math.round(box.height)})`);
  }
  return {scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, small};
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def site(live_server):
    """A referendum in full swing: open, draft and e-mail polls, sealed and waiting ballots,
    batches to download, a coordinator, pending accounts with one-time links, audit entries."""
    siberia = make_poll(region=make_region())
    urals = make_poll(region=make_region("urals", "Urals", "Урал"))
    krasnodar = make_poll(region=make_region("krasnodar", "Krasnodar", "Краснодар"),
                          state=Poll.State.DRAFT)
    ballot_services.set_email_registration(urals.id, True)
    codes = make_codes(siberia, 40)
    options = list(siberia.options.all())
    trackers = [ballot_services.cast_ballot(siberia.id, code, options[i % 2].id) for i, code in enumerate(codes[:12])]
    seal_all_polls()
    ballot_services.cast_ballot(siberia.id, codes[12], options[0].id)
    ballot_services.pause_poll(urals.id, "Разбираемся с подозрительным потоком запросов из одной сети; " * 3)
    ballot_services.resume_poll(urals.id)
    # One coordinator per browser context: django-otp refuses a TOTP code used twice.
    coordinators = [make_organizer(f"coordinator-{i}-with-a-rather-long-name", role="coordinator") for i in range(4)]
    coordinator, device = coordinators[0]
    batches = [ballot_services.start_batch(siberia, 6, ballot_services.actor_for(coordinator)) for _ in range(5)]
    links = []
    for i in range(9):
        _organizer, token = region_services.create_organizer(coordinator, f"pending{i}", "regional", [siberia.region])
        links.append(token)
    return {
        "url": live_server.url, "siberia": siberia, "urals": urals, "draft": krasnodar,
        "codes": iter(codes[13:]), "trackers": trackers, "coordinator": coordinator, "device": device,
        "coordinators": iter(coordinators),
        "batches": iter(batches), "links": iter(links),
    }


def sign_in(page, site):
    coordinator, device = next(site["coordinators"])
    page.goto(site["url"] + "/console/login")
    page.fill("#id_username", coordinator.user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("main button[type=submit]").click()
    device = TOTPDevice.objects.get(pk=device.pk)
    page.fill("#id_token", current_token(device))
    page.locator("main button[type=submit]").click()
    page.wait_for_url("**/console/")


def public_pages(site):
    """(name, how to reach it) for every page a voter or observer can see."""
    s = site
    poll = s["siberia"]

    def vote_until(step):
        def go(page):
            page.goto(f"{s['url']}/polls/{poll.id}/")
            page.fill("#id_code", next(s["codes"]))
            page.locator("input[type=radio]").first.check()
            page.locator("main button[type=submit]").click()
            if step == "receipt":
                page.locator("main button[type=submit]").first.click()
                page.wait_for_selector("#tracker")
        return go

    def verify_result(page):
        page.goto(f"{s['url']}/verify/")
        page.fill("#id_tracker", s["trackers"][0])
        page.locator("main button[type=submit]").click()

    def registered(page):
        page.goto(f"{s['url']}/polls/{s['urals'].id}/register")
        page.fill("main input[type=email]", f"voter{id(page)}@example.org")
        page.locator("main button[type=submit]").click()

    def refused_code(page):
        page.goto(f"{s['url']}/polls/{poll.id}/")
        page.fill("#id_code", "AAAA-BBBB")
        page.locator("main button[type=submit]").click()

    return [
        ("home", lambda page: page.goto(s["url"] + "/")),
        ("vote", lambda page: page.goto(f"{s['url']}/polls/{poll.id}/")),
        ("vote refused", refused_code),
        ("confirm", vote_until("confirm")),
        ("receipt", vote_until("receipt")),
        ("results", lambda page: page.goto(s["url"] + "/results/")),
        ("region results", lambda page: page.goto(s["url"] + "/results/siberia/")),
        ("ledger", lambda page: page.goto(f"{s['url']}/ledger/{poll.id}/")),
        ("verify", lambda page: page.goto(s["url"] + "/verify/")),
        ("verify result", verify_result),
        ("register", lambda page: page.goto(f"{s['url']}/polls/{s['urals'].id}/register")),
        ("register sent", registered),
        ("audit", lambda page: page.goto(s["url"] + "/audit/")),
        ("not found", lambda page: page.goto(s["url"] + "/no/such/page")),
        ("console login", lambda page: page.goto(s["url"] + "/console/login")),
        ("one-time link", lambda page: page.goto(f"{s['url']}/console/welcome?token={next(s['links'])}")),
    ]


def console_pages(site):
    s = site
    poll, batch = s["siberia"], s["batches"]

    def cards(page):
        page.goto(f"{s['url']}/console/polls/{poll.id}/batches/{next(batch).id}/")
        page.locator("button[value=cards]").click()
        page.wait_for_selector(".code-cards")

    def link_page(page):
        page.goto(s["url"] + "/console/accounts/new")
        page.fill("#id_username", f"new{abs(hash(page))}")
        page.locator("input[name=regions]").first.check()
        page.locator("main form.console-form button[type=submit]").click()
        page.wait_for_selector("#link")

    return [
        ("console home", lambda page: page.goto(s["url"] + "/console/")),
        ("new poll", lambda page: page.goto(s["url"] + "/console/polls/new")),
        ("poll overview", lambda page: page.goto(f"{s['url']}/console/polls/{poll.id}/")),
        ("draft overview", lambda page: page.goto(f"{s['url']}/console/polls/{s['draft'].id}/")),
        ("edit draft", lambda page: page.goto(f"{s['url']}/console/polls/{s['draft'].id}/edit")),
        ("batches", lambda page: page.goto(f"{s['url']}/console/polls/{poll.id}/batches/")),
        ("batch", lambda page: page.goto(f"{s['url']}/console/polls/{poll.id}/batches/{s['batches_first'].id}/")),
        ("cards", cards),
        ("regions", lambda page: page.goto(s["url"] + "/console/regions/")),
        ("accounts", lambda page: page.goto(s["url"] + "/console/accounts/")),
        ("new account", lambda page: page.goto(s["url"] + "/console/accounts/new")),
        ("account link", link_page),
    ]


def enrolment_pages(site):
    """Pages of an organizer who is signing in or enrolling (each in a fresh context)."""
    s = site

    def verify(page):
        page.goto(s["url"] + "/console/login")
        page.fill("#id_username", s["coordinator"].user.username)
        page.fill("#id_password", PASSWORD)
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/console/verify")

    def enroll(page):
        page.goto(f"{s['url']}/console/welcome?token={next(s['links'])}")
        page.fill("#id_new_password1", "a new password for this phone test")
        page.fill("#id_new_password2", "a new password for this phone test")
        page.locator("main button[type=submit]").click()
        page.wait_for_url("**/console/enroll")

    return [("TOTP verify", verify), ("TOTP enroll", enroll)]


def check(page, name, width, lang, axe, problems):
    found = page.evaluate(MEASURE, TAP_TARGETS)
    where = f"{name} [{lang}, {width}px] {page.url}"
    if found["scroll"] > width:
        problems.append(f"{where}: page is {found['scroll']} px wide")
    for element in found["small"]:
        problems.append(f"{where}: tap target under 44 px: {element}")
    results = axe.run(page, options=AXE_OPTIONS)
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [n["target"] for n in violation["nodes"]][:3]
            problems.append(f"{where}: axe {violation['id']} ({violation['impact']}): {targets}")


def test_every_page_fits_a_phone_and_passes_axe_in_both_languages(browser, site):
    site["batches_first"] = next(site["batches"])
    axe = Axe()
    problems, seen = [], 0
    for lang in LANGUAGES:
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True)
            context.add_cookies([{"name": "django_language", "value": lang, "url": site["url"]}])
            page = context.new_page()
            for name, reach in public_pages(site):
                reach(page)
                assert page.locator("html").get_attribute("lang") == lang, f"{name}: {page.url}"
                check(page, name, width, lang, axe, problems)
                seen += 1
            sign_in(page, site)
            for name, reach in console_pages(site):
                reach(page)
                assert "/console/login" not in page.url, name
                check(page, name, width, lang, axe, problems)
                seen += 1
            context.close()
            for name, reach in enrolment_pages(site):
                context = browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True)
                context.add_cookies([{"name": "django_language", "value": lang, "url": site["url"]}])
                page = context.new_page()
                reach(page)
                check(page, name, width, lang, axe, problems)
                seen += 1
                context.close()
    print(f"{seen} page views checked")
    assert seen == 4 * (len(public_pages(site)) + len(console_pages(site)) + len(enrolment_pages(site)))
    assert not problems, "\n".join(problems)
