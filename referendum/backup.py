"""Encrypted backups that restore: `make backup`, `make restore FILE=…` (docs/operations.md).

    python -m referendum.backup create                  # BACKUP_DIR/referendum-<db>-<UTC time>.dump.age
    python -m referendum.backup restore FILE [--database NAME]

A backup is `pg_dump --format=custom` piped straight into `age`, encrypted to the public key(s) in
BACKUP_AGE_RECIPIENTS: nothing unencrypted touches the disk, and the server that makes backups
cannot read them. Only the holder of the matching identity (BACKUP_AGE_IDENTITY, a file kept
offline) can restore. age (Debian's package; the format at age-encryption.org) is authenticated: a
damaged or altered file fails to decrypt instead of restoring something else.

A restore always goes into a NEW database on the same PostgreSQL server (never over the live one);
a restore that fails drops what it created. The password of DATABASE_URL is given to pg_dump and
pg_restore in their environment, never on a command line.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

SUFFIX = ".dump.age"


class BackupError(Exception):
    pass


def _settings():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")
    django.setup()
    from django.conf import settings

    if not settings.DATABASE_URL.startswith("postgres"):
        raise BackupError("Backups are for PostgreSQL (DATABASE_URL); the embedded SQLite file is a plain file.")
    return settings


def libpq_env(url, dbname=None):
    """PG* variables for pg_dump/pg_restore/psql from a URL: the password stays out of argv."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
             "dbname": "PGDATABASE", "sslmode": "PGSSLMODE"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({names[k]: str(v) for k, v in params.items() if k in names and v is not None})
    if dbname:
        env["PGDATABASE"] = dbname
    return env


def recipients(settings):
    """The age public keys to encrypt to; in development a key generated once into VAR_DIR."""
    keys = [k for k in re.split(r"[\s,]+", settings.BACKUP_AGE_RECIPIENTS) if k]
    if keys:
        bad = [k for k in keys if not k.startswith("age1")]
        if bad:
            raise BackupError("BACKUP_AGE_RECIPIENTS holds something that is not an age public key (age1…).")
        return keys
    if not settings.DEBUG:
        raise BackupError("BACKUP_AGE_RECIPIENTS is not set: the age public key(s) to encrypt backups to "
                          "(make one with age-keygen on a machine you trust; keep its identity file offline).")
    identity = development_identity(settings)
    public = subprocess.run(["age-keygen", "-y", str(identity)], capture_output=True, text=True, check=True)
    print(f"Development: encrypting to the key in {identity} (set BACKUP_AGE_RECIPIENTS in production).",
          file=sys.stderr)
    return [public.stdout.strip()]


def development_identity(settings):
    path = Path(settings.VAR_DIR) / "backup-identity.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
        path.chmod(0o600)
    return path


def identity_file(settings):
    if settings.BACKUP_AGE_IDENTITY:
        path = Path(settings.BACKUP_AGE_IDENTITY)
    elif settings.DEBUG:
        path = development_identity(settings)
    else:
        raise BackupError("BACKUP_AGE_IDENTITY is not set: the age identity file (secret key) of the backups.")
    if not path.is_file():
        raise BackupError(f"BACKUP_AGE_IDENTITY: no such file {path}")
    return path


def _pipe(first, second, first_env=None, second_env=None):
    """Run `first | second`; return ((returncode, stderr) of first, (returncode, stderr) of second)."""
    with tempfile.TemporaryFile() as first_err, tempfile.TemporaryFile() as second_err:
        upstream = subprocess.Popen(first, stdout=subprocess.PIPE, stderr=first_err, env=first_env)
        downstream = subprocess.Popen(second, stdin=upstream.stdout, stderr=second_err, env=second_env)
        upstream.stdout.close()  # so the first sees a broken pipe if the second dies
        downstream.wait()
        upstream.wait()
        results = []
        for process, err in ((upstream, first_err), (downstream, second_err)):
            err.seek(0)
            results.append((process.returncode, err.read().decode(errors="replace").strip()))
        return results


def create(output_dir=None):
    """Write an encrypted custom-format dump; return its path."""
    settings = _settings()
    keys = recipients(settings)
    folder = Path(output_dir or settings.BACKUP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    env = libpq_env(settings.DATABASE_URL)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"referendum-{env.get('PGDATABASE', 'db')}-{stamp}{SUFFIX}"
    partial = target.with_name(target.name + ".partial")
    age_args = ["age", "--encrypt", "--output", str(partial)]
    for key in keys:
        age_args += ["--recipient", key]
    old_umask = os.umask(0o077)  # the file is readable by its owner only
    try:
        (dump_code, dump_err), (age_code, age_err) = _pipe(
            ["pg_dump", "--format=custom", "--compress=6"], age_args, first_env=env
        )
    finally:
        os.umask(old_umask)
    if dump_code != 0 or age_code != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump exited {dump_code}: {dump_err} / age exited {age_code}: {age_err}")
    partial.rename(target)
    return target


def restore(path, database=None):
    """Decrypt and restore `path` into a new database; return its name."""
    settings = _settings()
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"No such backup file: {path}")
    identity = identity_file(settings)
    env = libpq_env(settings.DATABASE_URL)
    name = database or f"{env.get('PGDATABASE', 'referendum')}_restore_{datetime.now(UTC):%Y%m%d%H%M%S}"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise BackupError(f"Not a plain database name: {name!r}")
    # Creating a database is an operator's act: the app role may not (docs/security.md), so the
    # restore connects as DATABASE_ADMIN_URL when it is set.
    admin = dict(libpq_env(os.environ.get("DATABASE_ADMIN_URL") or settings.DATABASE_URL), PGDATABASE="postgres")
    exists = subprocess.run(["psql", "-XAtc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                            env=admin, capture_output=True, text=True)
    if exists.returncode != 0:
        raise BackupError(f"Cannot reach PostgreSQL: {exists.stderr.strip()}")
    if exists.stdout.strip():
        raise BackupError(f"Database {name} already exists; a restore goes into a new database only.")
    subprocess.run(["createdb", name], env=admin, check=True, capture_output=True)
    (age_code, age_err), (restore_code, restore_err) = _pipe(
        ["age", "--decrypt", "--identity", str(identity), str(path)],
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
         "--dbname", name],
        second_env=admin,
    )
    if age_code != 0 or restore_code != 0:
        subprocess.run(["dropdb", "--if-exists", name], env=admin, capture_output=True)
        raise BackupError(f"Restore failed, nothing kept. age exited {age_code}: {age_err} / "
                          f"pg_restore exited {restore_code}: {restore_err}")
    return name


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m referendum.backup", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="write an encrypted, timestamped pg_dump")
    make.add_argument("--output-dir", help="folder (default BACKUP_DIR)")
    back = commands.add_parser("restore", help="restore a backup into a new database")
    back.add_argument("file")
    back.add_argument("--database", help="name of the new database (default <db>_restore_<time>)")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            print(create(args.output_dir))
        else:
            name = restore(args.file, args.database)
            print(name)
            print(f"Restored into the new database {name}. Check it, e.g.:\n"
                  f"  DATABASE_URL=…/{name} python manage.py export_polls var/restored && "
                  f"python -m tallying.verify var/restored", file=sys.stderr)
    except BackupError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
