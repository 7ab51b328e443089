"""What each public POST costs the server, in CPU, measured against /healthz on a production
gunicorn (one worker): the figures docs/security.md quotes. Run:

    make test PYTEST_ARGS="tests/test_post_costs.py -s"

It asserts only what the gates promise: a sign-in refused by a limit costs a small fraction of one
that reaches the password hasher.
"""

import os
import secrets
import string
import urllib.parse

import pytest
from django.conf import settings as django_settings

from ballots.services import set_email_registration
from tests.factories import make_codes, make_poll
from tests.live import fetch, production_server

ALNUM = string.ascii_letters + string.digits
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(port):
    """User + system CPU of every process serving on the port (the gunicorn master and worker)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if b"gunicorn" in cmdline and f"127.0.0.1:{port}".encode() in cmdline:
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def form(base, path, data):
    """A bot's form POST: a self-made CSRF pair, the Origin our own pages would send."""
    token = "".join(secrets.choice(ALNUM) for _ in range(32))
    host = urllib.parse.urlsplit(base).netloc
    body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
    return fetch(base + path, data=body, headers={
        "Cookie": f"csrftoken={token}", "Origin": f"https://{host}", "Content-Type": "application/x-www-form-urlencoded",
    })[0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cpu_cost_of_every_public_post_against_healthz(tmp_path):
    poll = make_poll()
    set_email_registration(poll.id, True)
    option = poll.options.first().id
    codes = iter(make_codes(poll, 60))
    port_of = {}
    requests = {
        "GET /healthz": lambda base: fetch(base + "/healthz")[0],
        "POST /console/login, hashed (unknown device, within the budgets)":
            lambda base: form(base, "/console/login", {"username": "u" + secrets.token_hex(6), "password": "guess"}),
        "POST /console/login, refused (429, before any hashing)":
            lambda base: form(base, "/console/login", {"username": "target", "password": "guess"}),
        "POST /console/verify (no session: redirect)": lambda base: form(base, "/console/verify", {"token": "123456"}),
        "POST /console/welcome (unknown link: 410)": lambda base: form(base, "/console/welcome", {"token": "x" * 40}),
        "POST /polls/ID/ (check step, unknown code)":
            lambda base: form(base, f"/polls/{poll.id}/", {"code": secrets.token_hex(10), "option": option}),
        "POST /polls/ID/cast (a real code: a ballot cast)":
            lambda base: form(base, f"/polls/{poll.id}/cast", {"code": next(codes), "option": option}),
        "POST /api/v1/polls/ID/ballots (a real code: a ballot cast)":
            lambda base: fetch(base + f"/api/v1/polls/{poll.id}/ballots", headers={"Content-Type": "application/json"},
                               data=f'{{"code": "{next(codes)}", "option": {option}}}'.encode())[0],
        "POST /verify/ (receipt lookup, unknown tracker)":
            lambda base: form(base, "/verify/", {"tracker": secrets.token_hex(16)}),
        "POST /polls/ID/register (e-mail registration)":
            lambda base: form(base, f"/polls/{poll.id}/register", {"email": f"v{secrets.token_hex(4)}@example.org"}),
        "POST /i18n/setlang/": lambda base: form(base, "/i18n/setlang/", {"language": "ru", "next": "/"}),
    }
    rounds = {name: (5 if "hashed" in name else 25) for name in requests}
    costs = {}
    with production_server(
        tmp_path, WEB_CONCURRENCY="1", PASSWORD_HASH_NODE_RATE="1000/s", CONSOLE_LOGIN_SESSION_RATE="1000/m",
        EMAIL_RATE_PER_ADDRESS="1000/h", REDIS_URL=django_settings.REDIS_URL,
    ) as (base, _log):
        port_of["app"] = int(base.rsplit(":", 1)[1])
        for _ in range(11):  # spend the user name's budget (10/m): later attempts are refused
            form(base, "/console/login", {"username": "target", "password": "guess"})
        for name, request in requests.items():
            for _ in range(3):
                request(base)  # warm: imports, connections, templates
            before = server_cpu_seconds(port_of["app"])
            statuses = {request(base) for _ in range(rounds[name])}
            costs[name] = ((server_cpu_seconds(port_of["app"]) - before) / rounds[name], statuses)
            assert all(s < 500 for s in statuses), (name, statuses)
    healthz = max(costs["GET /healthz"][0], 1 / CLOCK_TICKS / rounds["GET /healthz"])
    print("\n| request | status | CPU ms | × /healthz |\n|---|---|---:|---:|")
    for name, (cost, statuses) in costs.items():
        print(f"| {name} | {', '.join(map(str, sorted(statuses)))} | {cost * 1000:.1f} | {cost / healthz:.0f} |")
    hashed = costs["POST /console/login, hashed (unknown device, within the budgets)"][0]
    refused = costs["POST /console/login, refused (429, before any hashing)"][0]
    assert refused * 10 < hashed, (refused, hashed)
