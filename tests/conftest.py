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
