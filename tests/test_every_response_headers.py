"""Every response carries the headers docs/security.md promises, whatever made it: pages, the API,
static files, and the application's own 400, 404, 405, 413, 429 and 500; every cookie is Secure and
SameSite in production. The nginx configuration in deploy/ passes `nginx -t`, hides its version,
and puts the same headers on its own answers (301, 404, 413, 429), clearnet and onion."""

import datetime
import email.parser
import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client
from django.urls import path

from ballots.services import set_email_registration
from referendum.urls import urlpatterns as site_urls
from tests.console import PASSWORD, current_token, make_organizer
from tests.factories import make_poll, make_region
from tests.live import fetch, production_server
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx" / "referendum.conf"
FEATURES = ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()")


def values(headers, name):
    """Every value of a header (urllib's message or Django's response headers)."""
    if hasattr(headers, "get_all"):
        return headers.get_all(name) or []
    return [headers[name]] if name in headers else []


def assert_security_headers(headers, what, https=True):
    headers = {name: values(headers, name) for name in (
        "Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
        "Permissions-Policy", "Strict-Transport-Security", "Server", "Set-Cookie")} | {"_what": what}
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                 "Permissions-Policy"):
        assert len(headers[name]) == 1, (what, name, headers[name])
    headers = {name: (found[0] if len(found) == 1 and name != "Set-Cookie" else found)
               for name, found in headers.items() if name != "_what"}
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp, (what, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (what, csp)
    assert headers["X-Frame-Options"] == "DENY", (what, headers["X-Frame-Options"])
    assert headers["X-Content-Type-Options"] == "nosniff", what
    assert headers["Referrer-Policy"] == "same-origin", what
    policy = headers["Permissions-Policy"]
    assert all(feature in policy for feature in FEATURES), (what, policy)
    if https:
        hsts = headers["Strict-Transport-Security"]
        assert hsts == "max-age=31536000; includeSubDomains; preload", (what, hsts)
    server = headers["Server"] or ""
    assert not re.search(r"\d", str(server)), (what, server)  # no version anywhere
    for cookie in headers["Set-Cookie"]:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "samesite"} <= attributes, (what, cookie)


def csrf_form(base, path, data, cookies="", **headers):
    token = "A" * 32
    body = "&".join(f"{k}={v}" for k, v in {**data, "csrfmiddlewaretoken": token}.items()).encode()
    host = base.split("//", 1)[1]
    return fetch(base + path, data=body, headers={
        "Cookie": f"csrftoken={token}; {cookies}", "Origin": f"https://{host}",
        "Content-Type": "application/x-www-form-urlencoded", **headers,
    })


def cookies_of(headers):
    """The cookies a response set, but the CSRF one (csrf_form sends its own pair)."""
    pairs = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or []]
    return "; ".join(p for p in pairs if not p.startswith("csrftoken="))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_kind_of_response_carries_every_header(tmp_path):
    poll = make_poll(region=make_region())
    set_email_registration(poll.id, True)
    _, device = make_organizer("header.check", role="coordinator")
    # The name's limit counted over a day: a minute's window could turn over mid-loop (CI, November).
    with production_server(tmp_path, PASSWORD_HASH_NODE_RATE="1000/s", CONSOLE_LOGIN_RATE="10/d") as (base, _log):
        answers = {
            "home page": fetch(base + "/"),
            "results page": fetch(base + "/results/"),
            "vote page": fetch(base + f"/polls/{poll.id}/"),
            "registration page": fetch(base + f"/polls/{poll.id}/register"),
            "console sign-in page (sets the CSRF cookie)": fetch(base + "/console/login"),
            "API": fetch(base + "/api/v1/polls"),
            "400 foreign Host": fetch(base + "/", headers={"Host": "evil.example"}),
            "404": fetch(base + "/no-such-page"),
            "404 API": fetch(base + "/api/v1/polls/999999/tally"),
            "405 API": fetch(base + f"/api/v1/polls/{poll.id}/ballots"),
            "405 form": fetch(base + f"/polls/{poll.id}/cast"),
            "413": fetch(base + f"/polls/{poll.id}/cast", data=b"x" * 100_000,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}),
            "language switch (sets django_language)": fetch(
                base + "/i18n/setlang/", data=b"language=ru&next=/",
                headers={"Content-Type": "application/x-www-form-urlencoded"}),
        }
        for _ in range(11):
            answers["429"] = csrf_form(base, "/console/login", {"username": "somebody", "password": "x"})
        status, headers, _ = csrf_form(base, "/console/login", {"username": "header.check", "password": PASSWORD})
        answers["sign-in (sets the session cookie)"] = (status, headers, b"")
        answers["second factor (sets the device cookie)"] = csrf_form(
            base, "/console/verify", {"token": current_token(device)}, cookies=cookies_of(headers))
    expected = {"400 foreign Host": 400, "404": 404, "404 API": 404, "405 API": 405, "405 form": 405, "413": 413,
                "429": 429, "language switch (sets django_language)": 302, "sign-in (sets the session cookie)": 302,
                "second factor (sets the device cookie)": 302}
    for what, (status, headers, body) in answers.items():
        assert status == expected.get(what, 200), (what, status, body[:300])
        assert_security_headers(headers, what)
    cookie_names = {c.split("=", 1)[0] for _s, h, _b in answers.values() for c in h.get_all("Set-Cookie") or []}
    assert {"csrftoken", "django_language", "sessionid", "referendum_device"} <= cookie_names
    language = next(c for c in answers["language switch (sets django_language)"][1].get_all("Set-Cookie"))
    assert "HttpOnly" in language


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom", boom), *site_urls]


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_the_500_page_and_static_files_carry_every_header(settings):
    """In the test process (a production gunicorn serves static files only after collectstatic):
    the whole middleware chain with production's header settings."""
    settings.DEBUG = False
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    response = Client(raise_request_exception=False).get("/boom", secure=True)
    assert response.status_code == 500
    assert_security_headers(response.headers, "500")
    for static in sorted((ROOT / "static").rglob("*.*")):
        response = Client().get("/static/" + static.relative_to(ROOT / "static").as_posix(), secure=True)
        assert response.status_code == 200, static
        assert_security_headers(response.headers, static.name)


