"""Developer commands used by the Makefile (standard library only, so they run before installs).

  python -m referendum.dev services [--require] [--test]
                                                  start local PostgreSQL/Redis if installed but down
                                                  (--test: check TEST_DATABASE_URL/TEST_REDIS_URL's)
  python -m referendum.dev browser                install Debian's chromium if it is missing
  python -m referendum.dev tools CMD...           install the Debian packages of missing commands
                                                  (age, promtool, pg_dump: see APT_TOOLS)
  python -m referendum.dev run                    web server + Celery worker + beat until Ctrl-C
                                                  (embedded mode: web server + in-process publisher)
  python -m referendum.dev envfile                write .env for this checkout if it is missing
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def answers(host, port):
    try:
        with socket.create_connection((host, port), 0.5):
            return True
    except OSError:
        return False


def wait_for(host, port, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port):
            return True
        time.sleep(0.3)
    return False


def start_postgres():
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or not shutil.which("pg_ctlcluster"):
        return False
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False
    )
    return wait_for("127.0.0.1", 5432)


def start_redis():
    if not shutil.which("redis-server"):
        return False
    os.makedirs("/var/lib/redis", exist_ok=True)
    os.makedirs("/var/log/redis", exist_ok=True)
    subprocess.run(
        [
            "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
            "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
            "--logfile", "/var/log/redis/ci.log",
        ],
        check=False,
    )
    return wait_for("127.0.0.1", 6379)


def _address(url, default_port):
    """(host, port) of a postgres:// or redis:// URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def services(require, test=False):
    """Check that PostgreSQL and Redis answer where the run will use them: for `make test`,
    TEST_DATABASE_URL and TEST_REDIS_URL (any server, any port); otherwise the local defaults.
    Only a local server on its default port is started when down."""
    if test:
        wanted = [
            ("PostgreSQL", *_address(os.environ.get("TEST_DATABASE_URL") or "postgres://127.0.0.1:5432", 5432),
             start_postgres),
            ("Redis", *_address(os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379", 6379), start_redis),
        ]
    else:
        wanted = [("PostgreSQL", "127.0.0.1", 5432, start_postgres), ("Redis", "127.0.0.1", 6379, start_redis)]
    missing = []
    for name, host, port, start in wanted:
        if answers(host, port):
            continue
        local_default = host in ("127.0.0.1", "localhost") and port in (5432, 6379)
        print(f"{name} does not answer on {host}:{port}" + ("; trying to start it." if local_default else "."))
        if not (local_default and start()):
            missing.append(f"{name} ({host}:{port})")
    if missing:
        what = " and ".join(missing)
        if require:
            print(
                f"ERROR: {what} is not running and could not be started "
                f"(is it installed? e.g. apt-get install postgresql redis-server). "
                f"The test suite needs real PostgreSQL and Redis: by default 127.0.0.1:5432 (user "
                f"postgres) and 127.0.0.1:6379, or the servers TEST_DATABASE_URL and TEST_REDIS_URL name.",
                file=sys.stderr,
            )
            return 1
        print(f"{what} unavailable: the application will use its embedded mode.")
    return 0


def apt_install(packages, why):
    """Install Debian packages (as root, non-interactively); True when apt-get succeeded."""
    print(f"Installing {', '.join(packages)} from Debian's packages {why}...")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"ERROR: not root or no apt-get; install them: apt-get install {' '.join(packages)}", file=sys.stderr)
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], check=False, env=env
    )
    return result.returncode == 0


def browser():
    if os.path.exists("/usr/bin/chromium"):
        return 0
    if not apt_install(["chromium", "fonts-dejavu-core"], "for the browser tests") or not os.path.exists(
        "/usr/bin/chromium"
    ):
        print("ERROR: could not install chromium (apt-get install chromium).", file=sys.stderr)
        return 1
    return 0


# Commands the operations tools and their tests use, and the Debian package of each. `prometheus`
# only installs the server and promtool here; nothing starts it.
APT_TOOLS = {"age": "age", "age-keygen": "age", "promtool": "prometheus", "prometheus": "prometheus", "wrk": "wrk",
             "nginx": "nginx"}
APT_TOOLS.update(dict.fromkeys(("pg_dump", "pg_restore", "psql", "createdb", "dropdb"), "postgresql-client"))


def tools(commands):
    unknown = [c for c in commands if c not in APT_TOOLS]
    if unknown:
        print(f"ERROR: unknown tool(s) {', '.join(unknown)}; known: {', '.join(APT_TOOLS)}", file=sys.stderr)
        return 2
    packages = sorted({APT_TOOLS[c] for c in commands if not shutil.which(c)})
    if not packages:
        return 0
    apt_install(packages, f"for {', '.join(commands)}")
    still = [c for c in commands if not shutil.which(c)]
    if still:
        print(f"ERROR: {', '.join(still)} still missing (apt-get install {' '.join(packages)}).", file=sys.stderr)
        return 1
    return 0


