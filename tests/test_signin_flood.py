"""Expensive work behind cheap gates: one client sending sign-in POSTs with fresh names and
self-made CSRF pairs cannot make the server hash passwords for it faster than the node's budget,
nor more at once than PASSWORD_HASH_CONCURRENCY per process, so the site stays fast for everyone
(docs/security.md, "Expensive work behind cheap gates")."""

import secrets
import statistics
import string
import threading
import time
import urllib.parse

import pytest
from django.contrib.auth.models import User
from django.test import Client

from referendum import limits
from tests.console import PASSWORD, make_organizer
from tests.live import fetch, production_server
from tests.test_no_lockout import browser, form_post, sign_in, token_at

ALNUM = string.ascii_letters + string.digits


def csrf_pair():
    """What a bot mints per request: any 32 letters and digits as cookie and token pass Django's check."""
    return "".join(secrets.choice(ALNUM) for _ in range(32))


@pytest.mark.django_db
def test_the_node_budget_refuses_strangers_at_once_and_passes_a_known_device(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _, device = make_organizer("known", role="regional")
    organizer = browser()
    assert sign_in(organizer, "known", PASSWORD, token_at(device, 0)).status_code == 302
    settings.PASSWORD_HASH_NODE_RATE = "3/d"
    statuses = [form_post(browser(), "/console/login", {"username": f"nobody{i}", "password": "x"}).status_code
                for i in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]
    # GETs of the form are not counted; the organizer's browser has a budget of its own.
    assert browser().get("/console/login").status_code == 200
    assert sign_in(organizer, "known", PASSWORD, token_at(device, 1)).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_beyond_the_concurrent_hashes_a_sign_in_is_refused_at_once(settings):
    settings.PASSWORD_HASH_CONCURRENCY = 1
    settings.PASSWORD_HASH_ITERATIONS = 3_000_000  # the first attempt hashes for about a second
    User.objects.create_user("someone", password="whatever it is, long enough")
    first = threading.Thread(
        target=lambda: Client().post("/console/login", {"username": "someone", "password": "wrong"})
    )
    first.start()
    try:
        deadline = time.monotonic() + 10
        while limits._slots()._value != 0:  # the first attempt holds the process's one slot
            assert first.is_alive() and time.monotonic() < deadline
            time.sleep(0.005)
        response = Client().post("/console/login", {"username": "other", "password": "wrong"})
        holding = limits._slots()._value == 0
    finally:
        first.join()
    assert holding  # the second answer came while the first still hashed
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert Client().post("/console/login", {"username": "other", "password": "wrong"}).status_code == 200


def median_latency(url, seconds=None, count=None):
    samples = []
    deadline = time.monotonic() + (seconds or 1e9)
    while time.monotonic() < deadline and (count is None or len(samples) < count):
        started = time.perf_counter()
        status, _, _ = fetch(url)
        samples.append(time.perf_counter() - started)
        assert status == 200
        time.sleep(0.05)
    return statistics.median(samples), len(samples)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_ten_sign_ins_a_second_with_fresh_names_leave_the_home_page_fast(tmp_path):
    """The attack of issue 19: 10 POST/s, fresh user names, self-made CSRF pairs, for 10 s, against
    a production gunicorn (two workers, PBKDF2 at its default cost, the default gates)."""
    with production_server(tmp_path) as (base, log_path):
        host = urllib.parse.urlsplit(base).netloc
        median_latency(base + "/", count=10)  # warm up
        idle, _ = median_latency(base + "/", count=40)

        outcomes = []
        stop = threading.Event()

        def one_attempt():
            token = csrf_pair()
            body = urllib.parse.urlencode({
                "username": "u" + secrets.token_hex(6), "password": secrets.token_hex(8),
                "csrfmiddlewaretoken": token,
            }).encode()
            status, _, _ = fetch(base + "/console/login", data=body, headers={
                "Cookie": f"csrftoken={token}", "Origin": f"https://{host}", "Referer": f"https://{host}/console/login",
                "Content-Type": "application/x-www-form-urlencoded",
            })
            outcomes.append(status)

        def attacker():
            """Open loop: a new attempt every 0.1 s, whether or not the earlier ones were answered."""
            next_at = time.monotonic()
            while not stop.is_set():
                attempt = threading.Thread(target=one_attempt)
                attempt.start()
                attempts.append(attempt)
                next_at += 0.1
                time.sleep(max(0.0, next_at - time.monotonic()))

        attempts = []
        flood = threading.Thread(target=attacker)
        flood.start()
        try:
            time.sleep(1)  # the flood is on
            loaded, samples = median_latency(base + "/", seconds=9)
        finally:
            stop.set()
            flood.join()
            for attempt in attempts:
                attempt.join()
    print(f"home page median: idle {idle * 1000:.1f} ms, under the flood {loaded * 1000:.1f} ms "
          f"({samples} samples); sign-ins hashed {outcomes.count(200)}, refused {outcomes.count(429)}")
    # The flood really ran (about ten a second), passed the CSRF check (200 or 429, never 403),
    # and most of it was refused before any hashing.
    assert len(outcomes) >= 80, len(outcomes)
    assert set(outcomes) <= {200, 429}, set(outcomes)
    assert outcomes.count(429) >= len(outcomes) * 0.7, (outcomes.count(200), outcomes.count(429))
    assert loaded <= 3 * idle, (idle, loaded)
