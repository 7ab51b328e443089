"""Which statement timeout this process's database connections use: web requests a short one
(STATEMENT_TIMEOUT_MS), Celery workers and manage.py commands WORKER_STATEMENT_TIMEOUT_MS."""

from django.conf import settings
from django.db import connections


def use_statement_timeout(milliseconds):
    """Connections opened from now on cancel any statement running longer than `milliseconds`
    (0: never). Open connections are closed, so none keeps the old value."""
    for alias in settings.DATABASES:
        database = settings.DATABASES[alias]
        if database["ENGINE"] == "django.db.backends.postgresql":
            database.setdefault("OPTIONS", {})["options"] = f"-c statement_timeout={int(milliseconds)}"
    connections.close_all()


def use_worker_statement_timeout():
    use_statement_timeout(settings.WORKER_STATEMENT_TIMEOUT_MS)
