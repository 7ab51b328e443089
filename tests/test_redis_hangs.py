"""A Redis that accepts connections and never answers (the simplest partition): a production node
(gunicorn, DEBUG=0) still casts from PostgreSQL alone in well under a second, serves /results/
within about a second, and reports itself not ready (503) just as fast, instead of being slow and
"healthy" (referendum/redis_breaker.py)."""

import json
import socket
import threading
import time

import pytest

from tests.factories import make_codes, make_poll
from tests.live import fetch, production_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class SilentRedis:
    """Accepts every connection and reads whatever is sent; never writes a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn):
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_node_whose_redis_hangs_casts_fast_and_reports_not_ready(tmp_path):
    poll = make_poll()
    codes = make_codes(poll, 6)
    silent = SilentRedis()
    try:
        with production_server(tmp_path, REDIS_URL=f"redis://127.0.0.1:{silent.port}/0",
                               RATELIMIT_IP_META_KEY="") as (base, _log):
            option = poll.options.first().id
            for code in codes[:4]:  # each gunicorn worker meets the hung Redis at least once
                (status, _headers, body), took = timed(lambda code=code: fetch(
                    f"{base}/api/v1/polls/{poll.id}/ballots", headers={"Content-Type": "application/json"},
                    data=json.dumps({"code": code, "option": option}).encode()))
                assert status == 201, body
                assert took < 0.8, f"a cast took {took:.2f} s with Redis hung"
            (status, _headers, body), took = timed(lambda: fetch(f"{base}/results/"))
            assert status == 200 and b"Siberia" in body
            assert took < 1.2, f"/results/ took {took:.2f} s"
            (status, _headers, body), took = timed(lambda: fetch(f"{base}/readyz"))
            assert status == 503, body
            assert json.loads(body)["checks"]["redis"]["ok"] is False
            assert took < 1.2, f"/readyz took {took:.2f} s"
            (status, _headers, _body), took = timed(lambda: fetch(f"{base}/api/v1/polls/{poll.id}/tally"))
            assert status == 200 and took < 1.2
            assert silent.accepted >= 1  # the node did reach the hung Redis: nothing was skipped
        from ballots.models import Credential

        assert Credential.objects.filter(poll=poll, used=True).count() == 4
    finally:
        silent.close()
