"""Settings for Referendum, read from environment variables (see docs/configuration.md).

Development (DEBUG=1) fills in what is missing: secrets generated once into var/, the local
PostgreSQL and Redis when they answer, and otherwise an embedded mode (a SQLite file, tasks run
in-process) announced in one log line. Production (DEBUG unset or 0) refuses to start without
real secrets and real services.
"""

import base64
import hashlib
import ipaddress
import json
import logging
import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
# A development checkout has a .env that `make run` writes (DEBUG=1 and what it was started with),
# so every manage.py command works without variables set by hand. Variables already set win.
ENV_FILE = BASE_DIR / ".env"
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE)
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

log = logging.getLogger("referendum.settings")


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def answers(url, default_port):
    """True when something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 0.5):
            return True
    except OSError:
        return False


def dev_secret(name):
    """A development secret, generated once and kept in var/dev-secrets.json."""
    path = VAR_DIR / "dev-secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = secrets.token_urlsafe(48)
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return stored[name]


DEBUG = env_bool("DEBUG")


def secret(name):
    value = os.environ.get(name, "")
    if value:
        if not DEBUG and len(value) < 32:
            raise ImproperlyConfigured(f"{name} must be at least 32 characters in production.")
        return value
    if DEBUG:
        return dev_secret(name)
    raise ImproperlyConfigured(
        f"{name} is not set. Production (DEBUG unset or 0) refuses to start without it; "
        "see docs/configuration.md."
    )


SECRET_KEY = secret("SECRET_KEY")
# The key of HMAC-SHA256 over voting codes: without it a stolen database cannot test codes.
CREDENTIAL_PEPPER = secret("CREDENTIAL_PEPPER").encode()
# Ed25519 seed (base64 of 32 bytes) that signs every published snapshot; its public key is
# published at /api/v1/public-key. Generate: python -c "import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"
SNAPSHOT_SIGNING_KEY = os.environ.get("SNAPSHOT_SIGNING_KEY", "").strip()
# Web nodes need only the public half (hex, 64 digits): the private key lives where sealing runs
# (docs/deployment.md, "Which node holds which secret").
SNAPSHOT_PUBLIC_KEY = os.environ.get("SNAPSHOT_PUBLIC_KEY", "").strip().lower()
if SNAPSHOT_PUBLIC_KEY and (len(SNAPSHOT_PUBLIC_KEY) != 64 or not all(c in "0123456789abcdef" for c in SNAPSHOT_PUBLIC_KEY)):
    raise ImproperlyConfigured("SNAPSHOT_PUBLIC_KEY must be the 64 hex digits of the Ed25519 public key.")
if SNAPSHOT_SIGNING_KEY:
    try:
        _seed = base64.urlsafe_b64decode(SNAPSHOT_SIGNING_KEY + "=" * (-len(SNAPSHOT_SIGNING_KEY) % 4))
    except ValueError:
        _seed = b""
    if len(_seed) != 32:
        raise ImproperlyConfigured("SNAPSHOT_SIGNING_KEY must be the base64 of 32 random bytes.")
    # The key of the published test vectors (docs/vectors/): anyone can sign with it.
    if not DEBUG and _seed == hashlib.sha256(b"referendum: the verification sample key, never for a real poll").digest():
        raise ImproperlyConfigured("SNAPSHOT_SIGNING_KEY is the published sample key of docs/vectors/; generate your own.")
elif not SNAPSHOT_PUBLIC_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Neither SNAPSHOT_SIGNING_KEY (sealers) nor SNAPSHOT_PUBLIC_KEY (web nodes) is set. Production refuses "
            "to start without one; see docs/configuration.md."
        )
    SNAPSHOT_SIGNING_KEY = base64.urlsafe_b64encode(
        hashlib.sha256(dev_secret("SNAPSHOT_SIGNING_SEED").encode()).digest()
    ).decode()

# Bearer token a Prometheus scraper presents at /metrics; unset turns /metrics off (404).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
if METRICS_TOKEN and not DEBUG and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters in production.")
# /readyz fails when no sealing run finished for this many seconds (the worker's heartbeat).
READINESS_MAX_SEAL_AGE_SECONDS = float(os.environ.get("READINESS_MAX_SEAL_AGE_SECONDS", 60))
# Key rotations (docs/verification.md, "Key rotation"): a JSON Lines file of rotation
# statements, each signed by the key it hands over from (manage.py sign_key_rotation). Published
# at /api/v1/public-key and in every export; statements are signed only with the key in force.
SNAPSHOT_KEY_ROTATIONS = os.environ.get("SNAPSHOT_KEY_ROTATIONS", "").strip()
if SNAPSHOT_KEY_ROTATIONS and not Path(SNAPSHOT_KEY_ROTATIONS).is_file():
    raise ImproperlyConfigured(f"SNAPSHOT_KEY_ROTATIONS names {SNAPSHOT_KEY_ROTATIONS}, which is not a file.")

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "").split(",")
    if h.strip()
]
# The site's onion service names (e.g. "abc…xyz.onion"), served over plain HTTP inside Tor:
# allowed hosts, trusted CSRF origins over http://, and exempt from the HTTPS redirect (only these).
ONION_HOSTS = [h.strip().lower() for h in os.environ.get("ONION_HOSTS", "").split(",") if h.strip()]
if any(not h.endswith(".onion") for h in ONION_HOSTS):
    raise ImproperlyConfigured("ONION_HOSTS holds .onion names only; see docs/deployment.md.")
ALLOWED_HOSTS += [h for h in ONION_HOSTS if h not in ALLOWED_HOSTS]
CSRF_TRUSTED_ORIGINS = [f"http://{h}" for h in ONION_HOSTS]
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set; see docs/configuration.md.")


def is_loopback_host(host):
    name = host.strip().strip("[]").lstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# DEBUG turns on error pages full of internals: never on a host the public can reach.
if DEBUG and not all(is_loopback_host(host) for host in ALLOWED_HOSTS):
    raise ImproperlyConfigured(
        "DEBUG=1 is for development on this machine only: every ALLOWED_HOSTS entry must be a loopback "
        f"name (localhost, 127.0.0.1, ::1), not {', '.join(h for h in ALLOWED_HOSTS if not is_loopback_host(h))}."
    )
# Even then, the technical 500 page hides every secret (referendum/debug.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "referendum.debug.SecretsFilter"

# --- Services: PostgreSQL and Redis, or the embedded mode for a first try ---

# Development only: where DEBUG=1 looks for PostgreSQL and Redis when DATABASE_URL/REDIS_URL are unset.
# The app connects as referendum_app; `make migrate` runs migrations as referendum_owner
# (DATABASE_AS_OWNER=1); `python -m referendum.ensure_db` creates both (docs/security.md).
LOCAL_DATABASE_URL = os.environ.get("LOCAL_DATABASE_URL", "postgres://referendum_app@127.0.0.1:5432/referendum")
LOCAL_DATABASE_OWNER_URL = os.environ.get(
    "LOCAL_DATABASE_OWNER_URL", "postgres://referendum_owner@127.0.0.1:5432/referendum"
)
LOCAL_REDIS_URL = os.environ.get("LOCAL_REDIS_URL", "redis://127.0.0.1:6379/0")

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED_DATABASE = False
EMBEDDED_TASKS = False
DEV_APP_ROLE = ""

if not DATABASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured("DATABASE_URL is not set; see docs/configuration.md.")
    if answers(LOCAL_DATABASE_URL, 5432):
        DATABASE_URL = LOCAL_DATABASE_OWNER_URL if env_bool("DATABASE_AS_OWNER") else LOCAL_DATABASE_URL
        DEV_APP_ROLE = urlsplit(LOCAL_DATABASE_URL).username or ""
    else:
        EMBEDDED_DATABASE = True
        DATABASE_URL = f"sqlite:///{VAR_DIR / 'embedded.sqlite3'}"

if not REDIS_URL:
    if not DEBUG:
        raise ImproperlyConfigured("REDIS_URL is not set; see docs/configuration.md.")
    if answers(LOCAL_REDIS_URL, 6379):
        REDIS_URL = LOCAL_REDIS_URL
    else:
        EMBEDDED_TASKS = True

if EMBEDDED_DATABASE or EMBEDDED_TASKS:
    log.warning(
        "Embedded mode: %s%s%s. Fine for a first look, never for a real vote.",
        f"SQLite file {VAR_DIR / 'embedded.sqlite3'} instead of PostgreSQL" if EMBEDDED_DATABASE else "",
        "; " if EMBEDDED_DATABASE and EMBEDDED_TASKS else "",
        "no Redis: ballots are published in-process by `make run`, the cache is a directory" if EMBEDDED_TASKS else "",
    )

# The role the app and the workers connect as; migrations (run as the owner) grant it its rights.
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", "").strip() or DEV_APP_ROLE
# The role sealers (Celery workers) connect as, if publication is to be theirs alone
# (referendum/database_roles.py): the web role then cannot write counts, the head or snapshots.
DATABASE_SEALER_ROLE = os.environ.get("DATABASE_SEALER_ROLE", "").strip()

# A web request's statements are cancelled after this long (a 503 saying so), so a bad query fails
# instead of running on after gunicorn gave up on the worker. Celery workers and manage.py commands
# use WORKER_STATEMENT_TIMEOUT_MS instead (0: none), so sealing a large backlog is never cancelled.
STATEMENT_TIMEOUT_MS = int(os.environ.get("STATEMENT_TIMEOUT_MS", 5000))
WORKER_STATEMENT_TIMEOUT_MS = int(os.environ.get("WORKER_STATEMENT_TIMEOUT_MS", 0))
if STATEMENT_TIMEOUT_MS < 0 or WORKER_STATEMENT_TIMEOUT_MS < 0:
    raise ImproperlyConfigured("STATEMENT_TIMEOUT_MS and WORKER_STATEMENT_TIMEOUT_MS must be 0 (none) or more.")

def parse_database_url(url):
    """dj-database-url, plus libpq's several hosts (postgres://u@primary:5432,standby:5432/db): the
    app connects to whichever of them accepts writes (target_session_attrs=read-write), so after a
    standby is promoted it reconnects to the new primary by itself (docs/operations.md, failover)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    if "," not in hosts:
        return dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    first = hosts.split(",")[0]
    database = dj_database_url.parse(url.replace(hosts, first, 1), conn_max_age=60, conn_health_checks=True)
    addresses = [h.rsplit(":", 1) if ":" in h else (h, "5432") for h in hosts.split(",")]
    database["HOST"] = ",".join(host for host, _port in addresses)
    database["PORT"] = ",".join(port for _host, port in addresses)
    database.setdefault("OPTIONS", {})["target_session_attrs"] = "read-write"
    return database


