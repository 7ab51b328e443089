"""Production guards: DEBUG only on loopback hosts, no secret on the technical 500 page, bad JSON
refused in our error format, no demo data without DEBUG, `check --deploy` clean as the app role,
the security headers on every public page, and the onion service voting over plain HTTP."""

import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory

from ballots import demo, services
from ballots.models import Credential
from ballots.services import set_email_registration
from tests.factories import make_codes, make_poll, make_region
from tests.live import fetch, production_env, production_server

ROOT = Path(__file__).resolve().parent.parent
ONION = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion"


def django_setup(env, code="import django; django.setup()"):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


# --- DEBUG only where the public cannot reach it ---


@pytest.mark.parametrize("hosts", ["vote.example.org", "localhost,vote.example.org", "0.0.0.0", "*"])
def test_debug_refuses_to_start_for_a_public_host(tmp_path, hosts):
    result = django_setup(production_env(tmp_path, DEBUG="1", ALLOWED_HOSTS=hosts))
    assert result.returncode != 0
    assert "DEBUG=1 is for development on this machine only" in result.stderr


def test_debug_refuses_an_onion_host(tmp_path):
    result = django_setup(production_env(tmp_path, DEBUG="1", ALLOWED_HOSTS="localhost", ONION_HOSTS=ONION))
    assert result.returncode != 0 and "DEBUG=1 is for development" in result.stderr


def test_debug_starts_on_loopback_names(tmp_path):
    result = django_setup(production_env(tmp_path, DEBUG="1", ALLOWED_HOSTS="localhost,127.0.0.1,[::1],app.localhost"))
    assert result.returncode == 0, result.stderr


def raise_with_secrets_in_locals():
    pepper = settings.CREDENTIAL_PEPPER  # noqa: F841  (what a frame's locals would show)
    url = settings.DATABASE_URL  # noqa: F841
    key_text = f"key={settings.SNAPSHOT_SIGNING_KEY}"  # noqa: F841
    raise RuntimeError("boom")


# Built, not written out: the technical page shows the source lines around each frame.
DB_PASSWORD, SMTP_PASSWORD, SESSION = ("-".join([word, "secret", "0123456789"]) for word in ("db", "smtp", "session"))


def test_the_technical_500_page_shows_no_secret(settings):
    from django.views.debug import technical_500_response

    settings.DEBUG = True
    settings.DATABASE_URL = f"postgres://referendum_app:{DB_PASSWORD}@postgres:5432/referendum"
    settings.EMAIL_HOST_PASSWORD = SMTP_PASSWORD
    request = RequestFactory().get("/polls/1/", HTTP_COOKIE=f"sessionid={SESSION}")
    try:
        raise_with_secrets_in_locals()
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    page = response.content.decode()
    assert "raise_with_secrets_in_locals" in page and "boom" in page  # it is the technical page
    for secret in (
        settings.SECRET_KEY, settings.CREDENTIAL_PEPPER.decode(), settings.SNAPSHOT_SIGNING_KEY,
        "db-password-0123456789", "smtp-password-0123456789", "session-cookie-0123456789", settings.REDIS_URL,
    ):
        assert secret not in page, secret
    assert "CREDENTIAL_PEPPER" in page  # listed, with its value hidden


# --- JSON the cast API refuses in our error format ---


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, status, error",
    [
        (b"{", 400, "invalid_json"),
        (b"\xff\xfe{}", 400, "invalid_json"),
        (b"[" * 3000 + b"]" * 3000, 400, "invalid_json"),
        (b'{"code": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 413, "body_too_large"),
        (b'{"code": "' + b"A" * 20_000 + b'", "option": 1}', 413, "body_too_large"),
        (b'{"code": {"a": {"b": {"c": []}}}, "option": 1}', 400, "invalid_request"),
        (b'{"code": "K7QM-2XWP-9HTR-4FZA-8B3D", "option": 1e400}', 400, "bad_option"),
        (b'{"code": "K7QM-2XWP-9HTR-4FZA-8B3D", "option": 99999999999999999999999}', 400, "bad_option"),
    ],
)
def test_malformed_nested_or_huge_json_is_refused(body, status, error):
    poll = make_poll()
    response = Client().post(f"/api/v1/polls/{poll.id}/ballots", data=body, content_type="application/json")
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["message"]


