"""Every page and endpoint on a referendum-sized data set: p50/p95/max of N sequential requests.

    .venv/bin/python bench/pages.py [--scale 1] [-n 30]        # standalone: build, serve, measure
    .venv/bin/python bench/pages.py --base-url http://127.0.0.1:8141 --credentials var/bench/scale.json

Standalone, it (re)creates the database ref_bench_scale (BENCH_DATABASE) with the two roles of
production (referendum.ensure_db, migrated as referendum_owner), fills it with
`manage.py build_scale_dataset --scale S` as the owner, starts gunicorn (referendum/gunicorn.conf.py,
DEBUG off, bench_env of bench/run.py, Redis db 8, port 8141) and measures. With --base-url it
measures a running app whose database the build command filled; --credentials is the JSON the
command wrote with --output (accounts, password, TOTP keys, polls, real codes).

What is measured (issue 13: ≤ 300 ms at p95 on every page): public pages, every JSON API of
docs/openapi.yaml (the cast with the build's real codes, as many as there are), the ledger's first
and last pages, the export (time to first byte, total time, bytes, the workers' peak RSS when their
pids are known), every console page as the coordinator and as a regional organizer (signed in once
each, password then TOTP), and every admin change list. Requests are sequential, one client, so
the figures are latencies, not throughput; the first request of a cached page is its cold cost
(the max column). Standard library only.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import VAR, VENV_BIN, bench_env, percentile, port_free, wait_http  # noqa: E402

PORT = int(os.environ.get("BENCH_PAGES_PORT", 8141))
DATABASE = os.environ.get("BENCH_DATABASE", "ref_bench_scale")
TARGET_MS = 300
ADMIN_MODELS = ["ballots/poll", "ballots/option", "ballots/inboxballot", "ballots/auditentry", "ballots/codebatch",
                "regions/region", "tallying/snapshot", "tallying/pollhead", "tallying/optioncount",
                "tallying/ledgerentry", "otp_totp/totpdevice", "auth/user", "auth/group"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class Session:
    """Cookies kept by hand: the production settings mark them Secure, and this is plain HTTP."""

    def __init__(self, base_url):
        self.base, self.cookies = base_url.rstrip("/"), {}

    def request(self, path, data=None, headers=None):
        """(status, body bytes, seconds) of one request; redirects are not followed."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(data, dict):
            data = urllib.parse.urlencode(data).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        started = time.perf_counter()
        try:
            response = OPENER.open(request, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        body = response.read()
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _sep, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, body, elapsed

    def csrf_post(self, path, form_path, fields):
        _status, body, _s = self.request(form_path)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        return self.request(path, {**fields, "csrfmiddlewaretoken": token.group(1).decode() if token else ""})


def totp(key_hex, at=None, step=30, digits=6):
    """RFC 6238 (what django-otp's TOTPDevice checks with its defaults)."""
    counter = int((at or time.time()) // step)
    digest = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{value:0{digits}d}"


def signed_in(base_url, username, password, key_hex):
    """A session past the password and TOTP steps. A token already used in this 30 s window (a
    previous run) is refused once: then wait for the next window."""
    session = Session(base_url)
    status, _body, _s = session.csrf_post("/console/login", "/console/login", {"username": username, "password": password})
    if status != 302:
        raise SystemExit(f"{username}: password step answered {status}")
    for _attempt in range(2):
        status, _body, _s = session.csrf_post("/console/verify", "/console/verify", {"token": totp(key_hex)})
        if status == 302:
            return session
        time.sleep(31 - time.time() % 30)
    raise SystemExit(f"{username}: TOTP step answered {status}")


def measure(session, label, path, n, data=None):
    statuses, times = set(), []
    for i in range(n):
        status, _body, seconds = session.request(path, data(i) if callable(data) else data)
        statuses.add(status)
        times.append(seconds * 1000)
    return {"label": label, "path": path, "n": n, "p50": statistics.median(times), "p95": percentile(times, 95),
            "max": max(times), "status": "/".join(str(s) for s in sorted(statuses))}


def rss_kb(pids, field="VmHWM"):
    total = {}
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total[pid] = int(re.search(rf"{field}:\s+(\d+)", text).group(1))
    return total


def measure_export(base_url, poll_id, runs=3, worker_pids=()):
    """Time to the first byte, total time and size of the export of a poll; the workers' peak RSS."""
    first, totals, size = [], [], 0
    before = rss_kb(worker_pids, "VmRSS")
    for _i in range(runs):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base_url}/api/v1/polls/{poll_id}/export", timeout=300) as response:
            response.read(1)
            first.append((time.perf_counter() - started) * 1000)
            size = 1 + sum(len(chunk) for chunk in iter(lambda: response.read(1 << 16), b""))
        totals.append((time.perf_counter() - started) * 1000)
    peak = rss_kb(worker_pids)
    return {"poll": poll_id, "first_byte_ms": statistics.median(first), "total_ms": statistics.median(totals),
            "bytes": size, "rss_before_kb": max(before.values(), default=None),
            "peak_rss_kb": max(peak.values(), default=None)}


def _random_tracker(i):
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digest = hashlib.sha256(f"bench-tracker-{i}-{time.time()}".encode()).digest()
    return "".join(alphabet[b % 32] for b in digest)


def measure_pages(base_url, credentials, n=30, worker_pids=()):
    """Rows (label, path, p50, p95, max in ms, statuses) for every page and endpoint; `credentials`
    is what build_scale_dataset --output wrote. The export's row gives time to first byte (p50) and
    total time (p95 column: the median total), with its figures in `export`."""
    base_url = base_url.rstrip("/")
    polls = credentials["polls"]
    deep = max(polls, key=lambda p: p["ballots"])
    public, rows = Session(base_url), []

    def add(label, path, session=public, data=None, count=n):
        rows.append(measure(session, label, path, count, data))

    add("home", "/")
    add("results", "/results/")
    for poll in polls:
        add(f"results {poll['region']}", f"/results/{poll['region']}/")
    add("results preview image", "/results/preview-en.png")
    add(f"region preview image ({deep['region']})", f"/results/{deep['region']}/preview-en.png")
    for poll in polls:
        add(f"vote page {poll['region']}", f"/polls/{poll['id']}/")
    add("register page (registration off)", f"/polls/{deep['id']}/register")
    add(f"register page ({polls[-1]['region']}, registration on)", f"/polls/{polls[-1]['id']}/register")
    add("verify receipt form", "/verify/")
    public.request("/verify/")  # the CSRF cookie
    token = public.cookies.get("csrftoken", "")
    add("verify receipt: unknown tracker (POST)", "/verify/",
        data=lambda i: {"tracker": _random_tracker(i), "csrfmiddlewaretoken": token})
    add("audit log", "/audit/")
    audit_pages = -(-credentials.get("audit_entries", 3000) // 50)
    add("audit log, last page", f"/audit/?page={audit_pages}")
    add(f"ledger {deep['region']} first page", f"/ledger/{deep['id']}/")
    add(f"ledger {deep['region']} last page", f"/ledger/{deep['id']}/?after={deep['ballots'] - 50}")
    add("console sign-in page", "/console/login")
    add("healthz", "/healthz")
    add("readyz", "/readyz")
    # The JSON API (docs/openapi.yaml)
    add("API polls", "/api/v1/polls")
    add("API poll", f"/api/v1/polls/{deep['id']}")
    for poll in polls:
        add(f"API tally {poll['region']}", f"/api/v1/polls/{poll['id']}/tally")
    add("API snapshots", f"/api/v1/polls/{deep['id']}/snapshots")
    add("API snapshots, deep after", f"/api/v1/polls/{deep['id']}/snapshots?after={deep['publications'] * 4}")
    add("API snapshots, since 2 days", f"/api/v1/polls/{deep['id']}/snapshots?since="
        + urllib.parse.quote(time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 2 * 86400))))
    add("API snapshots limit 1000", f"/api/v1/polls/{deep['id']}/snapshots?limit=1000")
    add("API ledger", f"/api/v1/polls/{deep['id']}/ledger")
    add("API ledger limit 1000", f"/api/v1/polls/{deep['id']}/ledger?limit=1000")
    add("API ledger, deep after", f"/api/v1/polls/{deep['id']}/ledger?after={deep['ballots'] - 1000}&limit=1000")
    add("API public key", "/api/v1/public-key")
    add("API audit", "/api/v1/audit")
    add("API audit, last page", f"/api/v1/audit?page={audit_pages}")
    add("API openapi.yaml", "/api/v1/openapi.yaml")
    real = [(poll["id"], poll["options"][0], code) for poll in polls for code in poll["real_codes"]]
    if real:
        rows.append(_measure_casts(public, real[:n]))
    export = measure_export(base_url, deep["id"], worker_pids=worker_pids)
    rows.append({"label": f"export {deep['region']} ({export['bytes'] / 1e6:.0f} MB): first byte / total",
                 "path": f"/api/v1/polls/{deep['id']}/export", "n": 3, "p50": export["first_byte_ms"],
                 "p95": export["total_ms"], "max": export["total_ms"], "status": "200", "export": export})
    # The console, as a coordinator and as a regional organizer; the admin as the coordinator (staff).
    accounts = {a["role"]: a for a in credentials["accounts"]}
    password = credentials["password"]
    coordinator = signed_in(base_url, accounts["coordinator"]["username"], password, accounts["coordinator"]["totp_key"])
    regional_account = next(a for a in credentials["accounts"] if a["region"] == deep["region"])
    regional = signed_in(base_url, regional_account["username"], password, regional_account["totp_key"])
    for who, session in (("coordinator", coordinator), ("regional", regional)):
        own = deep
        add(f"console home ({who})", "/console/", session)
        add(f"console welcome ({who})", "/console/welcome", session)
        add(f"console poll ({who})", f"/console/polls/{own['id']}/", session)
        add(f"console poll edit ({who})", f"/console/polls/{own['id']}/edit", session)
        add(f"console new poll ({who})", "/console/polls/new", session)
        add(f"console batches ({who})", f"/console/polls/{own['id']}/batches/", session)
        add(f"console batch ({who})", f"/console/polls/{own['id']}/batches/{own['batches'][0]}/", session)
        add(f"console e-mail registration ({who})", f"/console/polls/{own['id']}/email-registration", session)
        add(f"console regions ({who})", "/console/regions/", session)
        add(f"console accounts ({who})", "/console/accounts/", session)
        add(f"console accounts new ({who})", "/console/accounts/new", session)
    add("admin index", "/admin/", coordinator)
    for model in ADMIN_MODELS:
        add(f"admin {model}", f"/admin/{model}/", coordinator)
    # The ledger's middle and last pages (by key, not OFFSET: tallying/admin.py), all polls and one.
    ledger_pages = -(-sum(p["ballots"] for p in polls) // 100)
    add("admin tallying/ledgerentry middle page", f"/admin/tallying/ledgerentry/?p={max(1, ledger_pages // 2)}", coordinator)
    add("admin tallying/ledgerentry last page", f"/admin/tallying/ledgerentry/?p={ledger_pages}", coordinator)
    by_poll = f"/admin/tallying/ledgerentry/?poll__id__exact={deep['id']}"
    add("admin tallying/ledgerentry filtered by poll", by_poll, coordinator)
    deep_pages = -(-deep["ballots"] // 100)
    add("admin tallying/ledgerentry filtered by poll, middle page", f"{by_poll}&p={max(1, deep_pages // 2)}", coordinator)
    add("admin tallying/ledgerentry filtered by poll, last page", f"{by_poll}&p={deep_pages}", coordinator)
    return rows


def _measure_casts(session, casts):
    times, statuses = [], set()
    for poll_id, option, code in casts:
        status, _body, seconds = session.request(
            f"/api/v1/polls/{poll_id}/ballots", json.dumps({"code": code, "option": option}).encode(),
            {"Content-Type": "application/json"},
        )
        statuses.add(status)
        times.append(seconds * 1000)
    return {"label": f"API cast (real codes, {len(casts)} casts)", "path": "/api/v1/polls/<id>/ballots",
            "n": len(casts), "p50": statistics.median(times), "p95": percentile(times, 95), "max": max(times),
            "status": "/".join(str(s) for s in sorted(statuses))}


def table(rows):
    lines = ["| page | p50 ms | p95 ms | max ms | status |", "| --- | ---: | ---: | ---: | --- |"]
    for row in rows:
        flag = " **over 300**" if row["p95"] > TARGET_MS and not row["label"].startswith("export") else ""
        lines.append(f"| {row['label']} `{row['path']}` | {row['p50']:.0f} | {row['p95']:.0f}{flag} | {row['max']:.0f} "
                     f"| {row['status']} |")
    export = next((row["export"] for row in rows if "export" in row), None)
    if export:
        lines.append("")
        lines.append(f"export of poll {export['poll']}: first byte {export['first_byte_ms']:.0f} ms, total "
                     f"{export['total_ms'] / 1000:.1f} s, {export['bytes']:,} bytes; gunicorn workers' RSS before "
                     f"{export['rss_before_kb']} kB, peak (VmHWM) {export['peak_rss_kb']} kB")
    return "\n".join(lines)


# --- standalone: a database, the data set, gunicorn ----------------------------------------------------


def scale_env(**extra):
    return bench_env(
        BENCH_DATABASE=DATABASE,
        DATABASE_URL=f"postgres://referendum_app@127.0.0.1:5432/{DATABASE}",
        DATABASE_OWNER_URL=f"postgres://referendum_owner@127.0.0.1:5432/{DATABASE}",
        REDIS_URL=os.environ.get("BENCH_PAGES_REDIS_URL", "redis://127.0.0.1:6379/8"),
        WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"),
        RECEIPT_RATE_PER_SESSION="100000/m", RECEIPT_RATE_PER_TRACKER="100000/m",
        # It signs in as both roles back to back; the node's hashing gate is measured elsewhere.
        PASSWORD_HASH_NODE_RATE="100/s",
        **extra,
    )


def build(scale, output):
    """Drop and create the database, migrate it as the owner, fill it as the owner."""
    env = scale_env()
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DATABASE], check=True)
    subprocess.run([str(VENV_BIN / "python"), "-m", "referendum.ensure_db"], cwd=ROOT, env=scale_env(DEBUG="1"),
                   check=True)
    owner = dict(env, DATABASE_URL=env["DATABASE_OWNER_URL"])
    subprocess.run([str(VENV_BIN / "python"), "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=owner,
                   check=True)
    started = time.monotonic()
    subprocess.run([str(VENV_BIN / "python"), "manage.py", "build_scale_dataset", "--scale", str(scale),
                    "--i-know-this-is-not-production", "--output", str(output)], cwd=ROOT, env=owner, check=True)
    print(f"build_scale_dataset --scale {scale}: {time.monotonic() - started:.0f} s", flush=True)


class Server:
    def __enter__(self):
        if not port_free(PORT):
            raise SystemExit(f"port {PORT} is taken (BENCH_PAGES_PORT)")
        self.log = open(VAR / "pages-gunicorn.log", "w")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
             "--access-logfile", "/dev/null", "--bind", f"127.0.0.1:{PORT}"],
            cwd=ROOT, env=scale_env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_http(f"http://127.0.0.1:{PORT}/healthz")
        return self

    def worker_pids(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def __exit__(self, *exc):
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="standalone: build_scale_dataset --scale")
    parser.add_argument("-n", type=int, default=30, help="requests per page")
    parser.add_argument("--base-url", help="measure this running app instead of starting one")
    parser.add_argument("--credentials", help="with --base-url: the JSON build_scale_dataset --output wrote")
    parser.add_argument("--no-build", action="store_true", help="standalone: reuse the database and "
                        "var/bench/scale.json of the previous run")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    if args.base_url:
        if not args.credentials:
            parser.error("--base-url needs --credentials")
        rows = measure_pages(args.base_url, json.loads(Path(args.credentials).read_text()), args.n)
    else:
        output = VAR / "scale.json"
        if not args.no_build:
            build(args.scale, output)
        credentials = json.loads(output.read_text())
        with Server() as server:
            rows = measure_pages(f"http://127.0.0.1:{PORT}", credentials, args.n, server.worker_pids())
    text = table(rows)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    slow = [row for row in rows if row["p95"] > TARGET_MS and not row["label"].startswith("export")]
    print(f"\n{len(slow)} of {len(rows)} over {TARGET_MS} ms at p95" + (": " + ", ".join(r["label"] for r in slow) if slow else ""))


if __name__ == "__main__":
    main()
