"""The deployment files agree with the application, and production settings refuse bad secrets.

No Docker engine runs here, so docker-compose.yml is checked as data (PyYAML) and its commands
are run directly against the real PostgreSQL and Redis. Settings are always loaded in a fresh
subprocess: they read the environment once, at import.
"""

import ast
import base64
import hashlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "web", "worker", "beat")
# Files whose environment reads are configuration an operator sets.
CONFIG_SOURCES = ("referendum/settings.py", "referendum/gunicorn.conf.py", "referendum/dev.py")


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command_of(service):
    """A service's command as compose runs it ($$ is compose's escape for a literal $)."""
    command = service.get("command", [])
    command = command if isinstance(command, list) else command.split()
    return [part.replace("$$", "$") for part in command]


def env_names_read(path):
    """Names of environment variables a module reads: os.environ.get/[]/getenv and its helpers.

    A helper is a module-level function that reads os.environ itself (env_bool, secret, ...);
    its calls with a literal first argument count as reads of that variable.
    """
    tree = ast.parse(path.read_text())

    def is_environ(node):
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "environ"
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )

    def reads_environ(node):
        return any(
            is_environ(n) or (isinstance(n, ast.Attribute) and n.attr == "getenv")
            for n in ast.walk(node)
        )

    helpers = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and reads_environ(node)
    }
    names = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if (
                (isinstance(func, ast.Attribute) and func.attr == "get" and is_environ(func.value))
                or (isinstance(func, ast.Attribute) and func.attr == "getenv")
                or (isinstance(func, ast.Name) and func.id in helpers)
            ):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


def all_env_names():
    names = set()
    for source in CONFIG_SOURCES:
        names |= env_names_read(ROOT / source)
    return names


def strong_secret():
    return secrets.token_urlsafe(48)


def base_env(tmp_path, **values):
    """A clean environment: nothing inherited from the test run except what a process needs."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "referendum.settings",
        "VAR_DIR": str(tmp_path / "var"),
    }
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def signing_key():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def production_env(tmp_path, **overrides):
    values = {
        "DEBUG": "0",
        "SECRET_KEY": strong_secret(),
        "CREDENTIAL_PEPPER": strong_secret(),
        "SNAPSHOT_SIGNING_KEY": signing_key(),
        "ALLOWED_HOSTS": "vote.example.org",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/referendum"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5"),
        "DATABASE_APP_ROLE": "referendum_app",
    }
    values.update(overrides)
    return base_env(tmp_path, **values)


def setup_django(env, code="import django; django.setup()"):
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def env_example():
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


# --- docker-compose.yml as data ---


def test_compose_has_every_service():
    services = compose()["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for name in APP_SERVICES:
        assert services[name]["build"] == "."
        assert services[name]["env_file"] == ([".env", ".env.db"] if name == "migrate" else ".env")
    assert command_of(services["web"])[:2] == ["gunicorn", "referendum.wsgi"]
    assert "referendum/gunicorn.conf.py" in command_of(services["web"])
    assert command_of(services["worker"])[:4] == ["celery", "-A", "referendum", "worker"]


def test_the_app_connects_as_the_app_role_and_never_sees_the_owner_or_superuser():
    services = compose()["services"]
    readers = {name for name, service in services.items() if ".env.db" in str(service.get("env_file", ""))}
    assert readers == {"postgres", "migrate"}
    for name in ("web", "worker", "beat", "migrate"):
        environment = services[name]["environment"]
        # Web nodes and migrate's grants: the app role; workers and beat publish as the sealer role.
        role = "referendum_sealer" if name in ("worker", "beat") else "referendum_app"
        assert environment["DATABASE_URL"].startswith(f"postgres://{role}:"), name
        assert environment["DATABASE_APP_ROLE"] == "referendum_app", name
        assert environment["DATABASE_SEALER_ROLE"] == "referendum_sealer", name
    script = " ".join(command_of(services["migrate"]))
    assert "referendum.ensure_db" in script and 'DATABASE_URL="$DATABASE_OWNER_URL" python manage.py migrate' in script
    db_example = (ROOT / ".env.db.example").read_text()
    for name in ("POSTGRES_PASSWORD", "DATABASE_ADMIN_URL", "DATABASE_OWNER_URL"):
        assert re.search(rf"^{name}=", db_example, re.M), name
        assert not re.search(rf"^#?\s*{name}=", (ROOT / ".env.example").read_text(), re.M), name


def test_exactly_one_beat():
    services = compose()["services"]
    beats = [
        name
        for name, service in services.items()
        if "beat" in command_of(service) or {"-B", "--beat"} & set(command_of(service))
    ]
    assert beats == ["beat"]
    beat = services["beat"]
    assert command_of(beat)[:4] == ["celery", "-A", "referendum", "beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    # The schedule file lives in a volume, so a restarted beat keeps its last-run times.
    schedule = command_of(beat)[command_of(beat).index("--schedule") + 1]
    mounts = [v.split(":")[1] for v in beat["volumes"]]
    assert any(schedule.startswith(mount + "/") for mount in mounts)


def test_migrate_is_one_shot_and_everything_waits_for_it():
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["restart"] == "no"  # the string: YAML's bare `no` would be False
    script = " ".join(command_of(migrate))
    assert "manage.py migrate" in script and "manage.py collectstatic --no-input" in script
    assert script.index("migrate") < script.index("collectstatic")
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert services[name]["restart"] == "unless-stopped", name


def test_healthchecks():
    services = compose()["services"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert web_check.startswith("CMD python -c") and "/healthz" in web_check


def test_redis_keeps_nothing_on_disk():
    command = command_of(compose()["services"]["redis"])
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"


def published(port):
    """(host_ip, container_port) of a compose `ports` entry, short or long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip", ""), int(port["target"])
    text = str(port).split("/")[0]
    # Strip ${...} interpolations before splitting on ':'.
    text = re.sub(r"\$\{[^}]*\}", "X", text)
    parts = text.split(":")
    host_ip = parts[0] if len(parts) == 3 else ""
    return host_ip, int(parts[-1])


