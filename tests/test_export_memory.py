"""Exporting a poll of 1,000,000 ballots streams: the server's memory stays flat."""

import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.factories import make_poll
from tests.sealing import insert_ballots
from tests.test_privacy import free_port
from tests.workers import ROOT, child_env

BALLOTS = 1_000_000


def rss_peak_kib(pid):
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def worker_pid(master_pid):
    children = open(f"/proc/{master_pid}/task/{master_pid}/children").read().split()
    assert len(children) == 1
    return int(children[0])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_export_of_a_million_ballots_keeps_memory_flat(tmp_path):
    poll = make_poll()
    insert_ballots(poll, BALLOTS, sealed=True)
    port = free_port()
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--timeout", "300"],
            cwd=ROOT, env=child_env(WEB_CONCURRENCY="1"), stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        worker = worker_pid(server.pid)
        # A small export first, so the worker's own imports are counted in the baseline.
        small = make_poll(region=poll.region)
        urllib.request.urlopen(base + f"/api/v1/polls/{small.id}/export", timeout=30).read()
        before = rss_peak_kib(worker)
        lines = size = 0
        with urllib.request.urlopen(base + f"/api/v1/polls/{poll.id}/export", timeout=600) as response:
            for line in response:
                lines += 1
                size += len(line)
        after = rss_peak_kib(worker)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"\nexport of {BALLOTS:,} ballots: {size / 2**20:.0f} MiB streamed in {lines:,} lines; "
        f"worker peak RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after "
        f"(+{(after - before) / 1024:.1f} MiB)"
    )
    assert lines == BALLOTS + 2  # header + entries + end marker (no snapshot: inserted by SQL)
    # Loading the export into memory would take well over its size; streaming adds a few MiB.
    assert after - before < 64 * 1024, f"peak grew by {(after - before) / 1024:.0f} MiB"
    assert size > 200 * 2**20
