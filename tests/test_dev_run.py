"""`make run`'s own behaviour: it refuses a port that is taken with a clear message (instead of
saying "running" and stopping), and its log does not repeat beat's periodic tick."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from referendum import dev

ROOT = Path(__file__).resolve().parent.parent


def test_a_taken_port_is_refused_clearly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "referendum.dev", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PORT=str(port)),
        )
    assert result.returncode == 1
    assert f"port {port} is already taken" in result.stderr and f"PORT={port + 1}" in result.stderr
    assert "running at" not in result.stdout


def test_periodic_ticks_are_quiet_and_publications_are_not():
    tick = "[2026-12-04 10:00:02,001: INFO/MainProcess] "
    assert dev.quiet(tick + "Scheduler: Sending due task seal-open-polls (tallying.seal_open_polls)")
    assert dev.quiet(tick + "Task tallying.seal_open_polls[0b1c-22] received")
    assert dev.quiet(tick + "Task tallying.seal_open_polls[0b1c-22] succeeded in 0.0123s: {}")
    assert dev.quiet(tick + "Task tallying.seal_open_polls[0b1c-22] succeeded in 0.0123s: {1: 0, 4: 0}\n")
    assert not dev.quiet(tick + "Task tallying.seal_open_polls[0b1c-22] succeeded in 0.2s: {1: 0, 4: 100}")
    assert not dev.quiet(tick + "Task tallying.seal_poll[9f] succeeded in 0.2s: 5")
    assert not dev.quiet("[2026-12-04 10:00:00] [INFO] Listening at: http://127.0.0.1:8000")
