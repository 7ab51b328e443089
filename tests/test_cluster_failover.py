"""Several machines failing separately (issue 18): two web nodes behind nginx, two Celery workers and
one beat, a primary PostgreSQL with a synchronous streaming standby, production settings on the web.

Under a bounded cast load the test kills a web node, freezes a worker (SIGSTOP) while it seals,
then kills the primary (immediate stop, no checkpoint) and promotes the standby; the nodes and
workers find the new primary by themselves (DATABASE_URL names both hosts). Afterwards: every
ballot acknowledged to a client (201 with its tracker) is in the ledger exactly once, no code is
used without its ballot, and the export verifies with the observers' verifier."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import psycopg
import pytest

from ballots import codes
from tests.balancer import nginx_balancer
from tests.exports import verify
from tests.live import PROXY_HEADERS, production_env
from tests.private_postgres import kill, private_postgres, promote, standby_of
from tests.redis_process import private_redis
from tests.servers import free_port
from tests.workers import ROOT, child_env, stop_process_group

pytestmark = [pytest.mark.slow]

CODES = 600
K, HOLD = 20, 10

SETUP = """
import json
from tests.factories import make_codes, make_poll
poll = make_poll()
print(json.dumps({"poll": poll.id, "options": [o.id for o in poll.options.all()], "codes": make_codes(poll, CODES)}))
"""


def manage(env, *args):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def web_node(tmp_path, name, env):
    port = free_port()
    log = open(tmp_path / f"{name}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "referendum.wsgi", "-c", "referendum/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=production_env(tmp_path / name, **env), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp_path / f"{name}.log").read_text()
        try:
            urllib.request.urlopen(urllib.request.Request(base + "/healthz", headers=PROXY_HEADERS), timeout=2)
            return process, base
        except OSError:
            assert time.monotonic() < deadline, (tmp_path / f"{name}.log").read_text()
            time.sleep(0.3)


def celery(tmp_path, name, env, *args):
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "referendum", *args], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


class Voters(threading.Thread):
    """Casts codes one after another through the balancer; keeps what was acknowledged."""

    def __init__(self, base, poll, options, voting_codes):
        super().__init__(daemon=True)
        self.base, self.poll, self.options, self.codes = base, poll, options, voting_codes
        self.acknowledged, self.refused, self.stop = [], [], threading.Event()

    def run(self):
        for i, code in enumerate(self.codes):
            if self.stop.is_set():
                return
            body = json.dumps({"code": code, "option": self.options[i % 2]}).encode()
            request = urllib.request.Request(f"{self.base}/api/v1/polls/{self.poll}/ballots", data=body, method="POST",
                                             headers={**PROXY_HEADERS, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    if response.status == 201:
                        self.acknowledged.append((code, json.loads(response.read())["tracker"]))
            except (urllib.error.HTTPError, OSError) as error:
                self.refused.append(getattr(error, "code", type(error).__name__))
            time.sleep(0.01)


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.2)


def test_a_cluster_loses_a_node_a_worker_and_its_primary_and_no_acknowledged_ballot(tmp_path):
    with ExitStack() as stack:
        primary = stack.enter_context(private_postgres())
        with primary.connect() as admin:
            admin.execute("CREATE ROLE referendum_app LOGIN")
            admin.execute("CREATE ROLE referendum_sealer LOGIN IN ROLE referendum_app")
            admin.execute("CREATE DATABASE referendum")
        standby = stack.enter_context(standby_of(primary))
        redis_url, _restart = stack.enter_context(private_redis(tmp_path))
        hosts = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
        common = {"REDIS_URL": redis_url, "PUBLICATION_KEY_STORE_URL": redis_url,
                  "DATABASE_APP_ROLE": "referendum_app", "DATABASE_SEALER_ROLE": "referendum_sealer"}
        owner_env = child_env(DATABASE_URL=f"postgres://postgres@{hosts}/referendum", **common)
        manage(owner_env, "migrate", "--no-input", "-v0")
        world = json.loads(manage(owner_env, "shell", "-c", SETUP.replace("CODES", str(CODES))).strip().splitlines()[-1])

        web_env = {"DATABASE_URL": f"postgres://referendum_app@{hosts}/referendum", **common,
                   "STATEMENT_TIMEOUT_MS": "3000", "WEB_CONCURRENCY": "2"}
        nodes = [web_node(tmp_path, f"web{i}", web_env) for i in (1, 2)]
        for process, _base in nodes:
            stack.callback(stop_process_group, process, signal.SIGKILL)
        sealer_env = child_env(DATABASE_URL=f"postgres://referendum_sealer@{hosts}/referendum", **common,
                               PUBLISH_MIN_BALLOTS=str(K), PUBLISH_HOLD_BACK=str(HOLD), SEAL_INTERVAL_SECONDS="1",
                               SEALER_IDLE_TIMEOUT_SECONDS="3")
        workers = [celery(tmp_path, f"worker{i}", sealer_env, "worker", "-P", "solo", "-n", f"w{i}@%h",
                          "--without-mingle", "--without-gossip", "-l", "INFO") for i in (1, 2)]
        beat = celery(tmp_path, "beat", sealer_env, "beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule"))
        for process in (*workers, beat):
            stack.callback(stop_process_group, process, signal.SIGKILL)
        balancer = stack.enter_context(nginx_balancer(tmp_path, [base for _p, base in nodes]))

        voters = Voters(balancer, world["poll"], world["options"], world["codes"])
        voters.start()
        wait_for(lambda: len(voters.acknowledged) >= 60, 120, "the first casts")
        os.killpg(nodes[0][0].pid, signal.SIGKILL)  # a web node dies mid-load
        wait_for(lambda: len(voters.acknowledged) >= 120, 120, "casts through the other node")
        os.killpg(workers[0].pid, signal.SIGSTOP)  # a worker freezes (perhaps mid-publication)
        wait_for(lambda: len(voters.acknowledged) >= 180, 120, "casts with one worker frozen")
        with psycopg.connect(primary.url(database="referendum"), autocommit=True) as conn:
            published_before = conn.execute("SELECT count(*) FROM tallying_ledgerentry").fetchone()[0]
        assert published_before > 0  # the healthy worker went on publishing
        kill(primary)  # the primary's machine is lost
        promote(standby)
        at_failover = len(voters.acknowledged)
        wait_for(lambda: len(voters.acknowledged) >= at_failover + 60, 120, "casts on the promoted standby")
        voters.stop.set()
        voters.join(60)
        os.killpg(workers[0].pid, signal.SIGCONT)
        os.killpg(workers[0].pid, signal.SIGKILL)

        new_owner_env = child_env(DATABASE_URL=f"postgres://postgres@127.0.0.1:{standby.port}/referendum", **common)
        manage(new_owner_env, "shell", "-c", f"from ballots.services import close_poll; close_poll({world['poll']})")
        with psycopg.connect(standby.url(database="referendum"), autocommit=True) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM tallying_snapshot WHERE is_final").fetchone()[0] == 1,
                     120, "the final result, published by the remaining worker")
            ledger = [bytes(h) for (h,) in conn.execute("SELECT tracker_hash FROM tallying_ledgerentry")]
            used = conn.execute("SELECT count(*) FROM ballots_credential WHERE used").fetchone()[0]
            waiting = conn.execute("SELECT count(*) FROM ballots_inboxballot").fetchone()[0]
        export = urllib.request.urlopen(
            urllib.request.Request(f"{balancer}/api/v1/polls/{world['poll']}/export", headers=PROXY_HEADERS), timeout=60
        ).read()

    acknowledged = [codes.hash_tracker(codes.normalize_tracker(t)) for _c, t in voters.acknowledged]
    assert len(set(ledger)) == len(ledger)  # nothing counted twice
    missing = set(acknowledged) - set(ledger)
    assert not missing, f"{len(missing)} acknowledged ballots lost"
    assert waiting == 0 and used == len(ledger)  # no code used without its ballot, nothing left behind
    (tmp_path / "export.ndjson").write_bytes(export)
    status, output = verify(tmp_path / "export.ndjson")
    assert status == 0, output
    print(f"\n{len(acknowledged)} acknowledged, {len(ledger)} in the ledger, {len(voters.refused)} refused"
          f" during the faults ({sorted(set(map(str, voters.refused)))})")