DATABASES = {"default": parse_database_url(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
    # Set when the connection opens (no extra round trip); referendum/database.py changes it for workers.
    DATABASES["default"]["OPTIONS"]["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded mode: web workers and the in-process publisher share one file. Taking the write
    # lock at BEGIN serializes sealing runs and avoids "database is locked" on lock upgrades.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )

# How long a web process waits for one Redis operation, and how long after a timeout it stops
# asking (docs/configuration.md): a hung Redis makes a node fast and not ready, not slow.
REDIS_TIMEOUT_SECONDS = float(os.environ.get("REDIS_TIMEOUT_SECONDS", 0.25))
REDIS_BREAK_SECONDS = float(os.environ.get("REDIS_BREAK_SECONDS", 5))
from referendum.redis_breaker import BreakerConnection  # noqa: E402 — redis-py only, no Django

if EMBEDDED_TASKS:
    # A file cache, so the web workers see the tallies the in-process publisher refreshes.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    }
    # django-ratelimit wants a shared cache; in embedded mode there is one process anyway.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
else:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "referendum",
            "OPTIONS": {
                # A cache outage must not stop voting: errors read as misses (see threat model).
                "IGNORE_EXCEPTIONS": True,
                # A hung Redis (accepts, never answers) costs one timeout, then the breaker fails
                # every operation at once for REDIS_BREAK_SECONDS (referendum/redis_breaker.py).
                "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT_SECONDS,
                "SOCKET_TIMEOUT": REDIS_TIMEOUT_SECONDS,
                "CONNECTION_POOL_KWARGS": {"connection_class": BreakerConnection},
            },
        }
    }
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "referendum.cache"

# --- Backups (referendum/backup.py, docs/operations.md) ---

BACKUP_DIR = Path(os.environ.get("BACKUP_DIR") or VAR_DIR / "backups")
# age public key(s), comma-separated, that `make backup` encrypts to (age-keygen makes a pair).
BACKUP_AGE_RECIPIENTS = os.environ.get("BACKUP_AGE_RECIPIENTS", "").strip()
# Path of the age identity (secret key) file; only where backups are restored, never beside them.
BACKUP_AGE_IDENTITY = os.environ.get("BACKUP_AGE_IDENTITY", "").strip()

# --- Celery ---

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = EMBEDDED_TASKS
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Web nodes publish tasks (registration mails) to Redis: a hung broker fails the publish within
# about a second instead of holding the request (kombu retries the publish once).
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
SEAL_INTERVAL_SECONDS = float(os.environ.get("SEAL_INTERVAL_SECONDS", 2))
# K: sealing publishes a poll's waiting ballots only when at least K wait (all of them, shuffled,
# with one signed snapshot), so that no published figure moves by fewer than K ballots; the
# remainder after the close is published with the final result. See docs/threat-model.md.
PUBLISH_MIN_BALLOTS_FLOOR = 20
# Development defaults to 5, so that the demo codes `make run` hands out are enough to see counts
# move (the start-up line says so); production keeps 100 and refuses less than the floor.
PUBLISH_MIN_BALLOTS = int(os.environ.get("PUBLISH_MIN_BALLOTS", 5 if DEBUG else 100))
if PUBLISH_MIN_BALLOTS < 1:
    raise ImproperlyConfigured("PUBLISH_MIN_BALLOTS must be at least 1.")
if not DEBUG and PUBLISH_MIN_BALLOTS < PUBLISH_MIN_BALLOTS_FLOOR:
    raise ImproperlyConfigured(
        f"PUBLISH_MIN_BALLOTS is {PUBLISH_MIN_BALLOTS}; production refuses less than {PUBLISH_MIN_BALLOTS_FLOOR}: "
        "smaller publications let a network observer link a voter to an answer (docs/threat-model.md)."
    )
# A sealing session idle inside its transaction this long (a frozen worker) is ended by PostgreSQL,
# freeing its poll's lock for another worker (tallying/services.py).
SEALER_IDLE_TIMEOUT_SECONDS = float(os.environ.get("SEALER_IDLE_TIMEOUT_SECONDS", 15))
# Hold-back pool (docs/threat-model.md, "K−1 attack"): each publication keeps this many of the
# waiting ballots, chosen at random, for a later one, so that a state holding K−1 codes of its own
# cannot fill a publication around one voter and subtract. A publication needs K + this many.
# Development keeps 0, so that the demo codes make counts move in steps of K as `make run` says.
PUBLISH_HOLD_BACK = int(os.environ.get("PUBLISH_HOLD_BACK", 0 if DEBUG else PUBLISH_MIN_BALLOTS // 2))
if PUBLISH_HOLD_BACK < 0:
    raise ImproperlyConfigured("PUBLISH_HOLD_BACK must be 0 or more.")
# Sealed ballots (ballots/keys.py): the private halves of publication keys live only in this
# Redis (no persistence: docs/deployment.md); empty in embedded mode (the process's memory).
PUBLICATION_KEY_STORE_URL = os.environ.get("PUBLICATION_KEY_STORE_URL", "").strip() or REDIS_URL
# age X25519 recipients (age1…) of the offline recovery key; required in production (a deploy
# check, and no key is made without it).
PUBLICATION_RECOVERY_RECIPIENTS = os.environ.get("PUBLICATION_RECOVERY_RECIPIENTS", "").strip()
# Unset in development (DEBUG=1 at start-up): a recovery key generated once into VAR_DIR.
PUBLICATION_RECOVERY_DEVELOPMENT = DEBUG and not PUBLICATION_RECOVERY_RECIPIENTS
CELERY_BEAT_SCHEDULE = {
    "seal-open-polls": {
        "task": "tallying.seal_open_polls",
        "schedule": SEAL_INTERVAL_SECONDS,
        # A run that waited longer than an interval is superseded by the next one.
        "options": {"expires": max(SEAL_INTERVAL_SECONDS, 1)},
    },
}

# --- E-mail (codes for e-mail self-registration): console in development, SMTP in production ---

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 587))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)
EMAIL_TIMEOUT = 20
# For django.core.mail.backends.filebased.EmailBackend (development, tests): the folder it writes to.
if os.environ.get("EMAIL_FILE_PATH"):
    EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "referendum@localhost")
