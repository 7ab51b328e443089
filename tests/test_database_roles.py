"""The app is not the database owner: it connects as a role that cannot run DDL or TRUNCATE, nor
UPDATE or DELETE the audit log, the ledger or the snapshots, and can still vacuum the inbox
(docs/security.md, "Database roles"; referendum/database_roles.py)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from ballots.keys import ensure_current_key
from referendum.ensure_db import ensure
from tests.factories import make_poll
from tests.workers import app_database_url, sealer_database_url

ROOT = Path(__file__).resolve().parent.parent
APPEND_ONLY = ["ballots_auditentry", "tallying_ledgerentry", "tallying_snapshot"]
INBOX = "ballots_inboxballot"


def refused(conn, statement):
    """True when PostgreSQL refuses the statement for lack of privilege (and nothing changed)."""
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def assert_least_privilege(app_url):
    with psycopg.connect(app_url, autocommit=True) as app:
        user, superuser = app.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert user == settings.DATABASE_APP_ROLE and not superuser
        for table in APPEND_ONLY:
            assert refused(app, f"TRUNCATE {table}"), table
            assert refused(app, f"UPDATE {table} SET id = id"), table
            assert refused(app, f"DELETE FROM {table}"), table
            assert refused(app, f"ALTER TABLE {table} DISABLE TRIGGER ALL"), table
            assert refused(app, f"DROP TABLE {table}"), table
            app.execute(f"SELECT count(*) FROM {table}")  # reading stays possible
        assert refused(app, "CREATE TABLE app_made (id int)")
        assert refused(app, "DROP TRIGGER ballots_auditentry_no_update ON ballots_auditentry")
        assert refused(app, "TRUNCATE ballots_credential")
        assert refused(app, "ALTER TABLE ballots_credential ADD COLUMN voter text")
        assert refused(app, "CREATE SCHEMA app_schema")
        # What the app does need: rows in, rows changed where that is its job (rolled back: the
        # audit log keeps whatever is committed, and other tests expect it empty).
        app.execute("SELECT count(*) FROM ballots_credential")
        with app.transaction(force_rollback=True):
            app.execute(
                "INSERT INTO ballots_auditentry (at, role, organizer, action, detail, reason)"
                " VALUES (now(), 'operator', 'test', 'create', '{}', '')"
            )
            app.execute("UPDATE ballots_credential SET used = used WHERE false")


@pytest.mark.django_db
def test_the_app_role_cannot_truncate_update_or_create_in_the_test_database():
    """The suite's own database: migrated by the harness, granted by post_migrate."""
    assert_least_privilege(app_database_url())


