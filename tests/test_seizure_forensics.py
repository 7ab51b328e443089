"""A seizure of the server, as the forensic team did it (issue 17), on a PostgreSQL of the test's own
with WAL archiving on, the production web server (DEBUG off, the app role) and a Redis of its own.

Voters cast ballots for each answer with known codes through the JSON API; one cast hits the
statement timeout (so the server's error log holds its statement). Then, as an examiner would, the
test reads every byte PostgreSQL wrote (the whole data directory: heap and index files of every
table with their live and dead tuples, freed files, pg_wal), the WAL archive, the server's log,
what pg_stat_activity showed during the casts, the web server's log and a dump of Redis:

- live, before any publication: no tracker, no tracker hash and no answer of any ballot appears
  anywhere, and every inbox tuple has one length whatever its answer;
- cold, after the whole vote was published and closed: the publication keys that sealed the
  ballots (captured from the live key store mid-vote, as the worst live attacker would) appear
  nowhere, so the sealed ballots in the WAL archive can no longer be opened by anyone.

The answers are made findable on purpose: the poll's answer ids are random 33-bit numbers, so their
8-byte and decimal forms occur nowhere by chance.
"""

import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from ballots import codes
from tests.live import PROXY_HEADERS, production_server
from tests.private_postgres import private_postgres
from tests.redis_process import private_redis
from tests.workers import ROOT, child_env

pytestmark = [pytest.mark.slow]

BALLOTS_PER_ANSWER = 12
KEY_PREFIX = b"referendum:publication-key:"


def manage(env, *args, stdin=None):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


SETUP = """
import json, random
from django.db import connection
from tests.factories import make_codes, make_poll
with connection.cursor() as cursor:  # answer ids no other number in the files can equal by chance
    cursor.execute("SELECT setval('ballots_option_id_seq', %s)", [random.randrange(2**32, 2**33)])
poll = make_poll()
print(json.dumps({"poll": poll.id, "options": [o.id for o in poll.options.all()],
                  "codes": make_codes(poll, CODES)}))
"""


def migrated_database(cluster, **env):
    """Database `referendum` on the cluster, migrated by its owner, with the app and sealer roles;
    returns the owner's environment for manage.py."""
    with cluster.connect() as admin:
        admin.execute("CREATE ROLE referendum_app LOGIN")
        admin.execute("CREATE ROLE referendum_sealer LOGIN IN ROLE referendum_app")
        admin.execute("CREATE DATABASE referendum")
    owner = child_env(DATABASE_URL=cluster.url(database="referendum"), DATABASE_APP_ROLE="referendum_app", **env)
    manage(owner, "migrate", "--no-input", "-v0")
    return owner


