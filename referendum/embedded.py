"""Embedded mode (no Redis, so no Celery worker or beat): ballots are published in-process.

`make run` starts one publisher thread beside the web server when Redis is missing, so a first
look on any machine shows counts moving. Exactly one runs (in the process that supervises the
web server), and on SQLite every transaction takes the write lock at BEGIN (settings), so two
sealing runs never interleave. Never used in production: settings refuse to start without Redis.
"""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger("referendum.embedded")


def publish_once():
    from tallying.services import seal_all_polls

    try:
        return seal_all_polls()
    except Exception:
        log.exception("Publishing failed; trying again in %s s.", settings.SEAL_INTERVAL_SECONDS)
        return {}
    finally:
        close_old_connections()


def start_publisher(interval=None):
    """Publish every `interval` seconds (SEAL_INTERVAL_SECONDS) until the returned event is set."""
    interval = interval or settings.SEAL_INTERVAL_SECONDS
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            publish_once()

    threading.Thread(target=loop, name="embedded-publisher", daemon=True).start()
    log.warning(
        "Embedded mode: ballots are published in-process every %s s once %s ballots wait "
        "(PUBLISH_MIN_BALLOTS; no Celery worker or beat).", interval, settings.PUBLISH_MIN_BALLOTS,
    )
    return stop