# Each registration mail waits a random 0..N seconds, so credentials are not written in the order
# the addresses were (see ballots/registration.py).
EMAIL_CODE_MAX_DELAY_SECONDS = int(os.environ.get("EMAIL_CODE_MAX_DELAY_SECONDS", 60))

# E-mail self-registration: which addresses count as one mailbox, and which domains are served.
def env_list(name, default=""):
    return [item.strip().lower() for item in os.environ.get(name, default).split(",") if item.strip()]


EMAIL_DOTS_IGNORED_DOMAINS = env_list("EMAIL_DOTS_IGNORED_DOMAINS", "gmail.com")
EMAIL_DOMAINS_ALLOWED = env_list("EMAIL_DOMAINS_ALLOWED")
EMAIL_DOMAINS_DENIED = env_list("EMAIL_DOMAINS_DENIED")
# Providers with many voters get the higher per-domain limit (EMAIL_RATE_PER_LARGE_DOMAIN).
EMAIL_LARGE_DOMAINS = env_list(
    "EMAIL_LARGE_DOMAINS",
    "gmail.com,mail.ru,yandex.ru,ya.ru,bk.ru,list.ru,inbox.ru,rambler.ru,outlook.com,hotmail.com,"
    "icloud.com,proton.me,protonmail.com,yahoo.com",
)

