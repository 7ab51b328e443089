"""Readiness checks, the sealing worker's heartbeat, and the counters the Celery worker keeps.

/healthz says only "this process answers". /readyz (and the `referendum_ready` metric) says whether
the whole system works: PostgreSQL answers, Redis answers, and a sealing run finished within
READINESS_MAX_SEAL_AGE_SECONDS. The worker writes its heartbeat and its counters (sealing runs,
e-mail sent or failed) to Redis: it runs in other processes, often another container, than the web
server that answers /metrics, and without Redis it gets no task anyway. Nothing here is about a
voter: no code, tracker, address, answer or time of a single cast.
"""

import logging
import time
from contextlib import suppress

from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "referendum:ops:sealing-heartbeat"
SEALING_STATS_KEY = "referendum:ops:sealing"
EMAIL_STATS_KEY = "referendum:ops:email"
# Upper bounds of the two sealing histograms (Prometheus adds +Inf).
SEAL_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
SEAL_BALLOTS_BUCKETS = (0, 1, 10, 100, 1_000, 10_000, 100_000)


def redis_client():
    """The cache's Redis connection (its timeouts apply), or None in the embedded mode."""
    if settings.EMBEDDED_TASKS:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


# --- the worker's side ---


def record_sealing_run(seal):
    """Run `seal()` (one periodic sealing run over every poll), then write the heartbeat and add the
    run's duration and ballots to the counters. Returns what `seal()` returned.

    A run that raises writes no heartbeat: readiness then fails once the bound passes. A Redis
    error while writing is logged and swallowed: the ballots are sealed whatever the metrics say.
    """
    started = time.monotonic()
    result = seal()
    duration = time.monotonic() - started
    ballots = sealed_count(result)
    client = redis_client()
    if client is None:
        return result
    try:
        pipe = client.pipeline(transaction=False)
        pipe.set(HEARTBEAT_KEY, repr(time.time()))
        _observe(pipe, "duration", duration, SEAL_DURATION_BUCKETS)
        _observe(pipe, "ballots", ballots, SEAL_BALLOTS_BUCKETS)
        pipe.execute()
    except Exception as error:  # noqa: BLE001 — metrics must never fail the sealing task
        log.warning("Could not record the sealing heartbeat: %s.", type(error).__name__)
    return result


def sealed_count(result):
    """Ballots sealed by one run: seal_all_polls returns {poll id: ballots sealed}."""
    if isinstance(result, dict):
        return sum(int(v) for v in result.values() if isinstance(v, int | float))
    return int(result or 0)


def _observe(pipe, name, value, buckets):
    """A cumulative Prometheus histogram as fields of one Redis hash."""
    for bound in buckets:
        if value <= bound:
            pipe.hincrby(SEALING_STATS_KEY, f"{name}_le_{bound}", 1)
    pipe.hincrby(SEALING_STATS_KEY, f"{name}_count", 1)
    pipe.hincrbyfloat(SEALING_STATS_KEY, f"{name}_sum", value)


def count_email(outcome):
    """One registration mail `sent` or `failed` (counted, nothing else: no address, no code)."""
    client = redis_client()
    if client is None:
        return
    try:
        client.hincrby(EMAIL_STATS_KEY, outcome, 1)
    except Exception as error:  # noqa: BLE001 — a lost count must not lose the mail
        log.warning("Could not count a registration mail: %s.", type(error).__name__)


MIRROR_STATS_KEY = "referendum:ops:mirror"


