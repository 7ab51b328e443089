"""Gunicorn server hooks for prometheus-client's multiprocess mode (see referendum/metrics.py).

referendum/gunicorn.conf.py imports them. They run in the gunicorn master, before any worker is
forked: PROMETHEUS_MULTIPROC_DIR must be set there, so that every worker imports prometheus-client
with it set, and must not import prometheus-client itself at module level (a worker forked from a
master that had imported it without the variable would count in its own memory only).
"""

import glob
import os
import shutil
import tempfile

_created = []


def on_starting(server):
    """Use PROMETHEUS_MULTIPROC_DIR if set (emptied: counters start at zero with the server), else
    a fresh private directory for this server only, removed when it exits."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="referendum-metrics-")
        _created.append(path)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def child_exit(server, worker):
    """A worker exited: its counters stay (the files are kept), its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for path in _created:
        shutil.rmtree(path, ignore_errors=True)
