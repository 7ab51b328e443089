"""`make bench`: a production-like stack on loopback, measured against baselines in the same run.

    make bench     (or: .venv/bin/python bench/run.py [--runs 3] [--duration 8] [--seal-ballots 1000000] [--seal-fill 10000000])

Starts, with DEBUG off: gunicorn with the configured workers (WEB_CONCURRENCY, default 4) serving
the application, the same gunicorn serving the baseline app (bench/baseline/), a Celery worker and
beat; PostgreSQL database BENCH_DATABASE (default ref_bench13, created and migrated), Redis
BENCH_REDIS_URL. Loads them with wrk (16 connections, 2 threads) and prints one table (figure, value,
baseline, ratio), median of --runs runs, also written to bench/results.md. See bench/README.md.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PROFILES = BENCH / "profiles"
VAR = ROOT / "var" / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))  # for the application's own helpers (run as bench/run.py)
from bench import spy  # noqa: E402

APP_PORT = int(os.environ.get("BENCH_APP_PORT", 8131))
BASELINE_PORT = int(os.environ.get("BENCH_BASELINE_PORT", 8132))
CONNECTIONS = 16
THREADS = 2
K = 100
HOLD = K // 2  # PUBLISH_HOLD_BACK, the production default


def recovery_recipient():
    """The bench's offline recovery key (made once in var/bench; its identity never needed)."""
    from ballots import sealed

    path = VAR / "recovery-recipient.txt"
    if not path.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        path.write_text(sealed.new_identity()[1])
    return path.read_text().strip()


def bench_env(**extra):
    """Production settings (DEBUG off), loopback services, rate limits on but not limiting."""
    database = os.environ.get("BENCH_DATABASE", "ref_bench13")
    env = dict(
        os.environ,
        DEBUG="0",
        SECRET_KEY="bench-secret-key-0123456789abcdef0123456789abcdef",
        CREDENTIAL_PEPPER="bench-pepper-0123456789abcdef0123456789abcdef",
        SNAPSHOT_SIGNING_KEY="YmVuY2gtc2lnbmluZy1zZWVkLTMyLWJ5dGVzLWxvbmc=",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # Two roles as in production: the app connects as one that cannot run DDL (docs/security.md).
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"postgres://referendum_app@127.0.0.1:5432/{database}"),
        DATABASE_OWNER_URL=os.environ.get("BENCH_DATABASE_OWNER_URL",
                                          f"postgres://referendum_owner@127.0.0.1:5432/{database}"),
        DATABASE_APP_ROLE="referendum_app",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        SECURE_SSL_REDIRECT="0",
        PLAIN_STATIC="1",
        PUBLISH_MIN_BALLOTS=str(K),
        PUBLISH_HOLD_BACK=str(HOLD),
        CAST_RATE_PER_ADDRESS="1000000/m",
        WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "4"),
        VAR_DIR=str(VAR),
        PUBLICATION_RECOVERY_RECIPIENTS=recovery_recipient(),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="referendum.settings",
    )
    env.update(extra)
    return env


def manage(*args, env=None):
    subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT, env=env or bench_env(), check=True)


def django_shell(code, env=None):
    """Run Python with Django set up (production settings); return its stdout."""
    prelude = "import django; django.setup()\n"
    result = subprocess.run([str(VENV_BIN / "python"), "-c", prelude + code], cwd=ROOT, env=env or bench_env(),
                            check=True, capture_output=True, text=True)
    return result.stdout


def wait_http(url, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def port_free(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Stack:
    """gunicorn (app and baseline), a Celery worker and beat, stopped on exit."""

    def __init__(self):
        self.children = []

    def start(self, name, args, env):
        log = open(VAR / f"{name}.log", "w")
        self.children.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))

    def __enter__(self):
        for port in (APP_PORT, BASELINE_PORT):
            if not port_free(port):
                raise SystemExit(f"port {port} is taken (BENCH_APP_PORT / BENCH_BASELINE_PORT)")
        gunicorn = [str(VENV_BIN / "gunicorn"), "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
                    "--access-logfile", "/dev/null"]
        self.start("app", [*gunicorn, "--bind", f"127.0.0.1:{APP_PORT}"], bench_env())
        self.start("baseline", [*gunicorn, "--bind", f"127.0.0.1:{BASELINE_PORT}"],
                   bench_env(DJANGO_SETTINGS_MODULE="bench.baseline.settings"))
        self.start("worker", [str(VENV_BIN / "celery"), "-A", "referendum", "worker", "--loglevel", "WARNING",
                              "--concurrency", "2", "--hostname", "bench13@%h"], bench_env())
        self.start("beat", [str(VENV_BIN / "celery"), "-A", "referendum", "beat", "--loglevel", "WARNING",
                            "--schedule", str(VAR / "celerybeat-schedule")], bench_env())
        wait_http(f"http://127.0.0.1:{APP_PORT}/healthz")
        wait_http(f"http://127.0.0.1:{BASELINE_PORT}/json")
        return self

    def __exit__(self, *exc):
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