# --- Django ---

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "regions",
    "ballots",
    "tallying",
    "referendum",
]

MIDDLEWARE = [
    # First, so it counts every response, also those refused by the middleware below.
    "referendum.metrics.ResponseMetricsMiddleware",
    "referendum.middleware.ProbeMiddleware",
    "referendum.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The HTTPS redirect, with our onion service exempt; and Permissions-Policy.
    "referendum.middleware.HttpsRedirectMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "referendum.middleware.CachedPolicyCSPMiddleware",
    # Cached tally answers and results pages leave here, before the session, language and CSRF work below.
    "referendum.middleware.CachedReadMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "referendum.middleware.ApiErrorFormatMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "referendum.middleware.DatabaseUnavailableMiddleware",
    # Turns django-ratelimit's Ratelimited (a 403 otherwise) into RATELIMIT_VIEW's 429.
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "referendum.urls"
WSGI_APPLICATION = "referendum.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "referendum.context_processors.addresses",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "referendum.context_processors.link_preview",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or env_bool("PLAIN_STATIC")
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Organizer accounts: password + TOTP (django-otp); sessions end after inactivity.
LOGIN_URL = "console-login"
LOGIN_REDIRECT_URL = "console-home"
SESSION_COOKIE_AGE = int(os.environ.get("CONSOLE_SESSION_SECONDS", 30 * 60))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
OTP_TOTP_ISSUER = "Referendum"
OTP_TOTP_THROTTLE_FACTOR = 1
CONSOLE_LOGIN_RATE = os.environ.get("CONSOLE_LOGIN_RATE", "10/m")
# How long a one-time link to set a password and enroll a second factor stays usable.
ENROLMENT_LINK_HOURS = int(os.environ.get("ENROLMENT_LINK_HOURS", 72))
# The site's public address, for links made outside a request (create_coordinator).
SITE_URL = (
    os.environ.get("SITE_URL")
    or (f"http://127.0.0.1:{os.environ.get('PORT', '8000')}" if DEBUG else f"https://{ALLOWED_HOSTS[0].lstrip('.')}")
).rstrip("/")

# Every address where one can vote (clearnet domains, the onion) and where the signed mirrors are,
# comma-separated URLs: shown at the foot of every page and signed into every mirror's manifest,
# so that a voter or observer whose domain is blocked finds another (docs/operations.md).
VOTING_ADDRESSES = [u.strip().rstrip("/") for u in os.environ.get("VOTING_ADDRESSES", "").split(",") if u.strip()]
MIRROR_ADDRESSES = [u.strip().rstrip("/") for u in os.environ.get("MIRROR_ADDRESSES", "").split(",") if u.strip()]

# --- Signed mirrors (tallying/mirrors.py, docs/configuration.md, docs/operations.md#mirrors) ---

# Where the worker that seals keeps the bundle it builds and what it appended (one machine: the
# one with the signing key).
MIRROR_BUILD_DIR = Path(os.environ.get("MIRROR_BUILD_DIR") or VAR_DIR / "mirror")
# Comma-separated name=url: file:///srv/mirror (a folder: nginx, an onion service, IPFS) or
# s3://bucket/prefix?endpoint=https://…&region=… (credentials: boto3's usual AWS_* variables).
MIRROR_TARGETS = os.environ.get("MIRROR_TARGETS", "").strip()
MIRROR_INTERVAL_SECONDS = float(os.environ.get("MIRROR_INTERVAL_SECONDS", 5))
# The origin the mirror's pages link to for voting (and whose pages they copy).
MIRROR_ORIGIN_URL = (os.environ.get("MIRROR_ORIGIN_URL") or SITE_URL).rstrip("/")
try:
    from tallying.mirror_targets import parse_targets as _parse_mirror_targets

    _parse_mirror_targets(MIRROR_TARGETS)
except ValueError as _error:
    raise ImproperlyConfigured(str(_error)) from None
if MIRROR_TARGETS:
    CELERY_BEAT_SCHEDULE["mirror-tick"] = {
        "task": "tallying.mirror_tick",
        "schedule": MIRROR_INTERVAL_SECONDS,
        "options": {"expires": max(MIRROR_INTERVAL_SECONDS, 1)},
    }

# Sessions live in the database; nothing about a ballot is ever put in a session.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# The CSRF cookie ends with the browser session: a seized phone should not keep, for a year, a
# cookie whose presence dates a visit to the voting site.
CSRF_COOKIE_AGE = None
CSRF_FAILURE_VIEW = "referendum.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Not "no-referrer": with it browsers send "Origin: null" on our own form POSTs (Fetch standard),
# which Django's CSRF check refuses. "same-origin" still sends nothing to other sites.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
HTTPS_REDIRECT = False
SECURE_SSL_REDIRECT = False  # see HTTPS_REDIRECT
# Django's check of SECURE_SSL_REDIRECT; referendum.W008 checks HTTPS_REDIRECT instead.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "security.W008"]
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Done by referendum.middleware.HttpsRedirectMiddleware, which exempts ONION_HOSTS.
    HTTPS_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Probes and the scraper talk to gunicorn directly (plain HTTP inside the host or network).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# Everything from our own host; no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Request bodies larger than this are refused with 413 before anything parses them.
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", 16 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# Rate limits (referendum/limits.py, docs/security.md): keyed on what is attempted; the address
# only as a backstop, and only from a header our own proxy writes.
RATELIMIT_VIEW = "referendum.views.ratelimited"
# Redis down: every limit is open, voting goes on (the proxy's per-address limit still applies).
RATELIMIT_FAIL_OPEN = True
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
# Behind a reverse proxy every request comes from the proxy: the backstop reads the client address
# from a header only our proxy writes (e.g. HTTP_X_REAL_IP), never a client-supplied
# X-Forwarded-For. Unset: no per-address limit at all.
RATELIMIT_IP_META_KEY = os.environ.get("RATELIMIT_IP_META_KEY") or None
RATELIMIT_PER_ADDRESS = os.environ.get("RATELIMIT_PER_ADDRESS", "300/m")
CAST_RATE_PER_CODE = os.environ.get("CAST_RATE_PER_CODE", "20/m")
RECEIPT_RATE_PER_TRACKER = os.environ.get("RECEIPT_RATE_PER_TRACKER", "10/m")
RECEIPT_RATE_PER_SESSION = os.environ.get("RECEIPT_RATE_PER_SESSION", "30/m")
CONSOLE_LOGIN_SESSION_RATE = os.environ.get("CONSOLE_LOGIN_SESSION_RATE", "30/m")
CONSOLE_TOTP_RATE = os.environ.get("CONSOLE_TOTP_RATE", "10/m")
# Requests per e-mail address (its keyed hash, never the address) for one poll: enough to ask again
# after a lost mail, too few to flood someone's mailbox with "already sent" notices.
EMAIL_RATE_PER_ADDRESS = os.environ.get("EMAIL_RATE_PER_ADDRESS", "3/h")
EMAIL_RATE_PER_DOMAIN = os.environ.get("EMAIL_RATE_PER_DOMAIN", "300/h")
EMAIL_RATE_PER_LARGE_DOMAIN = os.environ.get("EMAIL_RATE_PER_LARGE_DOMAIN", "20000/h")

# Logging: no IP address, user agent, code or tracker is ever written (see tests/test_privacy.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"level": "WARNING"},
        # A worker's "Task … received" / "… succeeded in 0.2s" lines time each task: for the
        # e-mail code they would undo its random delay and link a registration to a code.
        # Failures are still logged (WARNING and above).
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}

