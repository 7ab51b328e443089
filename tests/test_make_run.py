"""`make run` as a newcomer meets it, in a fresh copy of the checkout with its own virtualenv:

- afterwards every manage.py command works with no variable set (make run wrote .env);
- after the database is dropped, make run again makes the logins in var/demo-organizers.txt work;
- without PostgreSQL and Redis (embedded mode) ballots are published in-process: K ballots cast
  over HTTP are counted within seconds.
"""

import csv
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from base64 import b32decode
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django_otp.oath import totp

from tests.workers import stop_process_group

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
APP, OWNER = "postgres://referendum_app@127.0.0.1:5432", "postgres://referendum_owner@127.0.0.1:5432"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare_env(**extra):
    """What a newcomer's shell has: no DEBUG, no secrets, no database or Redis URL."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if ".venv" not in p)
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The project's files as a fresh clone has them (tracked and new, not ignored), with a
    virtualenv made by the Makefile itself."""
    target = tmp_path_factory.mktemp("clone") / "referendum"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    started = time.monotonic()
    subprocess.run(["make", ".venv/.installed"], cwd=target, env=bare_env(), check=True, capture_output=True,
                   timeout=900)
    print(f"virtualenv of the copy made in {time.monotonic() - started:.0f} s")
    return target


def drop_database(name):
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextmanager
def make_run(checkout, env, log_path, timeout=300):
    """`make run` until it says it is running; stopped (Ctrl-C) at the end. Yields its log text."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(["make", "run"], cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while "Referendum is running" not in log_path.read_text():
            assert process.poll() is None, f"make run exited:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"make run did not start:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.5)
        yield log_path
    finally:
        stop_process_group(process, signal.SIGINT, timeout=30)  # Ctrl-C, as a person stops it
        # Its beat may have left tasks in the test Redis: later tests' workers must not get them.
        redis.Redis.from_url(settings.REDIS_URL).flushdb()


class Browser:
    """Just enough of a browser for Django forms: cookies and the CSRF token."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path):
        with self.opener.open(self.base + path, timeout=20) as response:
            return response.status, response.geturl(), response.read().decode()

    def submit(self, path, fields):
        _status, _url, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"Referer": self.base + path})
        with self.opener.open(request, timeout=20) as response:
            return response.status, response.geturl(), response.read().decode()


def signs_in(base, username, password, secret):
    browser = Browser(base)
    _status, url, _page = browser.submit("/console/login", {"username": username, "password": password})
    assert url.endswith("/console/verify"), f"{username}: password refused ({url})"
    code = f"{totp(b32decode(secret)):06d}"
    _status, url, page = browser.submit("/console/verify", {"token": code})
    return url.endswith("/console/") and "Sign out" in page


