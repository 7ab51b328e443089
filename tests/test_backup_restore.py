"""Backups that restore and still verify: a restore drill through `make backup` and `make restore`.

Ballots are cast through the real service and published by the periodic sealing task; the backup
is an age-encrypted pg_dump; it is restored into a fresh database, exported from there and checked
with the standalone verifier: same head hash, same counts, byte-identical exports."""

import base64
import os
import secrets
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from ballots.models import InboxBallot
from tallying import signing
from tallying.models import LedgerEntry, PollHead
from tallying.tasks import seal_open_polls
from tallying.verify import verify_export
from tests.factories import make_poll, make_region
from tests.sealing import cast_many
from tests.workers import ROOT, child_env


def keypair(path):
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()


def make(*args, **env):
    """`make` as an operator runs it: the app role's DATABASE_URL, and the superuser for a restore
    (the app role may not create databases)."""
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT,
                          env=child_env(DATABASE_ADMIN_URL=server_url("postgres"), **env),
                          capture_output=True, text=True, timeout=600)


def server_url(name):
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"


def database_exists(name):
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@pytest.fixture
def restore_name():
    """A fresh database name (<test db without test_>_restore_<random>), dropped afterwards."""
    name = f"{connection.settings_dict['NAME'].removeprefix('test_')}_restore_{secrets.token_hex(4)}"
    yield name
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def export(database, folder):
    result = subprocess.run([sys.executable, "manage.py", "export_polls", str(folder)], cwd=ROOT,
                            env=dict(child_env(), DATABASE_URL=server_url(database)), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    verified = subprocess.run([sys.executable, "-m", "tallying.verify", str(folder), "--public-key",
                               signing.public_key_hex()], cwd=ROOT, capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin"})
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("OK ") == 2
    return {path.name: verify_export(str(path), signing.public_key_hex(), out=lambda *_: None)
            for path in sorted(folder.glob("poll-*.jsonl"))}


@pytest.fixture
def published_polls():
    siberia, urals = make_poll(), make_poll(region=make_region("urals", "Urals", "Урал"))
    cast_many(siberia, 120)
    cast_many(urals, 45, option_index=1)
    seal_open_polls()  # the periodic task: publishes both polls
    cast_many(siberia, 30, option_index=0)
    seal_open_polls()  # a second publication of siberia
    cast_many(siberia, 4)  # and a few that wait, unpublished, at backup time
    return siberia, urals


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_restore_drill_backup_restores_and_the_export_verifies_with_the_same_head(
    tmp_path, published_polls, restore_name
):
    siberia, urals = published_polls
    before = export(connection.settings_dict["NAME"], tmp_path / "before")
    heads = {p: bytes(h).hex() for p, h in PollHead.objects.values_list("poll_id", "head_hash")}
    assert before[f"poll-{siberia.id}.jsonl"]["head"] == heads[siberia.id]
    assert before[f"poll-{siberia.id}.jsonl"]["entries"] == 150 and before[f"poll-{urals.id}.jsonl"]["entries"] == 45

    recipient = keypair(tmp_path / "identity.txt")
    backup_dir = tmp_path / "backups"
    made = make("backup", BACKUP_DIR=str(backup_dir), BACKUP_AGE_RECIPIENTS=recipient)
    assert made.returncode == 0, made.stdout + made.stderr
    [backup] = backup_dir.glob("referendum-*.dump.age")
    assert str(backup) in made.stdout
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    content = backup.read_bytes()
    assert content.startswith(b"age-encryption.org/v1\n")
    tracker_hashes = [bytes(h) for h in LedgerEntry.objects.values_list("tracker_hash", flat=True)[:25]]
    sealed = [bytes(b) for b in InboxBallot.objects.values_list("sealed", flat=True)[:25]]
    assert len(tracker_hashes) + len(sealed) == 29
    for secret in [b"PGDMP", siberia.question_en.encode(), "Сибирь".encode(), *tracker_hashes, *sealed]:
        assert secret not in content  # nothing of the database in clear

    restored = make("restore", f"FILE={backup}", f"DB={restore_name}",
                    BACKUP_AGE_IDENTITY=str(tmp_path / "identity.txt"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert restore_name in restored.stdout
    after = export(restore_name, tmp_path / "after")

    assert after == before  # same head hash, entries, snapshots and recount for every poll
    for name in before:
        assert (tmp_path / "after" / name).read_bytes() == (tmp_path / "before" / name).read_bytes()
    with psycopg.connect(server_url(restore_name)) as conn:
        waiting = conn.execute("SELECT count(*) FROM ballots_inboxballot").fetchone()[0]
    assert waiting == 4  # the ballots not yet published are in the backup too, still waiting


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_damaged_backup_or_the_wrong_key_restores_nothing(tmp_path, restore_name):
    make_poll()
    recipient = keypair(tmp_path / "identity.txt")
    keypair(tmp_path / "other.txt")
    made = make("backup", BACKUP_DIR=str(tmp_path), BACKUP_AGE_RECIPIENTS=recipient)
    assert made.returncode == 0, made.stderr
    [backup] = tmp_path.glob("*.dump.age")

    wrong = make("restore", f"FILE={backup}", f"DB={restore_name}", BACKUP_AGE_IDENTITY=str(tmp_path / "other.txt"))
    assert wrong.returncode != 0 and "Restore failed, nothing kept" in wrong.stderr
    assert "no identity matched" in wrong.stderr
    assert not database_exists(restore_name)

    damaged = tmp_path / "damaged.dump.age"
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    broken = make("restore", f"FILE={damaged}", f"DB={restore_name}", BACKUP_AGE_IDENTITY=str(tmp_path / "identity.txt"))
    assert broken.returncode != 0 and "Restore failed, nothing kept" in broken.stderr
    assert not database_exists(restore_name)

    missing = make("restore")
    assert missing.returncode == 2 and "usage: make restore FILE=" in missing.stderr


def test_production_refuses_to_back_up_without_a_recipient(tmp_path):
    env = {
        "PATH": os.environ["PATH"], "DEBUG": "0", "ALLOWED_HOSTS": "vote.example.org",
        "SECRET_KEY": secrets.token_urlsafe(48), "CREDENTIAL_PEPPER": secrets.token_urlsafe(48),
        "SNAPSHOT_SIGNING_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/referendum"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"), "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run([sys.executable, "-m", "referendum.backup", "create"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "BACKUP_AGE_RECIPIENTS is not set" in result.stderr
    assert not list(tmp_path.rglob("*.dump.age*"))
