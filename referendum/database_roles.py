"""Two PostgreSQL roles: migrations run as the owner, the web app and the workers as the app role.

The app role (DATABASE_APP_ROLE) may SELECT, INSERT, UPDATE and DELETE rows, nothing more: no DDL,
no TRUNCATE, and no UPDATE or DELETE on the append-only tables (the audit log, the ledger, the
signed snapshots), so a stolen app password cannot rewrite history or disable the audit trigger.
These are grants, checked by PostgreSQL itself, beside the triggers.

Grants are applied after every `migrate` (post_migrate, below), and ALTER DEFAULT PRIVILEGES gives
the app role row privileges on every table a later migration creates. An append-only table added
later must be named in APPEND_ONLY_TABLES.

One exception: the app role owns the inbox table (APP_OWNED_TABLES). Sealing runs VACUUM on it
after each publication, so that no dead inbox tuple keeps the cast transaction's id next to the
credential it used (docs/threat-model.md); PostgreSQL 15 lets only a table's owner vacuum it, and
a non-owner's VACUUM merely warns and does nothing. Owning it lets the app alter or drop that one
table, which holds only ballots not yet published, which it may delete anyway. The owner role is a
member of the app role, so later migrations can still alter the inbox.

See docs/security.md ("Database roles") and docs/deployment.md.
"""

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from psycopg import sql

log = logging.getLogger(__name__)

APPEND_ONLY_TABLES = ("ballots_auditentry", "tallying_ledgerentry", "tallying_snapshot")
APP_OWNED_TABLES = ("ballots_inboxballot",)
# What only publication writes: with a sealer role (DATABASE_SEALER_ROLE), the web app's role may
# read these and nothing more, so a stolen web node cannot rewrite the published counts, move the
# head or sign in a snapshot. The sealer role is a member of the app role (everything the app
# may do, the inbox it owns included) and alone may write these.
SEALER_TABLES = ("tallying_ledgerentry", "tallying_snapshot", "tallying_optioncount", "tallying_pollhead")
# Written by the web app, read and deleted by the workers, never changed (ballots.PendingMail:
# registration mails sealed to the offline key). Nobody may UPDATE or TRUNCATE them. The web role
# keeps SELECT: backups run as it (pg_dump must lock and read every table), and what it would read
# is sealed to a key no server holds.
WORKER_READ_TABLES = ("ballots_pendingmail",)


def _existing_tables(cursor, names):
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
        [list(names)],
    )
    return [row[0] for row in cursor.fetchall()]


def _require_role(cursor, setting, name):
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    if cursor.fetchone() is None:
        raise ImproperlyConfigured(
            f"{setting} is {name!r}, but PostgreSQL has no such role. Create it first "
            "(python -m referendum.ensure_db does; see docs/deployment.md)."
        )


def grant_sealer_privileges(cursor, app_role, sealer_role):
    """The sealer role: the app role's rights, and alone INSERT/UPDATE on SEALER_TABLES (minus
    UPDATE on the append-only ones); the app role keeps SELECT on them. The sealer role may read and
    delete WORKER_READ_TABLES."""
    _require_role(cursor, "DATABASE_SEALER_ROLE", sealer_role)
    app, sealer = sql.Identifier(app_role), sql.Identifier(sealer_role)
    cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [sealer_role, app_role])
    if not cursor.fetchone()[0]:
        raise ImproperlyConfigured(
            f"DATABASE_SEALER_ROLE {sealer_role!r} is not a member of {app_role!r}: run python -m referendum.ensure_db "
            "(as a superuser it grants the membership; see docs/deployment.md)."
        )
    for table in _existing_tables(cursor, SEALER_TABLES):
        name = sql.Identifier(table)
        cursor.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(name, app))
        rights = "INSERT" if table in APPEND_ONLY_TABLES else "INSERT, UPDATE"
        cursor.execute(sql.SQL("GRANT SELECT, " + rights + " ON {} TO {}").format(name, sealer))
    for table in _existing_tables(cursor, WORKER_READ_TABLES):
        cursor.execute(sql.SQL("GRANT SELECT, DELETE ON {} TO {}").format(sql.Identifier(table), sealer))
    cursor.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(sealer))


def grant_app_privileges(cursor, app_role, sealer_role=None):
    """Give the app role what it needs and no more (and the sealer role, if there is one, what
    publication needs); safe to run any number of times.

    Runs as the role that owns the tables (or a superuser), in the database being migrated.
    """
    role = sql.Identifier(app_role)
    _require_role(cursor, "DATABASE_APP_ROLE", app_role)
    for statement in (
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ):
        cursor.execute(sql.SQL(statement).format(role=role))
    for table in _existing_tables(cursor, APPEND_ONLY_TABLES):
        cursor.execute(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {role}").format(
                table=sql.Identifier(table), role=role
            )
        )
    for table in _existing_tables(cursor, WORKER_READ_TABLES):
        cursor.execute(
            sql.SQL("REVOKE UPDATE, TRUNCATE ON {table} FROM {role}").format(table=sql.Identifier(table), role=role)
        )
    for table in _existing_tables(cursor, APP_OWNED_TABLES):
        # PostgreSQL lets a table change owner only to a role with CREATE on its schema: grant it
        # for this one statement, in this transaction, and take it back.
        cursor.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {role}").format(role=role))
        cursor.execute(sql.SQL("ALTER TABLE {table} OWNER TO {role}").format(table=sql.Identifier(table), role=role))
        cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM {role}").format(role=role))
    if sealer_role:
        grant_sealer_privileges(cursor, app_role, sealer_role)


def after_migrate(using="default", **kwargs):
    """post_migrate: bring the app role's privileges up to date (PostgreSQL, DATABASE_APP_ROLE set)."""
    from django.db import connections, transaction

    connection = connections[using]
    app_role = settings.DATABASE_APP_ROLE
    if connection.vendor != "postgresql" or not app_role or "plan" not in kwargs:
        return  # no plan: a `flush` (tests), which creates no table
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == app_role:
            raise ImproperlyConfigured(
                "Migrations must run as the owner role, not as DATABASE_APP_ROLE (docs/deployment.md)."
            )
        grant_app_privileges(cursor, app_role, settings.DATABASE_SEALER_ROLE or None)