SETUP = """
import json, sys
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from ballots import codes
from ballots.models import CodeBatch, Credential, Option, Poll
from regions.services import seed_regions

region = seed_regions()[0]
now = timezone.now()
out = {}
for name in ("app", "baseline", "form", "latency", "spread"):
    poll = Poll.objects.create(region=region, question_en="Bench?", question_ru="Тест?", state=Poll.State.DRAFT,
                               opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(days=1))
    options = [Option.objects.create(poll=poll, label_en=l, label_ru=l, ordering=i)
               for i, l in enumerate(["Yes", "No", "Abstain"])]
    poll.state = Poll.State.OPEN  # answers first: they are frozen once the poll leaves draft
    poll.save(update_fields=["state"])
    count = int(sys.argv[1]) if name != "latency" else 2000
    batch = CodeBatch.objects.create(poll=poll, size=count, issued=count, delivered_at=now)
    clear = [codes.new_code() for _ in range(count)]
    Credential.objects.bulk_create(
        (Credential(poll=poll, batch=batch, code_hash=codes.hash_code(codes.normalize_code(c))) for c in clear),
        batch_size=5000)
    out[name] = {"poll": poll.id, "option": options[0].id, "codes": clear}
print(json.dumps(out))
"""


def superuser(database="postgres"):
    """A connection to `database` as the server's superuser (DATABASE_ADMIN_URL's server, else the
    bench database's server as postgres)."""
    import psycopg

    server = bench_env()["DATABASE_URL"].split("@", 1)[1].rsplit("/", 1)[0]
    admin = os.environ.get("DATABASE_ADMIN_URL") or f"postgres://postgres@{server}/postgres"
    return psycopg.connect(admin.rsplit("/", 1)[0] + "/" + database, autocommit=True)


def bench_database():
    return bench_env()["DATABASE_URL"].rsplit("/", 1)[1]


def fresh_database():
    """Each run starts from an empty database: an earlier run's polls, and their waiting ballots the
    sealer would work through meanwhile, would be measured along."""
    from psycopg import sql

    with superuser() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(bench_database())))


def drop_bare_casts(poll_id):
    """The bare transaction writes rows of the inbox's shape that are not sealed ballots (it
    measures the transaction without sealing): the sealer could never open them and would try
    again at every tick, on the cores the next measurements share. They go once measured."""
    with superuser(bench_database()) as owner:
        owner.execute("DELETE FROM ballots_inboxballot WHERE poll_id = %s", [poll_id])


def settle_database():
    """VACUUM ANALYZE once the codes are in: otherwise autovacuum's pass over the fresh credential
    table (hundreds of thousands of rows) falls at a random point of the first measurements."""
    with superuser(bench_database()) as owner:
        owner.execute("VACUUM ANALYZE")


def setup_polls(codes_per_poll):
    env = bench_env()
    manage("migrate", "--no-input", "-v0", env=dict(env, DATABASE_URL=env["DATABASE_OWNER_URL"]))
    out = django_shell(f"import sys; sys.argv = ['x', '{codes_per_poll}']\n" + SETUP)
    return json.loads(out)


def parse_wrk(output):
    """Requests/s, p50 and p99 in ms, and the count of non-2xx/3xx answers from `wrk --latency`."""

    def ms(text):
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {"rate": rate, "p50": p50, "p99": p99, "errors": int(bad.group(1)) if bad else 0}


def wrk(url, duration, script=None, script_args=()):
    args = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        args += ["-s", str(BENCH / script)]
    args.append(url)
    if script_args:
        args += ["--", *script_args]
    output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


def median_of(runs, measure):
    results = [measure(i) for i in range(runs)]
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def code_file(poll, i, slices):
    """Slice i of the poll's codes (of `slices`) in a file for a wrk script: each run, and the
    profiling run after them, gets unused codes (a used code would be refused)."""
    per_slice = len(poll["codes"]) // slices
    path = VAR / f"codes-{poll['poll']}-{i}.txt"
    path.write_text("\n".join(poll["codes"][i * per_slice:(i + 1) * per_slice]) + "\n")
    return str(path)