# --- Hardening against one determined client (issue 19; docs/security.md) ---

# E-mail registration past its domain's budget (EMAIL_RATE_PER_DOMAIN, EMAIL_RATE_PER_LARGE_DOMAIN)
# is never refused: its mail waits this many seconds longer and referendum_over_budget_total
# counts it, so an operator can deny the domain before its codes go out. Below the broker's
# visibility timeout (an hour), past which Redis would deliver a waiting task twice.
EMAIL_BUSY_DOMAIN_DELAY_SECONDS = int(os.environ.get("EMAIL_BUSY_DOMAIN_DELAY_SECONDS", 600))
if not 0 <= EMAIL_BUSY_DOMAIN_DELAY_SECONDS <= 1800:
    raise ImproperlyConfigured("EMAIL_BUSY_DOMAIN_DELAY_SECONDS must be between 0 and 1800.")

# Console sign-in: expensive work behind cheap gates, and no lock-out by name (docs/security.md).
# PBKDF2-SHA256 iterations of organizer passwords: each sign-in attempt costs this much CPU.
PASSWORD_HASH_ITERATIONS = int(os.environ.get("PASSWORD_HASH_ITERATIONS", 1_000_000))
if not DEBUG and PASSWORD_HASH_ITERATIONS < 100_000:
    raise ImproperlyConfigured("PASSWORD_HASH_ITERATIONS below 100,000 makes stolen password hashes cheap to crack.")