def test_no_database_or_redis_port_is_published():
    services = compose()["services"]
    assert "ports" not in services["postgres"]
    assert "ports" not in services["redis"]
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip, target = published(port)
            assert target not in (5432, 6379), name
            # Whatever is published is on the loopback interface, for the reverse proxy only.
            assert host_ip == "127.0.0.1", (name, port)
    assert [published(p) for p in services["web"]["ports"]] == [("127.0.0.1", 8000)]


def test_dockerfile_builds_the_app_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", dockerfile, re.M)
    assert re.search(r"pip install \.(\s|$)", dockerfile)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and "var" in ignored


# --- every variable the application reads is documented and in .env.example ---


def test_env_parser_finds_the_known_variables():
    names = all_env_names()
    assert {"SECRET_KEY", "CREDENTIAL_PEPPER", "DATABASE_URL", "REDIS_URL", "DEBUG"} <= names
    assert {"WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "PORT"} <= names


def test_every_variable_is_documented_and_in_env_example():
    docs = (ROOT / "docs" / "configuration.md").read_text()
    example = (ROOT / ".env.example").read_text()
    undocumented = sorted(n for n in all_env_names() if f"`{n}`" not in docs)
    missing = sorted(
        n for n in all_env_names() if not re.search(rf"^#?\s*{n}=", example, re.M)
    )
    assert undocumented == [], "add these to docs/configuration.md"
    assert missing == [], "add these to .env.example"


def test_env_example_covers_compose_interpolations():
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert interpolated >= {"DATABASE_APP_PASSWORD", "PORT"}
    assert interpolated <= set(env_example())


# --- production settings refuse to start without real secrets and services ---


def test_production_refuses_missing_secret_key(tmp_path):
    result = setup_django(production_env(tmp_path, SECRET_KEY=None))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in last_line(result.stderr)


def test_production_refuses_short_pepper(tmp_path):
    result = setup_django(production_env(tmp_path, CREDENTIAL_PEPPER="short-pepper-1234567890"))
    assert result.returncode != 0
    assert "CREDENTIAL_PEPPER must be at least 32 characters" in last_line(result.stderr)


def test_production_refuses_missing_database_url(tmp_path):
    result = setup_django(production_env(tmp_path, DATABASE_URL=None))
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in last_line(result.stderr)
    # It did not quietly fall back to the embedded SQLite file.
    assert not (tmp_path / "var" / "embedded.sqlite3").exists()


def test_production_refuses_the_published_sample_key(tmp_path):
    seed = hashlib.sha256(b"referendum: the verification sample key, never for a real poll").digest()
    result = setup_django(production_env(tmp_path, SNAPSHOT_SIGNING_KEY=base64.urlsafe_b64encode(seed).decode()))
    assert result.returncode != 0
    assert "SNAPSHOT_SIGNING_KEY is the published sample key of docs/vectors/" in last_line(result.stderr)


def test_production_refuses_a_missing_rotations_file(tmp_path):
    result = setup_django(production_env(tmp_path, SNAPSHOT_KEY_ROTATIONS=str(tmp_path / "nowhere.jsonl")))
    assert result.returncode != 0
    assert "SNAPSHOT_KEY_ROTATIONS names" in last_line(result.stderr)


def test_env_example_placeholders_are_refused(tmp_path):
    values = env_example()
    assert values["DEBUG"] == "0"
    values.update(DATABASE_URL="postgres://referendum:x@postgres:5432/referendum",
                  REDIS_URL="redis://redis:6379/0")
    result = setup_django(base_env(tmp_path, **values))
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 32 characters" in last_line(result.stderr)

    values["SECRET_KEY"] = strong_secret()
    result = setup_django(base_env(tmp_path, **values))
    assert result.returncode != 0
    assert "CREDENTIAL_PEPPER must be at least 32 characters" in last_line(result.stderr)

    values["CREDENTIAL_PEPPER"] = strong_secret()
    result = setup_django(base_env(tmp_path, **values))
    assert result.returncode != 0
    assert "SNAPSHOT_SIGNING_KEY must be the base64 of 32 random bytes" in last_line(result.stderr)


def test_production_settings_pass_check_deploy(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- development: the local services when they answer, otherwise the embedded mode ---


def test_debug_without_services_falls_back_to_embedded_mode(tmp_path):
    with socket.socket() as dead:  # bound, never listening: connections are refused
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        env = base_env(
            tmp_path,
            DEBUG="1",
            LOCAL_DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/referendum",
            LOCAL_REDIS_URL=f"redis://127.0.0.1:{port}/0",
        )
        result = setup_django(
            env,
            "import django; django.setup();"
            "from django.conf import settings; from django.core.management import call_command;"
            "call_command('check');"
            "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER)",
        )
    assert result.returncode == 0, result.stderr
    assert "django.db.backends.sqlite3 True" in result.stdout
    embedded = [line for line in result.stderr.splitlines() if "Embedded mode" in line]
    assert len(embedded) == 1, result.stderr
    assert str(tmp_path / "var" / "embedded.sqlite3") in embedded[0]
    assert "never for a real vote" in embedded[0]
    # Development secrets went to VAR_DIR, not the repository's var/.
    assert (tmp_path / "var" / "dev-secrets.json").exists()


def test_debug_uses_local_postgres_and_redis_when_they_answer(tmp_path):
    database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/referendum")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
    env = base_env(tmp_path, DEBUG="1", LOCAL_DATABASE_URL=database, LOCAL_REDIS_URL=redis_url)
    result = setup_django(
        env,
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER)",
    )
    assert result.returncode == 0, result.stderr
    assert "django.db.backends.postgresql False" in result.stdout
    assert "Embedded mode" not in result.stderr


# --- the compose commands themselves, run against the real services ---


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_build_context(target):
    """The files the image gets: the repository minus what .dockerignore keeps out."""
    patterns = [
        line.strip().removeprefix("**/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith(("#", "!"))
    ]
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*patterns))


