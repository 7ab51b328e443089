"""Create the two roles and the database of the two-role set-up, if missing (docs/security.md).

    python -m referendum.ensure_db

Connects as a PostgreSQL superuser (DATABASE_ADMIN_URL) and makes sure that:
- the owner role (the user of DATABASE_OWNER_URL) exists, can log in, and owns the database and
  every table in it: migrations run as this role;
- the app role (the user of DATABASE_URL) exists and can log in, with no other attribute: the web
  app and the workers connect as it, and `migrate` grants it row privileges only
  (referendum/database_roles.py);
- the owner role is a member of the app role (so that migrations can still alter the one table the
  app owns, the inbox it must vacuum).
A password in either URL becomes (or stays) the role's password. Running it again changes nothing.

In development (DEBUG=1, DATABASE_URL unset) the URLs default to the local server:
LOCAL_DATABASE_URL (app role referendum_app), LOCAL_DATABASE_OWNER_URL (referendum_owner) and
the local superuser postgres; the embedded SQLite mode needs none of this.
"""

import os
import sys
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql


def _role(url):
    parts = urlsplit(url)
    return unquote(parts.username or ""), unquote(parts.password) if parts.password else None


def _database(url):
    return urlsplit(url).path.lstrip("/").split("?")[0]


def _ensure_role(conn, name, password):
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
    verb = "ALTER" if exists else "CREATE"
    statement = sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(
        sql.Identifier(name)
    )
    if password is not None:
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
    conn.execute(statement)
    if not exists:
        print(f"Created role {name}.")


def ensure(admin_url, owner_url, app_url):
    owner, owner_password = _role(owner_url)
    app, app_password = _role(app_url)
    name = _database(owner_url)
    if not owner or not app or owner == app:
        raise SystemExit("The owner and the app must be two different roles (DATABASE_OWNER_URL, DATABASE_URL).")
    if _database(app_url) != name:
        raise SystemExit("DATABASE_OWNER_URL and DATABASE_URL must name the same database.")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        _ensure_role(conn, owner, owner_password)
        _ensure_role(conn, app, app_password)
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(app), sql.Identifier(owner)))
        # The sealers' role: a member of the app role, granted publication by migrate.
        sealer, sealer_password = _role(os.environ.get("DATABASE_SEALER_URL", ""))
        sealer = sealer or os.environ.get("DATABASE_SEALER_ROLE", "").strip()
        if sealer:
            _ensure_role(conn, sealer, sealer_password)
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(app), sql.Identifier(sealer)))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
            print(f"Created database {name}.")
        else:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner)))
    # Tables made before the split (by a superuser) move to the owner role; the inbox stays the app's.
    database_admin_url = urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    with psycopg.connect(database_admin_url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')"
            " AND pg_get_userbyid(c.relowner) NOT IN (%s, %s)",
            [owner, app],
        ).fetchall()
        for relname, relkind in rows:
            kind = {"S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}.get(relkind, "TABLE")
            if relkind == "S" and conn.execute(
                "SELECT 1 FROM pg_depend WHERE objid = %s::regclass AND deptype IN ('a', 'i')", [relname]
            ).fetchone():
                continue  # a column's own sequence follows its table
            conn.execute(sql.SQL(f"ALTER {kind} {{}} OWNER TO {{}}").format(sql.Identifier(relname), sql.Identifier(owner)))
        if rows:
            print(f"Gave {len(rows)} tables, sequences and views in {name} to {owner}; run migrate (as {owner}) to grant {app} its rights.")


def urls_from_environment():
    """(admin, owner, app) URLs from the environment, or development defaults; None in embedded mode."""
    import django
    from django.conf import settings

    django.setup()
    app_url = settings.DATABASE_URL
    if not app_url.startswith("postgres"):
        return None
    owner_url = os.environ.get("DATABASE_OWNER_URL") or settings.LOCAL_DATABASE_OWNER_URL
    server = urlsplit(app_url)
    admin_url = os.environ.get("DATABASE_ADMIN_URL") or server._replace(
        netloc=f"postgres@{server.hostname}:{server.port or 5432}", path="/postgres"
    ).geturl()
    return admin_url, owner_url, app_url


def main():
    urls = urls_from_environment()
    if urls is None:
        return 0
    try:
        ensure(*urls)
    except psycopg.OperationalError as error:
        print(f"Cannot reach PostgreSQL as its superuser: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")
    sys.exit(main())
