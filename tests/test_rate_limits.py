"""Rate limits count what is attempted, so one client, or every voter behind one proxy address,
cannot lock anybody else out (docs/security.md, "Rate limits")."""

import pytest
from django.core.cache import caches
from django.test import Client

from ballots import services
from referendum.limits import normalize_username
from tests.console import PASSWORD, current_token, make_organizer
from tests.factories import make_codes, make_poll

# Days, not minutes, in the tests that must see a limit hit: no window boundary falls inside a test.
A_DAY = "d"


# Hundreds of sign-in attempts: a cheap hasher keeps them short (the limits don't depend on it).
pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def form_post(client, path, data, **extra):
    """A browser's form POST: the page first (it sets the CSRF cookie), then the form with its token."""
    if "csrftoken" not in client.cookies:
        client.get(path)
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}, **extra)


def browser():
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
def test_200_login_attempts_from_one_address_do_not_lock_out_the_organizer():
    organizer, device = make_organizer("coordinator", role="coordinator")
    attacker = browser()
    statuses = [
        form_post(attacker, "/console/login", {"username": f"user{i}", "password": "guess"}).status_code
        for i in range(200)
    ]
    assert set(statuses) <= {200, 429} and 429 in statuses  # the attacker's own session is limited

    # Attempts from a fresh browser each time, same address: limited by user name only.
    for i in range(200, 230):
        assert form_post(browser(), "/console/login", {"username": f"user{i}", "password": "x"}).status_code == 200

    organizer_browser = browser()  # same address (127.0.0.1), like everyone behind our proxy
    response = form_post(organizer_browser, "/console/login", {"username": "coordinator", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].endswith("/console/verify")
    response = form_post(organizer_browser, "/console/verify", {"token": current_token(device)})
    assert response.status_code == 302
    assert organizer_browser.get("/console/").status_code == 200


@pytest.mark.django_db
def test_200_receipt_lookups_from_one_address_do_not_lock_out_a_voter():
    poll = make_poll()
    option = poll.options.first()
    tracker = services.cast_ballot(poll.id, make_codes(poll)[0], option.id)

    attacker = browser()
    statuses = [
        form_post(attacker, "/verify/", {"tracker": f"{i:04d}" + "A" * 28}).status_code for i in range(200)
    ]
    assert 429 in statuses and set(statuses) <= {200, 429}

    voter = browser()
    response = form_post(voter, "/verify/", {"tracker": tracker})
    assert response.status_code == 200
    assert b"Too many attempts" not in response.content


@pytest.mark.django_db
def test_user_name_variants_share_one_limit(settings):
    settings.CONSOLE_LOGIN_RATE = f"5/{A_DAY}"
    make_organizer("coordinator", role="coordinator")
    variants = ["coordinator", "Coordinator", " COORDINATOR ", "coordinator\t", "ｃｏｏｒｄｉｎａｔｏｒ"]
    assert {normalize_username(v) for v in variants} == {"coordinator"}
    for variant in variants:  # five wrong passwords, each from a fresh browser
        assert form_post(browser(), "/console/login", {"username": variant, "password": "wrong"}).status_code == 200
    # The sixth attempt, even with the right password and exact spelling, waits.
    response = form_post(browser(), "/console/login", {"username": "coordinator", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # Another user name is not affected.
    make_organizer("siberia", region_slugs=["siberia"])
    response = form_post(browser(), "/console/login", {"username": "siberia", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_changes_nothing(settings):
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"  # what our proxy writes
    settings.RATELIMIT_PER_ADDRESS = f"5/{A_DAY}"
    client = Client()
    for i in range(5):
        response = client.post(
            "/verify/", {"tracker": f"{i:04d}" + "B" * 28},
            HTTP_X_REAL_IP="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
        assert response.status_code == 200
    forged = client.post(
        "/verify/", {"tracker": "9999" + "B" * 28},
        HTTP_X_REAL_IP="203.0.113.7", HTTP_X_FORWARDED_FOR="192.0.2.99",
    )
    assert forged.status_code == 429
    # The backstop keys on the proxy's header: another real address is served.
    other = client.post("/verify/", {"tracker": "9998" + "B" * 28}, HTTP_X_REAL_IP="203.0.113.8")
    assert other.status_code == 200


@pytest.mark.django_db
def test_without_a_proxy_header_there_is_no_per_address_limit(settings):
    settings.RATELIMIT_IP_META_KEY = None
    settings.RATELIMIT_PER_ADDRESS = f"1/{A_DAY}"
    poll = make_poll()
    for i in range(5):
        response = Client().post(
            f"/api/v1/polls/{poll.id}/ballots", {"code": f"{i:04d}-0000-0000-0000-0000", "option": 1},
            content_type="application/json",
        )
        assert response.status_code != 429


@pytest.mark.django_db
def test_casting_is_limited_per_code_prefix_with_retry_after_in_the_users_language(settings):
    settings.CAST_RATE_PER_CODE = f"3/{A_DAY}"
    poll = make_poll()
    option = poll.options.first()
    for suffix in ("AAAA", "BBBB", "CCCC"):
        response = Client().post(f"/polls/{poll.id}/", {"code": f"K7QM-2XWP-9HTR-4FZA-{suffix}", "option": option.id})
        assert response.status_code == 403  # unknown code, refused by the service
    same_prefix = Client().post(
        f"/polls/{poll.id}/cast", {"code": "k7qm 2xwp 9htr 4fza dddd", "option": option.id}, HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert same_prefix.status_code == 429
    assert int(same_prefix["Retry-After"]) > 0
    assert "Слишком много попыток" in same_prefix.content.decode()
    api = Client().post(
        f"/api/v1/polls/{poll.id}/ballots", {"code": "K7QM-0000-0000-0000-0000", "option": option.id},
        content_type="application/json",
    )
    assert api.status_code == 429 and api.json()["error"] == "rate_limited" and "Retry-After" in api
    # A real voter whose code starts otherwise casts at once.
    code = make_codes(poll)[0]
    assert not code.upper().startswith("K7QM")
    response = Client().post(
        f"/api/v1/polls/{poll.id}/ballots", {"code": code, "option": option.id}, content_type="application/json"
    )
    assert response.status_code == 201


def rate_limit_keys():
    return caches["default"].client.get_client().keys("*:rl:*")


@pytest.mark.django_db
def test_an_accepted_ballot_is_not_counted_and_refusals_are(settings):
    """An accepted cast uses its code up, so counting it protects nothing: it costs no Redis round
    trip and leaves no key that dates a voter (API and both form steps). Refused attempts are
    counted, and past the limit they get 429 instead of the refusal."""
    import json
    import re

    from ballots.models import InboxBallot

    settings.CAST_RATE_PER_CODE = f"2/{A_DAY}"
    poll = make_poll()
    option = poll.options.first()
    form_code, api_code = make_codes(poll, 2)
    client = browser()
    choice = form_post(client, f"/polls/{poll.id}/", {"code": form_code, "option": option.id})
    assert choice.status_code == 200
    kept = dict(re.findall(r'name="(tracker|token)" value="([^"]*)"', choice.content.decode()))
    receipt = form_post(client, f"/polls/{poll.id}/cast", {"code": form_code, "option": option.id, **kept})
    assert receipt.status_code == 200 and kept["tracker"] in receipt.content.decode()

    def api(code):
        return Client().post(f"/api/v1/polls/{poll.id}/ballots", json.dumps({"code": code, "option": option.id}),
                             content_type="application/json")

    assert api(api_code).status_code == 201
    assert rate_limit_keys() == []
    assert InboxBallot.objects.filter(poll=poll).count() == 2
    # The used code, hammered: two refusals say why, then the limit answers.
    assert [api(api_code).status_code for _ in range(4)] == [409, 409, 429, 429]
    assert len(rate_limit_keys()) == 2  # the value's bucket and the prefix's
    assert InboxBallot.objects.filter(poll=poll).count() == 2


@pytest.fixture
def redis_down(settings):
    """The cache (and so every rate-limit counter) at a port where nothing listens."""
    import socket

    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
    default = dict(settings.CACHES["default"])
    default["LOCATION"] = f"redis://127.0.0.1:{port}/0"
    settings.CACHES = {"default": default}
    yield
    caches["default"].close()


@pytest.mark.django_db
def test_with_redis_down_voting_goes_on_and_limits_are_open(settings, redis_down):
    settings.CAST_RATE_PER_CODE = f"2/{A_DAY}"
    assert caches["default"].get("anything") is None  # the cache answers nothing, raises nothing
    poll = make_poll()
    option = poll.options.first()
    # Well past the limit with one prefix: while the counters are unreachable, nothing is refused.
    for suffix in ("AAAA", "BBBB", "CCCC", "DDDD"):
        response = Client().post(f"/polls/{poll.id}/", {"code": f"K7QM-2XWP-9HTR-4FZA-{suffix}", "option": option.id})
        assert response.status_code == 403
    code = make_codes(poll)[0]
    response = Client().post(
        f"/api/v1/polls/{poll.id}/ballots", {"code": code, "option": option.id}, content_type="application/json"
    )
    assert response.status_code == 201
    organizer, device = make_organizer("coordinator", role="coordinator")
    response = form_post(browser(), "/console/login", {"username": "coordinator", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_totp_attempts_are_limited_per_user(settings):
    settings.CONSOLE_TOTP_RATE = f"3/{A_DAY}"
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # only our limit here
    organizer, device = make_organizer("coordinator", role="coordinator")
    statuses = []
    for _ in range(4):
        client = browser()  # a new session each time: the limit follows the user, not the session
        form_post(client, "/console/login", {"username": "coordinator", "password": PASSWORD})
        statuses.append(form_post(client, "/console/verify", {"token": "000000"}).status_code)
    assert statuses[:3] == [400, 400, 400] and statuses[3] == 429