def compose_test_redis_url(environ=os.environ):
    """A Redis database of its own: beat queues real tasks there, and they are flushed afterwards.
    TEST_COMPOSE_REDIS_URL when given, else the database after the run's own on the run's own
    server (never a fixed number: two runs on one machine must not flush each other's)."""
    if environ.get("TEST_COMPOSE_REDIS_URL"):
        return environ["TEST_COMPOSE_REDIS_URL"]
    given = urlsplit(environ.get("REDIS_URL", "redis://127.0.0.1:6379/5"))
    database = int(given.path.strip("/") or 0)
    return given._replace(path=f"/{database + 1}").geturl()


COMPOSE_TEST_REDIS_URL = compose_test_redis_url()


def test_the_compose_test_redis_follows_the_run_s_own():
    assert compose_test_redis_url({"REDIS_URL": "redis://127.0.0.1:6383/1"}) == "redis://127.0.0.1:6383/2"
    assert compose_test_redis_url({"REDIS_URL": "redis://h:7000/8"}) == "redis://h:7000/9"
    assert compose_test_redis_url({"REDIS_URL": "redis://h:7000/8", "TEST_COMPOSE_REDIS_URL": "redis://x/3"}) == "redis://x/3"


@pytest.fixture
def compose_database():
    server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    name = f"ref_compose_{os.getpid()}"
    admin = server._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield server._replace(path=f"/{name}").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start(command, **kwargs):
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, **kwargs,
    )


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, 15)
    try:
        return process.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        return process.communicate()[0]