@pytest.mark.django_db
def test_nested_json_within_the_size_limit_is_a_400_not_a_500(settings):
    settings.MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10**6
    poll = make_poll()
    body = b"[" * 200_000 + b"]" * 200_000
    response = Client().post(f"/api/v1/polls/{poll.id}/ballots", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"


# --- no demo data on a real site ---


@pytest.mark.django_db
def test_seed_demo_and_demo_accounts_refuse_without_debug(settings, tmp_path):
    settings.DEBUG = False
    settings.VAR_DIR = tmp_path
    User.objects.create_user("coordinator", password="the real coordinator's password")
    with pytest.raises(CommandError, match="only runs with DEBUG=1"):
        call_command("seed_demo")
    with pytest.raises(ImproperlyConfigured):
        demo.ensure_demo_organizers()
    assert User.objects.get(username="coordinator").check_password("the real coordinator's password")
    assert not (tmp_path / "demo-organizers.txt").exists() and not (tmp_path / "demo-codes.csv").exists()


# --- check --deploy, as production runs, fails on any warning ---


@pytest.mark.django_db
def test_check_deploy_passes_as_the_app_role_and_fails_as_the_superuser(tmp_path):
    command = [sys.executable, "manage.py", "check", "--deploy", "--database", "default", "--fail-level", "WARNING"]
    result = subprocess.run(command, cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    from django.db import connection

    db = connection.settings_dict
    owner = production_env(tmp_path, DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    result = subprocess.run(command, cwd=ROOT, env=owner, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "referendum.E001" in result.stderr


# --- headers on every public page, production settings, live gunicorn ---


def public_pages(poll, region_slug):
    return [
        "/", "/results/", f"/results/{region_slug}/", f"/polls/{poll.id}/", f"/polls/{poll.id}/register",
        "/verify/", "/audit/", f"/ledger/{poll.id}/", "/console/login", "/no-such-page/",
        "/api/v1/polls", f"/api/v1/polls/{poll.id}/tally", "/static/css/site.css",
    ]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_public_page_has_the_security_headers(tmp_path):
    poll = make_poll(region=make_region())
    set_email_registration(poll.id, True)
    with production_server(tmp_path) as (base, _log):
        for path in public_pages(poll, "siberia"):
            status, headers, _body = fetch(base + path)
            assert status in (200, 404), (path, status)
            csp = headers["Content-Security-Policy"] or ""
            if not path.startswith(("/api/", "/static/")):
                assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
                assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, path
            hsts = headers["Strict-Transport-Security"] or ""
            assert re.search(r"max-age=(\d+)", hsts) and int(re.search(r"max-age=(\d+)", hsts)[1]) >= 31536000, path
            assert headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin"), path
            assert headers["X-Content-Type-Options"] == "nosniff", path
            policy = headers["Permissions-Policy"] or ""
            for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
                assert feature in policy, (path, policy)
            if not path.startswith("/static/"):
                assert headers["X-Frame-Options"] == "DENY", path

        # Plain HTTP to the public name is redirected to HTTPS.
        status, headers, _ = fetch(base + "/", headers={"X-Forwarded-Proto": "http", "Host": "localhost"})
        assert status == 301 and headers["Location"] == "https://localhost/"


# --- the onion service: plain HTTP, its own host name, and voting works ---


def cookie_value(headers, name):
    for header in headers.get_all("Set-Cookie") or []:
        match = re.match(rf"{name}=([^;]+)", header)
        if match:
            return match[1]
    return None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_voter_votes_through_the_onion_service_over_plain_http(tmp_path):
    poll = make_poll()
    option = poll.options.first()
    code, other_code = make_codes(poll, 2)
    onion = {"Host": ONION, "X-Forwarded-Proto": "http"}
    with production_server(tmp_path, ONION_HOSTS=ONION) as (base, _log):
        status, headers, body = fetch(base + f"/polls/{poll.id}/", headers=onion)
        assert status == 200  # not redirected to https://, which an onion name cannot serve
        assert "Strict-Transport-Security" not in headers
        token = cookie_value(headers, "csrftoken")
        form_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)[1].decode()

        def post(path, data, origin):
            return fetch(
                base + path,
                headers={**onion, "Origin": origin, "Cookie": f"csrftoken={token}",
                         "Content-Type": "application/x-www-form-urlencoded"},
                data=urllib.parse.urlencode({**data, "csrfmiddlewaretoken": form_token}).encode(),
            )

        vote = {"code": code, "option": option.id}
        status, _, body = post(f"/polls/{poll.id}/", vote, f"http://{ONION}")
        assert status == 200 and b"confirm" in body.lower()
        status, _, body = post(f"/polls/{poll.id}/cast", vote, f"http://{ONION}")
        assert status == 200, body[:2000]
        assert re.search(rb"[0-9A-Z]{4}(-[0-9A-Z]{4}){7}", body)  # the receipt's tracker

        # Another site's form is still refused, and the same names over plain HTTP elsewhere redirect.
        status, _, _ = post(f"/polls/{poll.id}/cast", {"code": other_code, "option": option.id}, "http://evil.example")
        assert status == 403
        status, headers, _ = fetch(base + "/", headers={"Host": "localhost", "X-Forwarded-Proto": "http"})
        assert status == 301
    assert Credential.objects.filter(used=True).count() == 1
    assert services.check_ballot(poll.id, other_code, option.id)  # the refused cast left its code unused