def cast_args(poll, i, slices):
    return "cast.lua", (code_file(poll, i, slices), str(poll["option"]), str(THREADS))


def cast_runs(base_url, poll, runs, duration):
    return median_of(runs, lambda i: wrk(base_url, duration, *cast_args(poll, i, runs + 1)))


def form_args(base_url, poll, i, slices):
    """The HTML form path (bench/form.lua): a browser's CSRF cookie and token, then per ballot the
    choice (answered by the confirmation page) and the confirmation (answered by the receipt)."""
    from http.cookies import SimpleCookie

    from ballots.blind import option_value

    with urllib.request.urlopen(f"{base_url}/polls/{poll['poll']}/", timeout=10) as response:
        page = response.read().decode()
        cookie = SimpleCookie(response.headers["Set-Cookie"])["csrftoken"].value
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return "form.lua", (code_file(poll, i, slices), option_value(poll["option"]), str(THREADS), str(poll["poll"]),
                        cookie, token)


def form_runs(base_url, poll, runs, duration):
    """Figures per ballot: two requests each."""

    def measure(i):
        measured = wrk(base_url, duration, *form_args(base_url, poll, i, runs + 1))
        return dict(measured, rate=measured["rate"] / 2)

    return median_of(runs, measure)


def profile(stack, name, title, duration, load):
    """py-spy over the app's gunicorn workers while `load()` runs wrk: bench/profiles/<name>.txt."""
    PROFILES.mkdir(exist_ok=True)
    folded = VAR / f"{name}.folded"
    sampler = spy.record(VENV_BIN, stack.children[0].pid, duration, folded)
    load()
    sampler.wait(timeout=duration + 30)
    if folded.exists():
        (PROFILES / f"{name}.txt").write_text(spy.summarize(folded.read_text(), title))


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read()), response.headers