@pytest.mark.slow
def test_compose_commands_run_migrate_web_and_beat(tmp_path, compose_database):
    """migrate's script, web's gunicorn line, its healthcheck and beat, as compose runs them."""
    services = compose()["services"]
    app = tmp_path / "app"
    copy_build_context(app)
    (tmp_path / "var").mkdir()  # the image's /app/var, a volume for beat
    port = free_port()
    values = env_example()
    server = urlsplit(compose_database)
    as_role = lambda role: server._replace(netloc=f"{role}@{server.hostname}:{server.port or 5432}").geturl()  # noqa: E731
    values.update(
        SECRET_KEY=strong_secret(),
        CREDENTIAL_PEPPER=strong_secret(),
        SNAPSHOT_SIGNING_KEY=signing_key(),
        # What compose's environment and .env.db give migrate; web and beat get only the first two.
        DATABASE_URL=as_role("referendum_app"),
        DATABASE_APP_ROLE="referendum_app",
        DATABASE_OWNER_URL=as_role("referendum_owner"),
        DATABASE_ADMIN_URL=server._replace(path="/postgres").geturl(),
        REDIS_URL=COMPOSE_TEST_REDIS_URL,
        VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(app),
    )
    env = base_env(tmp_path, **values)

    migrate = subprocess.run(
        command_of(services["migrate"]), cwd=app, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    # collectstatic wrote the manifest into the copy (BASE_DIR is the image's /app).
    assert (app / "staticfiles" / "staticfiles.json").exists()

    web_command = [
        part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in command_of(services["web"])
    ]
    check = [
        part.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        for part in services["web"]["healthcheck"]["test"][1:]
    ]
    with psycopg.connect(compose_database) as conn:  # migrate left the tables to the owner role
        owners = {row[0] for row in conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")}
    assert owners <= {"referendum_owner", "referendum_app"} and "referendum_owner" in owners
    for name in ("DATABASE_OWNER_URL", "DATABASE_ADMIN_URL"):
        env.pop(name)  # web and beat never see them
    web = start(web_command, cwd=app, env=env)
    beat_command = [
        part.replace("/app/var", str(tmp_path / "var")) for part in command_of(services["beat"])
    ]
    beat = start(beat_command, cwd=app, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            healthy = subprocess.run(check, cwd=app, env=env, capture_output=True, text=True)
            if healthy.returncode == 0 or time.monotonic() > deadline or web.poll() is not None:
                break
            time.sleep(0.5)
        assert healthy.returncode == 0, healthy.stderr

        def get(path, **headers):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"Host": "vote.example.org", **headers}
            )
            opener = urllib.request.build_opener(NoRedirect)
            try:
                return opener.open(request, timeout=10)
            except urllib.error.HTTPError as error:
                return error

        # The proxy's X-Forwarded-Proto is what tells Django the request came over TLS.
        plain = get("/")
        assert plain.status == 301
        assert plain.headers["Location"] == "https://vote.example.org/"
        secure = get("/", **{"X-Forwarded-Proto": "https"})
        assert secure.status == 200
        assert "max-age=31536000" in secure.headers["Strict-Transport-Security"]
        css = get("/static/css/site.css", **{"X-Forwarded-Proto": "https"})
        assert css.status == 200  # served from the collected files by WhiteNoise

        schedule = tmp_path / "var" / "celerybeat-schedule"
        deadline = time.monotonic() + 30
        while not list(schedule.parent.glob("celerybeat-schedule*")) and time.monotonic() < deadline:
            assert beat.poll() is None, stop(beat)
            time.sleep(0.5)
        assert list(schedule.parent.glob("celerybeat-schedule*"))
    finally:
        web_log = stop(web)
        beat_log = stop(beat)
        # Tasks beat queued must not reach a worker of another test.
        redis.Redis.from_url(COMPOSE_TEST_REDIS_URL).flushdb()
    # The access log records the request, never the client address or user agent.
    assert '"GET / HTTP/1.1" 200' in web_log
    assert "127.0.0.1 " not in web_log.replace(f"127.0.0.1:{port}", "")
    assert "Python-urllib" not in web_log
    assert "beat: Starting" in beat_log


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.parametrize("value", [None, "CHANGE-ME", "c2hvcnQ="])
def test_production_refuses_a_missing_or_malformed_signing_key(tmp_path, value):
    env = production_env(tmp_path)
    env.pop("SNAPSHOT_SIGNING_KEY")
    if value is not None:
        env["SNAPSHOT_SIGNING_KEY"] = value
    result = setup_django(env)
    assert result.returncode != 0
    assert "SNAPSHOT_SIGNING_KEY" in last_line(result.stderr)