def record_mirror_push(target, ok, newest_statement=None):
    """One push of the mirror bundle to `target` (a name from MIRROR_TARGETS): its outcome, time
    and, on success, the time of the newest statement the target now holds (tallying/mirrors.py).
    Never raises: a lost count must not fail the push."""
    client = redis_client()
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)
        if ok:
            pipe.hset(MIRROR_STATS_KEY, f"{target}:last_success", repr(time.time()))
            if newest_statement:
                from datetime import datetime

                pipe.hset(MIRROR_STATS_KEY, f"{target}:newest_statement",
                          repr(datetime.fromisoformat(newest_statement).timestamp()))
        else:
            pipe.hincrby(MIRROR_STATS_KEY, f"{target}:failures", 1)
            pipe.hset(MIRROR_STATS_KEY, f"{target}:last_failure", repr(time.time()))
        pipe.execute()
    except Exception as error:  # noqa: BLE001
        log.warning("Could not record a mirror push: %s.", type(error).__name__)


def mirror_stats(client):
    """{target: {"failures", "last_success", "last_failure", "newest_statement"}} as numbers."""
    stats = {}
    for key, value in client.hgetall(MIRROR_STATS_KEY).items():
        target, _, field = key.decode().rpartition(":")
        stats.setdefault(target, {})[field] = float(value)
    return stats


# --- reading it back (web side) ---


def sealing_stats(client):
    """{field: number} of the sealing counters; empty before the first run."""
    return {k.decode(): float(v) for k, v in client.hgetall(SEALING_STATS_KEY).items()}


def email_stats(client):
    return {k.decode(): float(v) for k, v in client.hgetall(EMAIL_STATS_KEY).items()}


def heartbeat_age(client, now=None):
    """Seconds since the last sealing run finished, or None if no run was recorded."""
    value = client.get(HEARTBEAT_KEY)
    if value is None:
        return None
    return max(0.0, (now or time.time()) - float(value))


# --- readiness ---


def check_postgres():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as error:  # noqa: BLE001 — any failure means "not ready"
        with suppress(Exception):
            connection.close()  # a broken connection must not be reused by the next check
        return {"ok": False, "error": f"PostgreSQL does not answer ({type(error).__name__})"}


def check_redis(client):
    if client is None:
        return {"ok": True, "note": "embedded mode: no Redis"}
    try:
        client.ping()
        return {"ok": True}
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": f"Redis does not answer ({type(error).__name__})"}


def check_sealing(client, redis_ok):
    bound = settings.READINESS_MAX_SEAL_AGE_SECONDS
    if client is None:
        return {"ok": True, "note": "embedded mode: sealing runs in-process"}
    if not redis_ok:
        return {"ok": False, "error": "unknown: the heartbeat is kept in Redis, which does not answer"}
    try:
        age = heartbeat_age(client)
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": f"the heartbeat cannot be read ({type(error).__name__})"}
    if age is None:
        return {"ok": False, "error": "no sealing run recorded: are the worker and beat running?",
                "max_age_seconds": bound}
    if age > bound:
        return {"ok": False, "error": f"the last sealing run finished {age:.0f} s ago (more than {bound:g} s): "
                "is the worker or beat stopped?", "age_seconds": round(age, 1), "max_age_seconds": bound}
    return {"ok": True, "age_seconds": round(age, 1), "max_age_seconds": bound}


def readiness():
    """{"ready": bool, "checks": {"postgres": {...}, "redis": {...}, "sealing": {...}}}."""
    checks = {"postgres": check_postgres()}
    try:
        client = redis_client()
    except Exception as error:  # noqa: BLE001 — e.g. a malformed REDIS_URL
        checks["redis"] = {"ok": False, "error": f"Redis cannot be reached ({type(error).__name__})"}
        checks["sealing"] = {"ok": False, "error": "unknown: the heartbeat is kept in Redis"}
    else:
        checks["redis"] = check_redis(client)
        checks["sealing"] = check_sealing(client, checks["redis"]["ok"])
    return {"ready": all(c["ok"] for c in checks.values()), "checks": checks}


def main():
    """`python -m referendum.health`: the /readyz checks without a web server (the worker's
    container healthcheck); prints the JSON and exits 0 when ready, 1 otherwise."""
    import json
    import os
    import sys

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")
    django.setup()
    state = readiness()
    print(json.dumps(state))
    sys.exit(0 if state["ready"] else 1)


if __name__ == "__main__":
    main()
