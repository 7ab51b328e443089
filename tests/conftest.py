import psycopg
import pytest
from django.conf import settings
from django.db import connections
from django.utils import translation
from psycopg import sql

# The role the application's own processes (Celery workers, gunicorn) connect as in the tests;
# the test process itself is the harness and keeps the superuser (it creates, flushes and
# inspects the test database). docs/security.md, "Database roles".
APP_ROLE = settings.DATABASE_APP_ROLE or "referendum_app"


def admin_url():
    db = connections["default"].settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


SEALER_ROLE = settings.DATABASE_SEALER_ROLE


def ensure_app_role():
    """The app role and, when the run splits publication off (DATABASE_SEALER_ROLE), the sealer's."""
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        for role in filter(None, (APP_ROLE, SEALER_ROLE)):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                try:
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
                except psycopg.errors.DuplicateObject:
                    pass  # another test run created it at the same moment
        if SEALER_ROLE:  # as python -m referendum.ensure_db does
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(APP_ROLE), sql.Identifier(SEALER_ROLE)))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Before the test database is migrated: the app role exists, and migrate grants it its rights."""
    settings.DATABASE_APP_ROLE = APP_ROLE
    if connections["default"].vendor == "postgresql":
        ensure_app_role()


@pytest.fixture
def close_thread_connections():
    """Threads get their own database connections; close them so the test database can be dropped."""
    yield
    connections.close_all()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from ballots import queries, services
    from referendum import filled_pages, redis_breaker
    from tallying import responses

    redis_breaker.reset()  # a Redis timeout in an earlier test must not leave this one without Redis
    cache.clear()
    services._poll_sealing.clear()  # this process's copy of each poll's current key
    queries._definitions.clear()  # and of each poll's definition
    filled_pages._rendered.clear()  # and of the pages filled in per request
    responses._local.clear()  # the per-process copies of cached responses
    # A request in another language leaves that language active in this thread (LocaleMiddleware
    # activates, nothing deactivates): each test starts in the default one.
    translation.activate(settings.LANGUAGE_CODE)
    yield


@pytest.fixture(autouse=True)
def _no_hashing_gate(settings):
    """Tests sign in several times a second; the node's hashing budget (PASSWORD_HASH_NODE_RATE,
    one a second by default) is tested where it is the subject (tests/test_signin_flood.py)."""
    settings.PASSWORD_HASH_NODE_RATE = None


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_sessions(django_db_setup, django_db_blocker):
    """Server threads (live_server) may keep connections open; end them so the test database
    can be dropped at the end of the run."""
    yield
    if not connections["default"].settings_dict["NAME"].startswith("test_"):
        return  # no test of this run used the database
    with django_db_blocker.unblock():
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connections.close_all()


@pytest.fixture
def fast_password_hashing(settings):
    """For tests that sign in many times: what they check does not depend on the hasher's cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
