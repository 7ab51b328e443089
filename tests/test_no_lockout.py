"""No lock-out by name or by prefix: strangers who guess an organizer's password, or codes and
trackers sharing a voter's first symbols, spend their own budgets, never the victim's
(docs/security.md, "Rate limits")."""

import pytest
from django.test import Client
from django_otp.oath import totp

from ballots import services
from regions.console import devices
from tests.console import PASSWORD, make_organizer
from tests.factories import make_codes, make_poll

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def browser():
    return Client(enforce_csrf_checks=True)


def form_post(client, path, data):
    if "csrftoken" not in client.cookies:
        client.get(path)
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def token_at(device, offset_steps):
    """A code of the device `offset_steps` steps from now (the device accepts one step of drift;
    a code already used is refused, so a second sign-in in the same step takes the next one)."""
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset_steps)
    return f"{value:0{device.digits}d}"


def sign_in(client, username, password, token):
    response = form_post(client, "/console/login", {"username": username, "password": password})
    if response.status_code != 302:
        return response
    return form_post(client, "/console/verify", {"token": token})


@pytest.mark.django_db
def test_a_stranger_sends_100_wrong_passwords_and_the_organizer_signs_in_at_once(settings):
    settings.CONSOLE_LOGIN_RATE = "10/d"  # a day's window: no window boundary inside the test
    _, device = make_organizer("regional.one", role="regional", region_slugs=())
    organizer_browser = browser()
    response = sign_in(organizer_browser, "regional.one", PASSWORD, token_at(device, 0))
    assert response.status_code == 302 and response["Location"] == "/console/"
    cookie = organizer_browser.cookies[devices.COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console/"
    organizer_browser.post("/console/logout", {"csrfmiddlewaretoken": organizer_browser.cookies["csrftoken"].value})
    assert organizer_browser.get("/console/").status_code == 302

    statuses = []
    for i in range(100):  # a fresh browser for each try, and every spelling of the name
        name = ["regional.one", "REGIONAL.ONE", " Regional.One "][i % 3]
        statuses.append(form_post(browser(), "/console/login", {"username": name, "password": f"guess{i}"}).status_code)
    # The name's budget (10) held the organizer's first sign-in and nine guesses; the rest were refused.
    assert statuses[:9] == [200] * 9 and set(statuses[9:]) == {429}
    # An unknown browser with the right password is held by the name's limit…
    assert form_post(browser(), "/console/login", {"username": "regional.one", "password": PASSWORD}).status_code == 429

    # …the organizer's own browser is not.
    response = sign_in(organizer_browser, "regional.one", PASSWORD, token_at(device, 1))
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert organizer_browser.get("/console/").status_code == 200


@pytest.mark.django_db
def test_a_device_cookie_counts_only_for_its_own_account_and_keeps_a_budget(settings):
    settings.CONSOLE_LOGIN_RATE = "10/d"
    settings.CONSOLE_LOGIN_DEVICE_RATE = "5/d"
    settings.CONSOLE_LOGIN_SESSION_RATE = "1000/d"
    _, device = make_organizer("alpha", role="regional")
    make_organizer("beta", role="regional")
    client = browser()
    assert sign_in(client, "alpha", PASSWORD, token_at(device, 0)).status_code == 302
    # The cookie names alpha: for beta this browser is an unknown device, held by beta's name budget.
    for _ in range(10):
        form_post(browser(), "/console/login", {"username": "beta", "password": "wrong"})
    assert form_post(client, "/console/login", {"username": "beta", "password": PASSWORD}).status_code == 429
    # For alpha it has its own budget: five tries, then it is limited too (a stolen cookie guesses slowly).
    statuses = [form_post(client, "/console/login", {"username": "alpha", "password": "wrong"}).status_code
                for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    # A forged or altered cookie is no device at all.
    forged = browser()
    forged.cookies[devices.COOKIE_NAME] = client.cookies[devices.COOKIE_NAME].value[:-2] + "xx"
    for _ in range(10):
        form_post(browser(), "/console/login", {"username": "alpha", "password": "wrong"})
    assert form_post(forged, "/console/login", {"username": "alpha", "password": PASSWORD}).status_code == 429


@pytest.mark.django_db
def test_guessed_trackers_sharing_a_prefix_never_block_the_real_receipt(settings):
    settings.RECEIPT_RATE_PER_TRACKER = "10/d"
    settings.RECEIPT_RATE_PER_SESSION = "1000/d"
    poll = make_poll()
    tracker = services.cast_ballot(poll.id, make_codes(poll)[0], poll.options.first().id)
    prefix = tracker.replace("-", "")[:4]
    # Guesses sharing the waiting ballot's prefix: it is sealed, so a guess cannot be told from it,
    # and the prefix's bucket refuses neither (each guess still fills its own and its session's).
    statuses = [
        form_post(browser(), "/verify/", {"tracker": prefix + f"{i:028d}"}).status_code for i in range(20)
    ]
    assert statuses == [200] * 20
    # The prefix's bucket, full from the guesses, refuses what no ballot can have.
    assert form_post(browser(), "/verify/", {"tracker": prefix + "!"}).status_code == 429
    voter = browser()
    for _ in range(3):  # at once, and again
        response = form_post(voter, "/verify/", {"tracker": tracker})
        assert response.status_code == 200
        assert b"Too many attempts" not in response.content
    # The real tracker's own attempts are limited by a bucket only it fills.
    statuses = [form_post(voter, "/verify/", {"tracker": tracker.lower()}).status_code for _ in range(8)]
    assert statuses == [200] * 7 + [429]


@pytest.mark.django_db
def test_guessed_codes_sharing_a_prefix_never_block_the_real_code(settings):
    settings.CAST_RATE_PER_CODE = "20/d"
    poll = make_poll()
    option = poll.options.first()
    code, api_code = make_codes(poll, 2)
    for real in (code, api_code):
        prefix = real.replace("-", "")[:4]
        for path, body in ((f"/polls/{poll.id}/", "form"), (f"/api/v1/polls/{poll.id}/ballots", "json")):
            statuses = []
            for i in range(25):
                guess = prefix + f"{i:016d}"
                if body == "form":
                    statuses.append(Client().post(path, {"code": guess, "option": option.id}).status_code)
                else:
                    statuses.append(Client().post(path, {"code": guess, "option": option.id},
                                                  content_type="application/json").status_code)
            assert 429 in statuses, (path, statuses)
    # The real codes: the form's two steps, and the API.
    response = Client().post(f"/polls/{poll.id}/", {"code": code, "option": option.id})
    assert response.status_code == 200
    response = Client().post(f"/polls/{poll.id}/cast", {"code": code, "option": option.id})
    assert response.status_code == 200 and b"Too many attempts" not in response.content
    response = Client().post(f"/api/v1/polls/{poll.id}/ballots", {"code": api_code, "option": option.id},
                             content_type="application/json")
    assert response.status_code == 201
    # A used code is still a real one: the voter hears "already used", not "too many attempts".
    response = Client().post(f"/api/v1/polls/{poll.id}/ballots", {"code": api_code, "option": option.id},
                             content_type="application/json")
    assert response.status_code == 409 and response.json()["error"] == "code_used"