PASSWORD_HASHERS = [
    "referendum.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Sign-in POSTs from unknown devices that may hash a password, per node (all its workers), and
# hashes at once per worker process; beyond either the answer is 429 at once.
# Development signs in its demo accounts one after another (make run, its tests): 10 a second there.
PASSWORD_HASH_NODE_RATE = os.environ.get("PASSWORD_HASH_NODE_RATE", "10/s" if DEBUG else "1/s")
PASSWORD_HASH_CONCURRENCY = int(os.environ.get("PASSWORD_HASH_CONCURRENCY", 1))
if PASSWORD_HASH_CONCURRENCY < 1:
    raise ImproperlyConfigured("PASSWORD_HASH_CONCURRENCY must be at least 1.")
# A browser that signed in before keeps its own sign-in budget for that account (device cookie).
CONSOLE_LOGIN_DEVICE_RATE = os.environ.get("CONSOLE_LOGIN_DEVICE_RATE", "10/m")
CONSOLE_DEVICE_COOKIE_DAYS = int(os.environ.get("CONSOLE_DEVICE_COOKIE_DAYS", 30))

# Every response carries the promised headers, also those that leave before the middleware that
# sets them (413, a foreign Host's 400, static files, the API's 405): second, after the metrics.
MIDDLEWARE.insert(MIDDLEWARE.index("referendum.metrics.ResponseMetricsMiddleware") + 1,
                  "referendum.middleware.SecurityHeadersMiddleware")
# The language cookie, like every other cookie: Secure in production, never read by script.
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