def test_newcomer_commands_work_without_variables_and_demo_logins_survive_a_new_database(checkout, tmp_path):
    database = f"{settings.DATABASES['default']['NAME']}_newcomer"
    port = free_port()
    # The two development roles (docs/security.md) on a database of this test's own.
    app_url, owner_url = f"{APP}/{database}", f"{OWNER}/{database}"
    env = bare_env(LOCAL_DATABASE_URL=app_url, LOCAL_DATABASE_OWNER_URL=owner_url, LOCAL_REDIS_URL=settings.REDIS_URL,
                   PORT=str(port))
    for leftover in (checkout / ".env", checkout / "var"):
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    drop_database(database)
    try:
        with make_run(checkout, env, tmp_path / "first.log"):
            pass
        dotenv = (checkout / ".env").read_text()
        assert "DEBUG=1" in dotenv and f"LOCAL_DATABASE_URL={app_url}" in dotenv and f"PORT={port}" in dotenv
        assert f"LOCAL_DATABASE_OWNER_URL={owner_url}" in dotenv

        # The command docs/organizers-codes.md shows, with nothing set (no DEBUG=1, no secrets).
        with open(checkout / "var" / "demo-codes.csv", newline="") as handle:
            poll = next(csv.DictReader(handle))["poll"]
        issued = subprocess.run(
            [".venv/bin/python", "manage.py", "issue_codes", "--poll", poll, "--count", "3", "--out", "codes.csv"],
            cwd=checkout, env=bare_env(), capture_output=True, text=True, timeout=120,
        )
        assert issued.returncode == 0, issued.stderr[-2000:]
        with open(checkout / "codes.csv", newline="") as handle:
            assert len(list(csv.DictReader(handle))) == 3
        accounts = subprocess.run([".venv/bin/python", "manage.py", "demo_totp", "coordinator"], cwd=checkout,
                                  env=bare_env(), capture_output=True, text=True, timeout=120)
        assert accounts.returncode == 0 and re.fullmatch(r"\d{6}\n", accounts.stdout), accounts.stderr[-2000:]

        # The database is recreated; var/demo-organizers.txt stays and its logins must work.
        listed = (checkout / "var" / "demo-organizers.txt").read_text()
        drop_database(database)
        with make_run(checkout, env, tmp_path / "second.log"):
            assert (checkout / "var" / "demo-organizers.txt").read_text() == listed
            for username, password, secret in re.findall(
                r"username (\S+)\s+password (\S+)\n\s+TOTP secret [^:]*: ([A-Z2-7=]+)", listed
            ):
                assert signs_in(f"http://127.0.0.1:{port}", username, password, secret), username
    finally:
        drop_database(database)


def test_embedded_mode_counts_ballots_cast_over_http(checkout, tmp_path):
    port = free_port()
    # Nothing answers at these addresses: the embedded mode (SQLite, no Redis) takes over.
    env = bare_env(LOCAL_DATABASE_URL="postgres://postgres@127.0.0.1:9/none", LOCAL_REDIS_URL="redis://127.0.0.1:9/0",
                   PORT=str(port))
    for leftover in (checkout / ".env", checkout / "var"):
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    base = f"http://127.0.0.1:{port}"
    with make_run(checkout, env, tmp_path / "embedded.log") as log:
        text = log.read_text()
        assert "Embedded mode" in text and "published in-process" in text
        threshold = int(re.search(r"once (\d+) ballots? wait", text).group(1))
        assert (checkout / "var" / "embedded.sqlite3").exists()
        with open(checkout / "var" / "demo-codes.csv", newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["region"] == "urals"]
        poll = int(rows[0]["poll"])
        polls = json.loads(urllib.request.urlopen(f"{base}/api/v1/polls", timeout=20).read())["polls"]
        option = next(p for p in polls if p["id"] == poll)["options"][0]["id"]
        assert threshold == 5  # the development default, so that the demo codes are enough

        def vote(row):
            request = urllib.request.Request(
                f"{base}/api/v1/polls/{poll}/ballots", data=json.dumps({"code": row["code"], "option": option}).encode(),
                headers={"Content-Type": "application/json"},
            )
            assert urllib.request.urlopen(request, timeout=20).status == 201

        def tally():
            return json.loads(urllib.request.urlopen(f"{base}/api/v1/polls/{poll}/tally", timeout=20).read())

        for row in rows[:threshold - 1]:
            vote(row)
        time.sleep(5)  # two publishing runs: fewer than K wait, so nothing is published
        waiting = tally()
        assert (waiting["counted"], waiting["received"]) == (0, threshold - 1), waiting
        started = time.monotonic()
        vote(rows[threshold - 1])
        cast = threshold
        deadline = time.monotonic() + 60
        while True:
            counted = tally()
            if counted["counted"] == cast and counted["received"] == cast:  # "waiting" is cached 2 s
                break
            assert time.monotonic() < deadline, f"not counted: {counted}\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        print(f"{cast} ballots counted {time.monotonic() - started:.1f} s after the K-th cast (embedded mode)")
        assert counted["counts"][0]["count"] == cast
        page = urllib.request.urlopen(f"{base}/results/urals/", timeout=20).read().decode()
        assert re.search(rf"data-total>{cast}<", page)
