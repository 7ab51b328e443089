"""The watcher against the real app (gunicorn with the production configuration, a Celery worker
and beat publishing): it stays quiet while ballots are cast and published and keeps every
statement; a history rewritten and re-signed with the server's own key raises the alarm, and so
does a total above the codes issued."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from django.db import connection, transaction

from tallying import signing
from tallying.models import PollHead, Snapshot
from tallying.services import SEAL_LOCK_NAMESPACE
from tests.exports import OBSERVER_ENV, rewrite_history, run_module
from tests.factories import make_codes, make_poll
from tests.sealing import insert_sealed
from tests.servers import gunicorn
from tests.workers import ROOT, celery_process

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def cast_over_http(base, poll, codes, answer_of=lambda i: i % 2):
    options = list(poll.options.values_list("id", flat=True))
    for i, code in enumerate(codes):
        request = urllib.request.Request(
            f"{base}/api/v1/polls/{poll.id}/ballots", method="POST",
            data=json.dumps({"code": code, "option": options[answer_of(i)]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201


def wait_for_position(poll, position, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        head = PollHead.objects.filter(poll=poll).first()
        if head and head.position >= position:
            return head.position
        time.sleep(0.3)
    raise AssertionError(f"poll {poll.id} did not reach position {position}")


def watch_once(base, poll, directory):
    return run_module("tallying.watch", f"{base}/api/v1/polls/{poll.id}", "--dir", directory,
                      "--public-key", signing.public_key_hex())


@pytest.fixture
def app(tmp_path):
    with gunicorn(tmp_path / "gunicorn.log") as (base, _server), \
         celery_process("worker", "-P", "solo", "--without-mingle", "--without-gossip",
                        log_path=tmp_path / "worker.log"), \
         celery_process("beat", "--schedule", str(tmp_path / "beat-schedule"), log_path=tmp_path / "beat.log",
                        SEAL_INTERVAL_SECONDS="1"):
        yield base


def test_watcher_quiet_while_publishing_then_alarms_on_a_rewritten_history(app, tmp_path):
    poll = make_poll()
    codes = make_codes(poll, 60)
    watch_dir = tmp_path / "observer"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tallying.watch", f"{app}/api/v1/polls/{poll.id}", "--dir", str(watch_dir),
         "--every", "0.5", "--public-key", signing.public_key_hex()],
        cwd=ROOT, env=OBSERVER_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        for start in range(0, 40, 8):  # casts arrive in bursts; the worker publishes between them
            cast_over_http(app, poll, codes[start:start + 8])
            time.sleep(1.2)
        wait_for_position(poll, 40)
        time.sleep(2)  # let the watcher take the last publication
        assert watcher.poll() is None, watcher.communicate()  # still watching: no alarm
    finally:
        os.killpg(watcher.pid, signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    assert out == "" and err == "", (out, err)  # quiet
    kept = sorted((watch_dir / "statements").glob("statement-*.json"))
    published = Snapshot.objects.filter(poll=poll).count()
    assert len(kept) == published >= 2
    state = json.loads((watch_dir / "watch.json").read_text())
    assert state["position"] == 40 and state["statements"] == published

    # Nothing new: a run fetches nothing and says nothing.
    assert watch_once(app, poll, watch_dir) == (0, "")

    # The operator rewrites the history (entry 17 gets the other answer, everything after it is
    # chained and re-signed with the real key), under the sealing lock, then voting goes on.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SEAL_LOCK_NAMESPACE, poll.id])
        rewrite_history(poll, 17)
    cast_over_http(app, poll, codes[40:50])
    wait_for_position(poll, 50)
    code, output = watch_once(app, poll, watch_dir)
    assert code == 1, output
    assert "ALARM" in output and "fork at position 41" in output and "the history was rewritten" in output, output
    # The alarm stays until the observer deals with it.
    code, again = watch_once(app, poll, watch_dir)
    assert code == 1 and "repeated" in again
    # What the observer kept proves it: the server's new export does not extend the kept statements.
    export = tmp_path / "now.jsonl"
    export.write_bytes(urllib.request.urlopen(f"{app}/api/v1/polls/{poll.id}/export", timeout=30).read())
    code, output = run_module("tallying.verify", export, "--public-key", signing.public_key_hex(),
                              "--against", watch_dir)
    assert code == 1 and "NEW does not extend OLD" in output, output


def test_watcher_alarms_on_a_total_above_the_codes_issued(app, tmp_path):
    poll = make_poll()
    codes = make_codes(poll, 3)
    watch_dir = tmp_path / "observer"
    cast_over_http(app, poll, codes)
    wait_for_position(poll, 3)
    code, output = watch_once(app, poll, watch_dir)
    assert (code, output) == (0, ""), output
    # Ballots with no code, put straight into the inbox by someone with the database.
    insert_sealed(poll, [poll.options.first().id] * 4)
    wait_for_position(poll, 7)
    code, output = watch_once(app, poll, watch_dir)
    assert code == 1, output
    assert "ALARM" in output and "its total 7 exceeds the 3 codes issued for the poll" in output, output