def post_cast(poll, code):
    request = urllib.request.Request(
        f"http://127.0.0.1:{APP_PORT}/api/v1/polls/{poll['poll']}/ballots",
        data=json.dumps({"code": code, "option": poll["option"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def wait_figure(poll_id, figure, target, limit=60):
    url = f"http://127.0.0.1:{APP_PORT}/api/v1/polls/{poll_id}/tally"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if get_json(url)[0][figure] >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"{figure} did not reach {target} within {limit} s")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def latencies(poll, samples):
    """Seconds from a cast's 201 to "received" counting it, and from the K-th waiting ballot's 201
    to "counted" counting it (the beat seals every SEAL_INTERVAL_SECONDS)."""
    codes = iter(poll["codes"])
    url = f"http://127.0.0.1:{APP_PORT}/api/v1/polls/{poll['poll']}/tally"
    received, counted = [], []
    for _ in range(samples):
        now = get_json(url)[0]["received"]
        post_cast(poll, next(codes))
        cast_at = time.monotonic()
        received.append(wait_figure(poll["poll"], "received", now + 1) - cast_at)
    for _ in range(max(3, samples // 5)):
        time.sleep(2.1)  # every process's cached tally is fresh again (tallying/responses.py: at most 2 s old)
        tally = get_json(url)[0]
        waiting = tally["received"] - tally["counted"]
        need = max(K + HOLD - waiting, 1)  # a publication once K + H wait; H of them stay
        for _ in range(need):
            post_cast(poll, next(codes))
        kth_at = time.monotonic()
        counted.append(wait_figure(poll["poll"], "counted", tally["counted"] + waiting + need - HOLD) - kth_at)
    return received, counted


def seal_figures(ballots, fill):
    env = bench_env(DEBUG="1", STATEMENT_TIMEOUT_MS="0", DATABASE_APP_ROLE="", PUBLISH_HOLD_BACK="0",
                    BENCH_DATABASE_URL=os.environ.get("BENCH_SEAL_DATABASE_URL",
                                                      "postgres://postgres@127.0.0.1:5432/ref_bench13_seal"))
    output = subprocess.run([str(VENV_BIN / "python"), "bench/seal.py", "--ballots", str(ballots),
                             "--fill", str(fill)], cwd=ROOT, env=env,
                            check=True, capture_output=True, text=True).stdout
    print(output, end="")
    return parse_seal(output)


def parse_seal(output):
    """Batch times (sealed before, ms) in the order measured: the empty ledger first, the fullest last."""
    points = [(int(sealed.replace(",", "")), float(ms)) for sealed, ms in
              re.findall(r"batch time with\s+([\d,]+) already sealed: median\s+([\d.]+) ms", output)]
    return {
        "empty_ms": points[0][1],
        "points": points[1:],
        "rate": float(re.search(r": ([\d,]+) ballots/s", output).group(1).replace(",", "")),
    }


def fmt(value, unit):
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"


def table(rows):
    lines = ["| figure | value | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    for figure, value, baseline, ratio, target in rows:
        lines.append(f"| {figure} | {value} | {baseline} | {ratio} | {target} |")
    return "\n".join(lines)


def measure_spread(stack, app, polls, args):
    """Issue 18's figures (bench/spread.py): /results/ and a tally read from the signed static
    mirror against the origin; the JSON cast through nginx to one node, then to two."""
    from bench import spread

    mirror_env = bench_env(MIRROR_BUILD_DIR=str(VAR / "mirror-build"), MIRROR_ORIGIN_URL=app)
    manage("build_mirror", "--no-push", env=mirror_env)
    bundle = VAR / "mirror-build" / "bundle"
    mirror_port, balancer_port, second_port = free_port(), free_port(), free_port()
    mirror = spread.static_mirror(VAR / "nginx-mirror", bundle, mirror_port)
    rows = []
    try:
        mirror_url = f"http://127.0.0.1:{mirror_port}"
        spread.wait_up(wait_http, mirror_url + "/en/results/")
        poll_id = polls["app"]["poll"]
        origin_results = median_of(args.runs, lambda i: wrk(app + "/results/", args.duration))
        mirror_results = median_of(args.runs, lambda i: wrk(mirror_url + "/en/results/", args.duration))
        origin_tally = median_of(args.runs, lambda i: wrk(f"{app}/api/v1/polls/{poll_id}/tally", args.duration))
        mirror_tally = median_of(args.runs, lambda i: wrk(f"{mirror_url}/api/v1/polls/{poll_id}/tally.json",
                                                          args.duration))
    finally:
        spread.stop(mirror)
    rows.append(("`/results/` from the static mirror (nginx) vs the origin", fmt(mirror_results["rate"], "req/s"),
                 fmt(origin_results["rate"], "req/s"), f"{mirror_results['rate'] / origin_results['rate']:.2f}", "–"))
    rows.append(("tally from the static mirror vs the origin", fmt(mirror_tally["rate"], "req/s"),
                 fmt(origin_tally["rate"], "req/s"), f"{mirror_tally['rate'] / origin_tally['rate']:.2f}", "–"))
    gunicorn = [str(VENV_BIN / "gunicorn"), "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
                "--access-logfile", "/dev/null"]
    stack.start("app2", [*gunicorn, "--bind", f"127.0.0.1:{second_port}"], bench_env(WEB_CONCURRENCY="2"))
    wait_http(f"http://127.0.0.1:{second_port}/healthz")
    cast_path = f"/api/v1/polls/{polls['app']['poll']}/ballots"
    measured = {}
    for nodes in (1, 2):
        ports = [APP_PORT] if nodes == 1 else [APP_PORT, second_port]
        front = spread.balancer(VAR / f"nginx-balancer-{nodes}", balancer_port, ports)
        try:
            spread.wait_up(wait_http, f"http://127.0.0.1:{balancer_port}/healthz")
            # Codes no earlier run used: the slice after the profiling run's.
            measured[nodes] = wrk(f"http://127.0.0.1:{balancer_port}{cast_path}", args.duration,
                                  *cast_args(polls["spread"], nodes - 1, 2))
        finally:
            spread.stop(front)
    rows.append(("JSON cast through nginx, two web nodes vs one (one machine: the nodes share its cores)",
                 f"{fmt(measured[2]['rate'], 'req/s')}, p99 {measured[2]['p99']:.0f} ms",
                 f"{fmt(measured[1]['rate'], 'req/s')}, p99 {measured[1]['p99']:.0f} ms",
                 f"{measured[2]['rate'] / measured[1]['rate']:.2f}", "no errors"))
    return rows


def measure_signin_flood(app, args):
    """Issue 19: the home page's median latency while one client sends 10 sign-in POSTs a second
    with fresh names and self-made CSRF pairs, against the same page idle, in the same run."""
    from bench.signin_flood import Flood

    idle = median_of(args.runs, lambda i: wrk(app + "/", args.duration))
    flood = Flood(app, rate=10)
    flood.start()
    try:
        flooded = median_of(args.runs, lambda i: wrk(app + "/", args.duration))
    finally:
        flood.stop.set()
        flood.join(15)
    answers = ", ".join(f"{n} × {status}" for status, n in sorted(flood.statuses.items(), key=str))
    return [("home page p50 under a sign-in flood (10 POST/s, fresh names and CSRF pairs) vs idle",
             f"p50 {flooded['p50']:.1f} ms, {fmt(flooded['rate'], 'req/s')} (flood answered: {answers})",
             f"p50 {idle['p50']:.1f} ms, {fmt(idle['rate'], 'req/s')}", f"{flooded['p50'] / idle['p50']:.2f}",
             "≤ 3 (p50 ratio)")]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--seal-ballots", type=int, default=1_000_000, help="sealed one batch at a time")
    parser.add_argument("--seal-fill", type=int, default=10_000_000, help="ledger filled by SQL for the last batch")
    parser.add_argument("--latency-samples", type=int, default=15)
    parser.add_argument("--pages-scale", type=float, default=1.0,
                        help="build_scale_dataset --scale for the page latencies (bench/pages.py); 0 skips them")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="skip the py-spy profiles (bench/profiles/) taken after the measurements")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    fresh_database()
    subprocess.run([str(VENV_BIN / "python"), "-m", "referendum.ensure_db"], cwd=ROOT, env=bench_env(DEBUG="1"),
                   check=True)
    polls = setup_polls(codes_per_poll=(args.runs + 1) * args.duration * 2500)
    settle_database()
    app, baseline = f"http://127.0.0.1:{APP_PORT}", f"http://127.0.0.1:{BASELINE_PORT}"
    rows = []
    with Stack() as stack:
        print("measuring: minimal JSON baseline, bare cast baseline, JSON cast, tally, /results/ ...", flush=True)
        base_json = median_of(args.runs, lambda i: wrk(baseline + "/json", args.duration))
        base_cast = cast_runs(f"{baseline}/bare-cast/{polls['baseline']['poll']}", polls["baseline"], args.runs,
                              args.duration)
        drop_bare_casts(polls["baseline"]["poll"])
        json_cast = cast_runs(f"{app}/api/v1/polls/{polls['app']['poll']}/ballots", polls["app"], args.runs,
                              args.duration)
        form_cast = form_runs(app, polls["form"], args.runs, args.duration)
        tally_url = f"{app}/api/v1/polls/{polls['app']['poll']}/tally"
        tally = median_of(args.runs, lambda i: wrk(tally_url, args.duration))
        etag = get_json(tally_url)[1]["ETag"]
        tally_304 = median_of(args.runs, lambda i: wrk(tally_url, args.duration, "etag.lua", (etag,)))
        results = median_of(args.runs, lambda i: wrk(app + "/results/", args.duration))
        with urllib.request.urlopen(app + "/results/", timeout=10) as response:
            page_etag = response.headers["ETag"]
        results_304 = median_of(args.runs, lambda i: wrk(app + "/results/", args.duration, "etag.lua", (page_etag,)))
        print("measuring: the static mirror against the origin, casting through a balancer ...", flush=True)
        spread_rows = measure_spread(stack, app, polls, args)
        print("measuring: the home page with and without a sign-in flood ...", flush=True)
        spread_rows += measure_signin_flood(app, args)
        print("measuring: cast → received, K-th waiting → counted ...", flush=True)
        received, counted = latencies(polls["latency"], args.latency_samples)
        if args.profile and spy.available(VENV_BIN):
            print("profiling (py-spy): JSON cast, form cast, tally, /results/ ...", flush=True)
            cast_url = f"{app}/api/v1/polls/{polls['app']['poll']}/ballots"
            profiled = [
                ("cast", "JSON cast under wrk", lambda: wrk(cast_url, args.duration,
                                                            *cast_args(polls["app"], args.runs, args.runs + 1))),
                ("form", "HTML form cast under wrk", lambda: wrk(app, args.duration,
                                                                 *form_args(app, polls["form"], args.runs,
                                                                            args.runs + 1))),
                ("tally", "tally API under wrk", lambda: wrk(tally_url, args.duration)),
                ("results", "/results/ under wrk", lambda: wrk(app + "/results/", args.duration)),
            ]
            for name, title, load in profiled:
                profile(stack, name, title, args.duration, load)

    def ratio_row(figure, measured, base, target):
        return (figure, f"{fmt(measured['rate'], 'req/s')}, p99 {measured['p99']:.0f} ms"
                + (f", {measured['errors']:.0f} refused" if measured["errors"] else ""),
                f"{fmt(base['rate'], 'req/s')}, p99 {base['p99']:.0f} ms", f"{measured['rate'] / base['rate']:.2f}",
                target)

    rows += [
        ratio_row("bare cast transaction (baseline app)", base_cast, base_cast, "–"),
        ratio_row("minimal JSON view (baseline app)", base_json, base_json, "–"),
        ratio_row("JSON cast `POST /api/v1/polls/<id>/ballots`", json_cast, base_cast, "≥ 0.7, p99 ≤ 100 ms"),
        ratio_row("HTML form cast (choice + confirmation, per ballot)", form_cast, json_cast,
                  "≥ 0.5 (at most twice the JSON cast)"),
        ratio_row("tally API `GET /api/v1/polls/<id>/tally`", tally, base_json, "≥ 0.7"),
        ratio_row("tally API with matching If-None-Match (304)", tally_304, base_json, "–"),
        ratio_row("`/results/`", results, base_json, "≥ 0.5"),
        ratio_row("`/results/` with matching If-None-Match (304)", results_304, base_json, "–"),
        ("cast → \"received\" shows it", f"p50 {percentile(received, 50):.2f} s, p99 {percentile(received, 99):.2f} s "
         f"({len(received)} casts)", "–", "–", "within ~2 s"),
        ("K-th waiting ballot → \"counted\"", f"p50 {percentile(counted, 50):.2f} s, p99 {percentile(counted, 99):.2f} s "
         f"({len(counted)} publications of K={K})", "–", "–", "–"),
    ]
    rows += spread_rows
    print("measuring: sealing (bench/seal.py) ...", flush=True)
    seal = seal_figures(args.seal_ballots, args.seal_fill)
    rows += [
        ("sealing throughput", fmt(seal["rate"], "ballots/s"), "–", "–", "≥ 20,000/s"),
        *((f"10,000 batch at {sealed:,} sealed vs at 0", f"{ms:.0f} ms vs {seal['empty_ms']:.0f} ms", "–",
           f"{ms / seal['empty_ms']:.2f}", "≤ 1.2 (at 10 M sealed)") for sealed, ms in seal["points"]),
    ]
    pages_table = ""
    if args.pages_scale > 0:
        print(f"measuring: every page on the scale data set (bench/pages.py --scale {args.pages_scale}) ...", flush=True)
        pages = subprocess.run([str(VENV_BIN / "python"), "bench/pages.py", "--scale", str(args.pages_scale),
                                "--out", str(VAR / "pages.md")], cwd=ROOT, check=True, capture_output=True,
                               text=True).stdout
        print(pages, end="")
        over, total = re.search(r"(\d+) of (\d+) over \d+ ms at p95", pages).groups()
        build_s = re.search(r"build_scale_dataset --scale \S+: (\d+) s", pages)
        rows.append((f"pages on the scale data set (×{args.pages_scale:g}: 1 M ballots, 2 M codes at ×1)",
                     f"{int(total) - int(over)} of {total} pages and endpoints ≤ 300 ms at p95"
                     + (f"; built in {build_s.group(1)} s" if build_s else ""), "–", "–", "all ≤ 300 ms"))
        pages_table = "\n\n## Every page on the scale data set (bench/pages.py)\n\n" + (VAR / "pages.md").read_text()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results.md", ":!bench/profiles"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    header = (
        f"# `make bench` results\n\ncommit {commit.strip()}{' (with uncommitted changes)' if dirty else ''}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average before the sealing run "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.\n\n"
        f"wrk {THREADS} threads, {CONNECTIONS} connections, {args.duration} s per run, median of {args.runs} runs; "
        f"gunicorn {bench_env()['WEB_CONCURRENCY']} sync workers, DEBUG off, PUBLISH_MIN_BALLOTS={K}; the load "
        "generator runs on the same cores. Ratios within one run are what count (bench/README.md).\n\n"
        f"{os.environ.get('BENCH_NOTE', '')}{chr(10) * 2 if os.environ.get('BENCH_NOTE') else ''}"
    )
    text = header + table(rows) + "\n" + pages_table
    print("\n" + text)
    (BENCH / "results.md").write_text(text)


if __name__ == "__main__":
    main()