# --- nginx: the configuration in deploy/, checked and run on loopback ports ---


def self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vote.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("vote.example.org")]), critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def nginx_config(tmp_path, app_port):
    """deploy/nginx/referendum.conf with only what a test must change: ports on loopback, the
    certificate, the log and temp paths, the upstream's port; inside a main configuration."""
    http, https, onion = free_port(), free_port(), free_port()
    self_signed(tmp_path)
    site = NGINX_CONF.read_text()
    replacements = [
        ("listen 80;", f"listen 127.0.0.1:{http};"), ("listen [::]:80;", ""),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;"), ("listen [::]:443 ssl;", ""),
        ("listen 127.0.0.1:8081 proxy_protocol;", f"listen 127.0.0.1:{onion} proxy_protocol;"),
        ("/etc/letsencrypt/live/vote.example.org/fullchain.pem", str(tmp_path / "cert.pem")),
        ("/etc/letsencrypt/live/vote.example.org/privkey.pem", str(tmp_path / "key.pem")),
        ("/var/log/nginx/referendum-error.log", str(tmp_path / "referendum-error.log")),
        ("proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{app_port};"),
    ]
    for old, new in replacements:
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "referendum.conf").write_text(site)
    temp = tmp_path / "temp"
    temp.mkdir()
    (tmp_path / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    access_log off;
    include {tmp_path}/referendum.conf;
}}
""")
    return tmp_path / "nginx.conf", http, https, onion


def nginx_binary():
    found = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
    assert found, "nginx is missing: python -m referendum.dev tools nginx (make test installs it)"
    return found


def test_nginx_accepts_the_deploy_configuration(tmp_path):
    config, *_ = nginx_config(tmp_path, 8000)
    result = subprocess.run([nginx_binary(), "-t", "-c", str(config), "-p", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def https_fetch(port, path, data=None, method=None, headers=None):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Host": "vote.example.org", **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_until_limited(port):
    """POSTs on one kept-alive TLS connection, faster than nginx's 10 a second plus its burst of
    100, until nginx answers 429 itself."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    try:
        for _ in range(300):
            connection.request("POST", "/i18n/setlang/", body=b"language=en&next=/", headers={
                "Host": "vote.example.org", "Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            body = response.read()
            if response.status == 429:
                return response.status, response.headers, body
    finally:
        connection.close()
    raise AssertionError("nginx never limited 300 quick POSTs")


def onion_fetch(port, path, circuit=1):
    """A request as tor hands it over: a PROXY-protocol line naming the circuit, then plain HTTP."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"PROXY TCP6 fc00:dead:beef:4dad::0:{circuit:x} ::1 {circuit} 80\r\n".encode()
                     + f"GET {path} HTTP/1.1\r\nHost: onionname.onion\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = email.parser.Parser().parsestr("\r\n".join(lines[1:]) + "\r\n\r\n", headersonly=True)
    return int(lines[0].split()[1]), headers, body


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_nginx_hides_its_version_and_sets_the_headers_on_its_own_answers(tmp_path):
    with production_server(tmp_path, ONION_HOSTS="onionname.onion",
                           ALLOWED_HOSTS="vote.example.org,127.0.0.1,localhost") as (base, _log):
        (tmp_path / "nginx").mkdir()
        config, http, https, onion = nginx_config(tmp_path / "nginx", int(base.rsplit(":", 1)[1]))
        server = subprocess.Popen([nginx_binary(), "-c", str(config), "-p", str(tmp_path / "nginx"),
                                   "-g", "daemon off;"], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", https), timeout=1).close()
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                    time.sleep(0.1)
            answers = {
                "nginx 301": fetch(f"http://127.0.0.1:{http}/", headers={"Host": "vote.example.org"}),
                "nginx 404 (/metrics)": https_fetch(https, "/metrics"),
                "nginx 413": https_fetch(https, "/polls/1/cast", data=b"x" * 100_000,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"}),
                "application page through nginx": https_fetch(https, "/"),
                "application API through nginx": https_fetch(https, "/api/v1/polls"),
            }
            answers["nginx 429"] = post_until_limited(https)
            onion_answers = {
                "onion: application page": onion_fetch(onion, "/"),
                "onion: nginx 404 (/metrics)": onion_fetch(onion, "/metrics"),
            }
        finally:
            server.terminate()
            server.wait(timeout=10)
    expected = {"nginx 301": 301, "nginx 404 (/metrics)": 404, "nginx 413": 413, "nginx 429": 429,
                "onion: nginx 404 (/metrics)": 404}
    for what, (status, headers, body) in answers.items():
        assert status == expected.get(what, 200), (what, status, body[:200])
        assert headers["Server"] == "nginx", (what, headers["Server"])
        assert b"nginx/" not in body, what
        assert_security_headers(headers, what, https=what != "nginx 301")
    for what, (status, headers, body) in onion_answers.items():
        assert status == expected.get(what, 200), (what, status, body[:200])
        assert_security_headers(headers, what, https=False)
        assert headers["Strict-Transport-Security"] is None, what  # plain HTTP inside Tor: no HSTS
    assert json.loads(answers["application API through nginx"][2])["polls"] == []