# Variables `make run` remembers in .env when it was started with them, so later manage.py
# commands use the same database, Redis, var/ directory and port.
REMEMBERED = ("LOCAL_DATABASE_URL", "LOCAL_DATABASE_OWNER_URL", "LOCAL_REDIS_URL", "VAR_DIR", "PORT")


def envfile():
    """Write .env for a development checkout, unless one exists (it is never overwritten)."""
    path = os.path.join(ROOT, ".env")
    if os.path.exists(path):
        return 0
    lines = [
        "# Written by `make run` for this development checkout; delete it to have it written again.",
        "# referendum/settings.py reads it, so every manage.py command works without variables set",
        "# by hand (variables you do set win). Never copy it to a server: see docs/configuration.md.",
        "DEBUG=1",
    ]
    lines += [f"{name}={os.environ[name]}" for name in REMEMBERED if os.environ.get(name)]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"Wrote {path} (DEBUG=1{''.join(', ' + n for n in REMEMBERED if os.environ.get(n))}).")
    return 0


# What beat and the worker log for every periodic sealing run, every SEAL_INTERVAL_SECONDS: beat's
# "Sending due task", the worker's "received", and its "succeeded" when nothing was published
# (every count 0). A run that publishes still shows ("succeeded …: {3: 100}"): once per publication.
_TICK = re.compile(
    r"Sending due task|Task tallying\.seal_open_polls\[[^]]+\] received"
    r"|Task tallying\.seal_open_polls\[[^]]+\] succeeded in [0-9.]+s: \{(?:\d+: 0(?:, )?)*\}\s*$"
)


def quiet(line):
    """Whether a log line of `make run` is a periodic tick that published nothing."""
    return bool(_TICK.search(line))


def _pass_on(stream):
    for line in stream:
        if not quiet(line):
            sys.stdout.write(line)
            sys.stdout.flush()


def run():
    """Start gunicorn, one Celery worker and beat; Ctrl-C stops them all."""
    sys.path.insert(0, ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")
    import django
    from django.conf import settings

    django.setup()
    port = os.environ.get("PORT", "8000")
    if answers("127.0.0.1", int(port)):
        print(
            f"ERROR: port {port} is already taken on 127.0.0.1 (another `make run`, or another server). "
            f"Stop it, or start on another port: make run PORT={int(port) + 1}",
            file=sys.stderr,
        )
        sys.exit(1)
    procs = [
        [os.path.join(VENV_BIN, "gunicorn"), "referendum.wsgi", "-c", os.path.join(ROOT, "referendum", "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}"],
    ]
    if not settings.EMBEDDED_TASKS:
        os.makedirs(settings.VAR_DIR, exist_ok=True)
        procs += [
            [os.path.join(VENV_BIN, "celery"), "-A", "referendum", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "--hostname", "worker@%h"],
            [os.path.join(VENV_BIN, "celery"), "-A", "referendum", "beat", "--loglevel", "INFO",
             "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        ]
    children = [
        subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, bufsize=1)
        for cmd in procs
    ]
    for child in children:
        threading.Thread(target=_pass_on, args=(child.stdout,), daemon=True).start()
    publisher = None
    if settings.EMBEDDED_TASKS:
        from referendum import embedded

        publisher = embedded.start_publisher()

    def stop(*_, exit_code=0):
        if publisher is not None:
            publisher.set()
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        sys.exit(exit_code)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    web = children[0]
    deadline = time.monotonic() + 30
    while not answers("127.0.0.1", int(port)) and web.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if web.poll() is not None or not answers("127.0.0.1", int(port)):
        print(f"ERROR: the web server did not start listening on 127.0.0.1:{port} (see its messages above).",
              file=sys.stderr)
        stop(exit_code=1)
    else:
        codes = os.path.join(settings.VAR_DIR, "demo-codes.csv")
        print(f"\n  Referendum is running at http://127.0.0.1:{port}/")
        print(f"  Demo voting codes: {codes}")
        print(f"  Counts move in steps of {settings.PUBLISH_MIN_BALLOTS} ballots (PUBLISH_MIN_BALLOTS; "
              f"{'in-process publisher' if settings.EMBEDDED_TASKS else 'Celery beat'} every "
              f"{settings.SEAL_INTERVAL_SECONDS:g} s).")
        print("  Press Ctrl-C to stop the web server, worker and beat. Beat's periodic sealing runs are not")
        print("  logged one by one; each publication is.\n", flush=True)
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"{os.path.basename(child.args[0])} exited ({child.returncode}); stopping.", file=sys.stderr)
                stop(exit_code=1)
        time.sleep(0.5)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "services":
        sys.exit(services(require="--require" in sys.argv, test="--test" in sys.argv))
    if command == "browser":
        sys.exit(browser())
    if command == "tools":
        sys.exit(tools(sys.argv[2:]))
    if command == "run":
        run()
    if command == "envfile":
        sys.exit(envfile())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
