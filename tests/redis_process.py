"""A Redis server of the test's own, as a process it can kill: without persistence, as the
publication key store must run (docs/deployment.md)."""

import shutil
import subprocess
import time
from contextlib import contextmanager

import redis

from tests.servers import free_port


def start_redis(port, workdir):
    process = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


@contextmanager
def private_redis(workdir):
    """Yield (url, restart) where restart(kill=True) SIGKILLs the server and starts an empty one
    on the same port."""
    port = free_port()
    state = {"process": start_redis(port, workdir)}

    def restart():
        state["process"].kill()
        state["process"].wait(10)
        state["process"] = start_redis(port, workdir)

    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        state["process"].kill()
        state["process"].wait(10)
