"""Real Celery processes (worker, beat) for the integration tests, on the test database."""

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def app_database_url():
    """The test database, as the application's least-privileged role (tests/conftest.py)."""
    db = connection.settings_dict
    return f"postgres://{settings.DATABASE_APP_ROLE}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def sealer_database_url():
    """The test database as the sealers' role (DATABASE_SEALER_ROLE), else the app role."""
    db = connection.settings_dict
    return f"postgres://{settings.DATABASE_SEALER_ROLE or settings.DATABASE_APP_ROLE}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def child_env(**extra):
    """The environment of a child process (a worker, a server) that uses the same test database,
    as the app role, and the same Redis."""
    env = dict(
        os.environ,
        DATABASE_URL=app_database_url(),
        DATABASE_APP_ROLE=settings.DATABASE_APP_ROLE,
        REDIS_URL=settings.REDIS_URL,
        CREDENTIAL_PEPPER=settings.CREDENTIAL_PEPPER.decode(),
    )
    env.update(extra)  # a test may point a child at another database (a dead port, a restore)
    return env


@contextmanager
def celery_process(*args, log_path, **env):
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "referendum", *args],
            cwd=ROOT, env=child_env(**{"DATABASE_URL": sealer_database_url(), **env}), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_process_group(process)


def stop_process_group(process, sig=signal.SIGTERM, timeout=20):
    """Signal the child's own process group (it was started with start_new_session), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