def cast(base, poll, code, option):
    request = urllib.request.Request(
        f"{base}/api/v1/polls/{poll}/ballots", data=json.dumps({"code": code, "option": option}).encode(),
        headers={**PROXY_HEADERS, "Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def read_tree(*roots):
    """Every byte of every file under the roots, as {path: bytes} (what a disk image holds)."""
    files = {}
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                try:
                    files[str(path)] = path.read_bytes()
                except OSError:
                    pass  # a file removed while reading (a WAL segment recycled)
    return files


def redis_dump(url, tmp_path):
    port = url.rsplit(":", 1)[1].split("/")[0]
    target = tmp_path / f"dump-{time.monotonic_ns()}.rdb"
    subprocess.run(["redis-cli", "-p", port, "--rdb", str(target)], check=True, capture_output=True, timeout=60)
    return target.read_bytes()


def found(needles, files):
    """{needle: [paths]} of the needles that occur in any file."""
    hits = {}
    for needle in needles:
        where = [path for path, data in files.items() if needle in data]
        if where:
            hits[needle] = where
    return hits


class ActivitySampler(threading.Thread):
    """Reads pg_stat_activity as fast as it can while the casts run: every statement text seen."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster, self.texts, self.running = cluster, set(), True

    def run(self):
        with self.cluster.connect() as conn:
            while self.running:
                for (text,) in conn.execute("SELECT query FROM pg_stat_activity WHERE datname = 'referendum'"):
                    self.texts.add(text or "")


def test_a_seized_server_names_no_voter(tmp_path):
    with private_postgres(archive=True) as cluster, private_redis(tmp_path) as (redis_url, _restart):
        env = migrated_database(cluster, REDIS_URL=redis_url, PUBLICATION_KEY_STORE_URL=redis_url)
        world = json.loads(manage(env, "shell", "-c", SETUP.replace("CODES", str(3 * BALLOTS_PER_ANSWER))).strip().splitlines()[-1])
        poll, options, voting_codes = world["poll"], world["options"], world["codes"]
        with cluster.connect("referendum") as conn:  # the casts start in a WAL segment of their own
            conn.execute("SELECT pg_switch_wal()")
            casts_from = lsn(conn)

        server_env = {"DATABASE_URL": cluster.url("referendum_app", "referendum"), "REDIS_URL": redis_url,
                      "PUBLICATION_KEY_STORE_URL": redis_url, "STATEMENT_TIMEOUT_MS": "1500"}
        ballots = []  # (code, answer, tracker)
        sampler = ActivitySampler(cluster)
        with production_server(tmp_path, **server_env) as (base, server_log):
            sampler.start()
            plan = [(code, options[i % 2]) for i, code in enumerate(voting_codes[: 2 * BALLOTS_PER_ANSWER])]
            random.shuffle(plan)
            for code, answer in plan:
                status, body = cast(base, poll, code, answer)
                assert status == 201, status
                ballots.append((code, answer, body["tracker"]))
            # A cast that waits for a lock past the statement timeout: the error log gets its statement.
            with cluster.connect("referendum") as blocker:
                blocker.execute("BEGIN")
                blocker.execute("SELECT 1 FROM ballots_poll WHERE id = %s FOR UPDATE", [poll])
                timed_out = voting_codes[-1]
                status, _body = cast(base, poll, timed_out, options[1])
                blocker.execute("ROLLBACK")
            assert status == 503
            sampler.running = False
            sampler.join(10)
            web_log = Path(server_log).read_bytes()

        live_keys = {}  # what a live attacker who reads the key store's memory would hold
        client = redis.Redis.from_url(redis_url)
        for name in client.keys(KEY_PREFIX.decode() + "*"):
            live_keys[name] = client.get(name)

        # --- The live seizure, before any publication ---
        with cluster.connect("referendum") as conn:
            casts_to = lsn(conn)
            conn.execute("CHECKPOINT")  # every page on disk as in memory
            conn.execute("SELECT pg_switch_wal()")
        time.sleep(1)  # the archiver copies the switched segment
        seized = read_tree(cluster.data, cluster.archive)
        seized["server.log"] = cluster.log.read_bytes()
        seized["web.log"] = web_log
        seized["redis.rdb"] = redis_dump(redis_url, tmp_path)
        activity = "\n".join(sampler.texts)

        tracker_hashes = [codes.hash_tracker(codes.normalize_tracker(t)) for _c, _a, t in ballots]
        needles = (
            tracker_hashes + [h.hex().encode() for h in tracker_hashes]
            + [t.encode() for _c, _a, t in ballots] + [codes.normalize_tracker(t).encode() for _c, _a, t in ballots]
        )
        assert not found(needles, seized), "a tracker or its hash is readable in what a cast wrote"

        with cluster.connect("referendum") as conn:
            sealed_rows = [bytes(r[0]) for r in conn.execute("SELECT sealed FROM ballots_inboxballot")]
            conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
            pages = conn.execute("SELECT pg_relation_size('ballots_inboxballot') / 8192").fetchone()[0]
            tuple_lengths = {
                row[0] for page in range(pages)
                for row in conn.execute("SELECT lp_len FROM heap_page_items(get_raw_page('ballots_inboxballot', %s))"
                                        " WHERE lp_len > 0", [page])
            }
        assert len(ballots) == len(sealed_rows) == 2 * BALLOTS_PER_ANSWER
        assert len(tuple_lengths) == 1  # one tuple length whatever the answer
        assert any("ballots_inboxballot" in text for text in sampler.texts)  # the sampler saw casts
        assert b"canceling statement due to statement timeout" in seized["server.log"]
        assert b"STATEMENT:" in seized["server.log"] and b"ballots_inboxballot" in seized["server.log"]
        # The WAL records the casts wrote, exactly (a recycled segment's tail holds older records).
        wal_since_casts = {"wal": wal_between(cluster.data / "pg_wal", casts_from, casts_to)}
        assert wal_since_casts and all(any(s in d for d in wal_since_casts.values()) for s in sealed_rows)

        answers_binary = [o.to_bytes(8, "little") for o in options] + [o.to_bytes(8, "big") for o in options]
        assert not found(answers_binary, wal_since_casts), "an answer id is in the WAL written by casts"
        inbox_file = conn_relation_path(cluster, "ballots_inboxballot")
        assert not found(answers_binary, {inbox_file: seized[inbox_file]})
        answers_text = [str(o).encode() for o in options]
        assert not found(answers_text, {k: seized[k] for k in ("server.log", "web.log", "redis.rdb")})
        code_hashes = [codes.hash_code(codes.normalize_code(c)).hex() for c in voting_codes]
        for text in [*map(str, options), *code_hashes, *(h.hex() for h in tracker_hashes)]:
            assert text not in activity  # server-side binding: the statement text carries no value
            assert text.encode() not in seized["server.log"]

        assert live_keys, "the key store holds the current period's key while ballots wait"

        # --- The vote goes on to its end: published, closed, the final result ---
        publish = "from tallying.services import seal_all_polls; print(seal_all_polls())"
        manage({**env, "PUBLISH_MIN_BALLOTS": "5", "PUBLISH_HOLD_BACK": "2"}, "shell", "-c", publish)
        manage(env, "shell", "-c", f"from ballots.services import close_poll; close_poll({poll})")
        manage(env, "shell", "-c", publish)
        with cluster.connect("referendum") as conn:
            assert conn.execute("SELECT count(*) FROM tallying_ledgerentry").fetchone()[0] == len(ballots)
            assert conn.execute("SELECT count(*) FROM ballots_inboxballot").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM tallying_snapshot WHERE is_final").fetchone()[0] == 1
            conn.execute("CHECKPOINT")
            conn.execute("SELECT pg_switch_wal()")
        time.sleep(1)
        redis_after = redis_dump(redis_url, tmp_path)
        cluster.stop()  # the cold seizure: the machine switched off and its disks imaged
        cold = read_tree(cluster.data, cluster.archive)
        cold["server.log"] = cluster.log.read_bytes()
        cold["redis.rdb"] = redis_after

        assert found(tracker_hashes, cold)  # published now: the search does find what is there
        assert all(any(s in d for d in cold.values()) for s in sealed_rows)  # the sealed casts are archived
        captured = list(live_keys.values())
        assert not found(captured + [k.hex().encode() for k in captured], cold), (
            "a publication key outlived its period: the archived casts could be opened"
        )
        assert not any(name in redis_after for name in live_keys)


SEGMENT = 16 * 1024 * 1024


def lsn(conn):
    high, low = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0].split("/")
    return (int(high, 16) << 32) | int(low, 16)


def wal_between(pg_wal, start, end):
    """The bytes of the WAL from LSN start to LSN end (timeline 1, 16 MB segments)."""
    data = b""
    for segment in range(start // SEGMENT, end // SEGMENT + 1):
        name = f"{1:08X}{segment >> 8:08X}{segment & 0xFF:08X}"
        raw = (pg_wal / name).read_bytes()
        data += raw[max(start - segment * SEGMENT, 0): min(end - segment * SEGMENT, SEGMENT)]
    return data


def conn_relation_path(cluster, table):
    with cluster.connect("referendum") as conn:
        return str(cluster.data / conn.execute("SELECT pg_relation_filepath(%s)", [table]).fetchone()[0])
