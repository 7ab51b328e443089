"""A PostgreSQL server of the test's own (initdb on a free port, run as the postgres user), so that
a test can read every file it writes, switch on WAL archiving and read its log, as a seizure would,
without touching the machine's shared server."""

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.servers import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def as_postgres(*command, **kwargs):
    return subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                          capture_output=True, text=True, **kwargs)


class Cluster:
    def __init__(self, base, port):
        self.base, self.port = base, port
        self.data, self.log, self.archive = base / "data", base / "server.log", base / "archive"

    def url(self, user="postgres", database="postgres"):
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database="postgres"):
        return psycopg.connect(self.url(database=database), autocommit=True)

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            as_postgres(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")


def start(cluster, options):
    as_postgres(BIN / "pg_ctl", "-D", cluster.data, "-l", cluster.log, "-o", " ".join(options), "-w", "start")


def server_options(cluster):
    return [f"-p {cluster.port}", "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={cluster.base}",
            "-c log_min_error_statement=error"]


@contextmanager
def standby_of(primary, name="standby1"):
    """A streaming standby of `primary` (pg_basebackup -R) on a port of its own, made the primary's
    synchronous standby: a commit is acknowledged only once the standby holds it."""
    base = Path(tempfile.mkdtemp(prefix="referendum-standby-"))
    shutil.chown(base, "postgres", "postgres")
    os.chmod(base, 0o700)
    standby = Cluster(base, free_port())
    try:
        as_postgres(BIN / "pg_basebackup", "-D", standby.data, "-R", "-X", "stream", "-d",
                    f"host=127.0.0.1 port={primary.port} user=postgres application_name={name}")
        start(standby, server_options(standby))
        with primary.connect() as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
            conn.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 20
            while conn.execute("SELECT count(*) FROM pg_stat_replication WHERE application_name = %s"
                               " AND sync_state = 'sync'", [name]).fetchone()[0] != 1:
                assert time.monotonic() < deadline, standby.log.read_text()
                time.sleep(0.2)
        yield standby
    finally:
        try:
            standby.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


def promote(cluster):
    as_postgres(BIN / "pg_ctl", "-D", cluster.data, "-w", "promote")


def kill(cluster):
    """The machine is lost: PostgreSQL stops at once, with no shutdown checkpoint."""
    as_postgres(BIN / "pg_ctl", "-D", cluster.data, "-m", "immediate", "stop")


@contextmanager
def private_postgres(archive=False):
    base = Path(tempfile.mkdtemp(prefix="referendum-pg-"))
    shutil.chown(base, "postgres", "postgres")
    os.chmod(base, 0o700)
    cluster = Cluster(base, free_port())
    try:
        as_postgres(BIN / "initdb", "-D", cluster.data, "-A", "trust", "-U", "postgres", "--no-sync")
        options = server_options(cluster)
        if archive:
            as_postgres("mkdir", cluster.archive)
            options += ["-c archive_mode=on", f"-c archive_command='cp %p {cluster.archive}/%f'"]
        start(cluster, options)
        deadline = time.monotonic() + 20
        while True:
            try:
                cluster.connect().close()
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, cluster.log.read_text()
                time.sleep(0.2)
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
