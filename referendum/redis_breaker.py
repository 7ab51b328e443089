"""A circuit breaker for this process's Redis connections (the cache, rate limits, readiness).

A Redis that accepts connections and never answers (a network partition, a frozen server) would
otherwise cost every cache operation its full socket timeout: a results page makes a dozen of
them. The first operation that times out (REDIS_TIMEOUT_SECONDS) opens the breaker: for
REDIS_BREAK_SECONDS every connection attempt and command fails at once, as if Redis were down,
which every caller already handles (the cache reads as a miss: IGNORE_EXCEPTIONS; readiness says
"not ready"). Then one operation tries again. So a node whose Redis hangs answers from PostgreSQL
within about one timeout, and reports itself not ready. Nothing about a voter is involved.
"""

import threading
import time

from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

_lock = threading.Lock()
_open_until = 0.0


def break_seconds():
    from django.conf import settings

    return getattr(settings, "REDIS_BREAK_SECONDS", 5.0)


def is_open():
    return time.monotonic() < _open_until


def trip():
    global _open_until
    with _lock:
        _open_until = time.monotonic() + break_seconds()


def reset():
    global _open_until
    with _lock:
        _open_until = 0.0


class BreakerConnection(Connection):
    """redis-py's TCP connection, failing fast while the breaker is open."""

    def _refuse(self):
        if is_open():
            raise RedisConnectionError("Redis did not answer in time recently (circuit breaker open)")

    def connect(self, *args, **kwargs):
        self._refuse()
        try:
            return super().connect(*args, **kwargs)
        except (RedisTimeoutError, TimeoutError):
            trip()
            raise

    def send_packed_command(self, *args, **kwargs):
        self._refuse()
        try:
            return super().send_packed_command(*args, **kwargs)
        except (RedisTimeoutError, TimeoutError):
            trip()
            raise

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        except (RedisTimeoutError, TimeoutError):
            trip()
            raise
