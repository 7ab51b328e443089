"""Exporting a poll of 1,000,000 ballots streams: the server's memory stays flat."""

import re
import urllib.request

import pytest

from tests.factories import make_poll
from tests.sealing import insert_ballots
from tests.servers import gunicorn

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
    with gunicorn(tmp_path / "server.log", "--timeout", "300") as (base, server):
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
    print(
        f"\nexport of {BALLOTS:,} ballots: {size / 2**20:.0f} MiB streamed in {lines:,} lines; "
        f"worker peak RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after "
        f"(+{(after - before) / 1024:.1f} MiB)"
    )
    assert lines == BALLOTS + 2  # header + entries + end marker (no snapshot: inserted by SQL)
    # Loading the export into memory would take well over its size; streaming adds a few MiB.
    assert after - before < 64 * 1024, f"peak grew by {(after - before) / 1024:.0f} MiB"
    assert size > 200 * 2**20
