"""A seizure after e-mail registrations (issue 18): on a PostgreSQL of the test's own with WAL
archiving, voters register as the web role would and a worker sends their codes. Every byte
PostgreSQL wrote (data directory with live and dead tuples, pg_wal, the WAL archive, its log) and a
pg_dump hold no address and no local part, before the mails are sent (the pending rows live) and
after (claimed: deleted). The pending rows are there, and open only with the offline identity."""

import json
import subprocess
import time

import pytest

from ballots import keys, registration, sealed
from tests.private_postgres import BIN, private_postgres
from tests.redis_process import private_redis
from tests.test_seizure_forensics import manage, migrated_database, read_tree
from tests.workers import celery_process

pytestmark = [pytest.mark.slow]

ADDRESSES = ["Zvezda.Kvokka+ref@Example.org", "quillwort.anemone@example.net", "ptarmigan-17@example.com"]
SETUP = """
import json
from ballots.services import set_email_registration
from tests.factories import make_poll
poll = make_poll()
set_email_registration(poll.id, True)
print(json.dumps({"poll": poll.id}))
"""
ASK = """
from ballots.models import Poll
from ballots.registration import request_code
poll = Poll.objects.get(pk=POLL)
for address in ADDRESSES:
    request_code(poll, address, f"https://vote.example/polls/{poll.id}/")
request_code(poll, ADDRESSES[0].upper(), f"https://vote.example/polls/{poll.id}/")  # "already sent"
"""


def needles():
    found = set()
    for address in ADDRESSES:
        local = address.split("@")[0]
        for text in (address, address.lower(), local, local.lower(), local.split("+")[0].lower()):
            found |= {text.encode(), text.encode("utf-16-le")}
    return found


def seize(cluster, tmp_path, name):
    with cluster.connect("referendum") as conn:
        conn.execute("CHECKPOINT")
        conn.execute("SELECT pg_switch_wal()")
    time.sleep(1)  # the archiver copies the switched segment
    files = read_tree(cluster.data, cluster.archive)
    files["server.log"] = cluster.log.read_bytes()
    dump = tmp_path / f"{name}.dump"
    subprocess.run([BIN / "pg_dump", "-d", cluster.url(database="referendum"), "-f", dump], check=True,
                   capture_output=True, timeout=120)
    files["pg_dump"] = dump.read_bytes()
    return files


def assert_no_address(files):
    hits = {n: [p for p, data in files.items() if n in data] for n in needles()}
    assert not {n: p for n, p in hits.items() if p}, "an address or its local part is readable in the seized files"


def test_a_seized_database_lists_no_registrant(tmp_path):
    with private_postgres(archive=True) as cluster, private_redis(tmp_path) as (redis_url, _restart):
        owner = migrated_database(cluster, DATABASE_SEALER_ROLE="referendum_sealer", REDIS_URL=redis_url)
        poll = json.loads(manage(owner, "shell", "-c", SETUP).strip().splitlines()[-1])["poll"]
        web = {**owner, "DATABASE_URL": cluster.url("referendum_app", "referendum"), "EMAIL_CODE_MAX_DELAY_SECONDS": "0"}
        manage(web, "shell", "-c", ASK.replace("POLL", str(poll)).replace("ADDRESSES", repr(ADDRESSES)))

        with cluster.connect("referendum") as conn:
            rows = [bytes(r[0]) for r in conn.execute("SELECT sealed FROM ballots_pendingmail")]
        assert len(rows) == len(ADDRESSES)  # one per first request, none for "already sent"
        identities = sealed.parse_identities(keys.development_recovery_identity()[0])
        opened = {json.loads(sealed.open_recovery_copy(box, identities))["address"] for box in rows}
        assert opened == {a.lower() for a in ADDRESSES}  # what the search looks for is there, sealed
        live = seize(cluster, tmp_path, "live")
        assert_no_address(live)
        assert all(any(box in data for data in live.values()) for box in rows)  # the rows were in the files read

        worker_env = {**owner, "DATABASE_URL": cluster.url("referendum_sealer", "referendum"),
                      "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                      "EMAIL_FILE_PATH": str(tmp_path / "outbox")}
        with celery_process("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO",
                            log_path=tmp_path / "worker.log", **worker_env), cluster.connect("referendum") as conn:
            deadline = time.monotonic() + 60
            while conn.execute("SELECT count(*) FROM ballots_pendingmail").fetchone()[0]:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
                time.sleep(0.2)
            assert conn.execute("SELECT count(*) FROM ballots_credential").fetchone()[0] == len(ADDRESSES)
        after = seize(cluster, tmp_path, "after")
        assert_no_address(after)
        # The search reads where registrations were written: each address's keyed hash is there.
        for address in ADDRESSES:
            digest = registration.address_hash(poll, registration.normalize_address(address))
            assert any(digest in data for path, data in after.items() if "pg_wal" in path or "archive" in path)
            assert digest.hex().encode() in after["pg_dump"]
