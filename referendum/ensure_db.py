"""Create the PostgreSQL database named in DATABASE_URL (or the local default) if it is missing."""

import os
import sys

import psycopg
from psycopg import sql


def main():
    import django
    from django.conf import settings

    django.setup()
    url = settings.DATABASE_URL
    if not url.startswith("postgres"):
        return 0
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"Created database {name}.")
    except psycopg.OperationalError as error:
        print(f"Cannot reach PostgreSQL at {admin_url}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")
    sys.exit(main())
