import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection


@pytest.mark.django_db
def test_suite_runs_on_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")


def test_cache_is_real_redis():
    from django_redis import get_redis_connection

    assert get_redis_connection("default").ping() is True
    cache.set("stack-probe", "here", 5)
    assert cache.get("stack-probe") == "here"


def test_system_checks_pass():
    # pytest-django does not run system checks; ratelimit's cache checks live there.
    call_command("check", fail_level="WARNING")
