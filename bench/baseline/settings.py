"""The baselines of `make bench`: the application's own settings (same database, cache, gunicorn
config), no middleware, and two views (bench/baseline/views.py)."""

from referendum.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline.urls"
MIDDLEWARE = []
