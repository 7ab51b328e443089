import pytest
from django.db import connections


@pytest.fixture
def close_thread_connections():
    """Threads get their own database connections; close them so the test database can be dropped."""
    yield
    connections.close_all()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


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
