import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")

app = Celery("referendum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _worker_statement_timeout(**kwargs):
    """Sealing a large backlog must never be cancelled by the web requests' statement timeout."""
    from referendum.database import use_worker_statement_timeout

    use_worker_statement_timeout()