def dead_tuples(table):
    """Tuples on the table's pages that a deleted row left behind (the harness, a superuser, reads
    the pages with pageinspect, as someone who seized the database would)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [table])
        pages = cursor.fetchone()[0]
        found = 0
        for page in range(pages):
            cursor.execute(
                "SELECT count(*) FROM heap_page_items(get_raw_page(%s, %s)) WHERE t_xmin IS NOT NULL",
                [table, page],
            )
            found += cursor.fetchone()[0]
        return found


@pytest.mark.django_db(transaction=True)
def test_the_app_role_really_vacuums_the_inbox():
    poll = make_poll()
    key_id, _public = ensure_current_key(poll.id)
    with psycopg.connect(app_database_url(), autocommit=True) as app:
        for _ in range(50):
            app.execute(
                f"INSERT INTO {INBOX} (id, poll_id, key_id, sealed) VALUES (%s, %s, %s, %s)",
                [uuid.uuid4(), poll.id, key_id, os.urandom(96)],
            )
        app.execute(f"DELETE FROM {INBOX}")
        assert dead_tuples(INBOX) >= 50  # deleted, but every tuple still on its page

        warnings = []
        app.add_notice_handler(lambda notice: warnings.append(notice.message_primary))
        app.execute("VACUUM ballots_auditentry")  # not the app's: PostgreSQL only warns
        assert any("only table or database owner can vacuum it" in w for w in warnings), warnings
        warnings.clear()
        app.execute(f"VACUUM {INBOX}")
        assert warnings == []
        assert dead_tuples(INBOX) == 0
        # Sealing's usual way (tallying.services.clear_inbox) rewrites the inbox: TRUNCATE, which the
        # app may do to this one table only.
        app.execute(
            f"INSERT INTO {INBOX} (id, poll_id, key_id, sealed) VALUES (%s, %s, %s, %s)",
            [uuid.uuid4(), poll.id, key_id, os.urandom(96)],
        )
        app.execute(f"TRUNCATE {INBOX}")
        assert refused(app, "TRUNCATE ballots_credential")
    assert dead_tuples(INBOX) == 0


def fresh_database_urls():
    server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    name = f"ref_roles_{os.getpid()}"
    host = f"{server.hostname}:{server.port or 5432}"
    return (
        f"postgres://{server.username or 'postgres'}@{host}/postgres",
        f"postgres://referendum_owner@{host}/{name}",
        f"postgres://{settings.DATABASE_APP_ROLE}@{host}/{name}",
        name,
    )


@pytest.mark.slow
@pytest.mark.django_db
def test_production_path_owner_migrates_app_role_runs(tmp_path):
    """ensure_db creates both roles and the database, `migrate` runs as the owner, the app role
    gets row privileges only, and a table a later migration adds is granted by default."""
    admin_url, owner_url, app_url, name = fresh_database_urls()
    ensure(admin_url, owner_url, app_url)
    ensure(admin_url, owner_url, app_url)  # twice: changes nothing, fails on nothing
    try:
        env = dict(os.environ, DATABASE_URL=owner_url, DATABASE_APP_ROLE=settings.DATABASE_APP_ROLE,
                   VAR_DIR=str(tmp_path))
        result = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        with psycopg.connect(owner_url, autocommit=True) as owner:
            owners = dict(owner.execute(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall())
            assert owners["ballots_auditentry"] == "referendum_owner"
            assert {o for t, o in owners.items() if t != INBOX} == {"referendum_owner"}
            if INBOX in owners:
                assert owners[INBOX] == settings.DATABASE_APP_ROLE
            # A later migration's new table: the app may use its rows without another grant.
            owner.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)")
        assert_least_privilege(app_url)
        with psycopg.connect(app_url, autocommit=True) as app:
            app.execute("INSERT INTO later_table (note) VALUES ('x')")
            assert app.execute("SELECT count(*) FROM later_table").fetchone()[0] == 1
            assert refused(app, "TRUNCATE later_table")
            assert refused(app, "DROP TABLE later_table")
        # The owner can still change the inbox (a later migration), through its membership.
        if INBOX in owners:
            with psycopg.connect(owner_url, autocommit=True) as owner:
                owner.execute(f"ALTER TABLE {INBOX} ADD COLUMN probe int")
                owner.execute(f"ALTER TABLE {INBOX} DROP COLUMN probe")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_pending_mails_are_written_by_the_web_role_and_never_changed():
    """The web role inserts a pending registration mail and may take its own back; the workers'
    role reads and deletes them (to send or resend); nobody changes one. The web role may read
    them too, as backups (pg_dump, run as it) must: they are sealed to the offline key."""
    if not settings.DATABASE_SEALER_ROLE:
        pytest.skip("no sealer role in this run: the app role is also the workers' role")
    poll = make_poll()
    row = [uuid.uuid4(), poll.id, os.urandom(1100)]
    insert = "INSERT INTO ballots_pendingmail (id, poll_id, sealed, queued_at) VALUES (%s, %s, %s, date_trunc('minute', now()))"
    with psycopg.connect(app_database_url(), autocommit=True) as web:
        web.execute(insert, row)
        assert web.execute("SELECT sealed FROM ballots_pendingmail WHERE id = %s", [row[0]]).fetchone()[0] == row[2]
        assert refused(web, "UPDATE ballots_pendingmail SET sealed = sealed")
        assert refused(web, "TRUNCATE ballots_pendingmail")
        assert web.execute("DELETE FROM ballots_pendingmail WHERE id = %s", [row[0]]).rowcount == 1
        web.execute(insert, row)
    with psycopg.connect(sealer_database_url(), autocommit=True) as worker:
        assert worker.execute("SELECT sealed FROM ballots_pendingmail").fetchone()[0] == row[2]
        assert refused(worker, "UPDATE ballots_pendingmail SET sealed = sealed")
        assert worker.execute("DELETE FROM ballots_pendingmail WHERE id = %s", [row[0]]).rowcount == 1
    with connection.cursor() as cursor:  # a time finer than the minute is refused, whoever writes it
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute(insert.replace("date_trunc('minute', now())", "date_trunc('minute', now()) + interval '1 s'"),
                           row)
