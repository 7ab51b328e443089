# Referendum: `make run` starts the whole application, `make test` runs the whole suite.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
DEV_ENV := DEBUG=1
# Backups use the environment as it is (production: DEBUG=0 and its DATABASE_URL), else development.
OPS_ENV := DEBUG=$${DEBUG:-1}
TEST_ENV := DEBUG=1 \
	DATABASE_APP_ROLE=referendum_app \
	DATABASE_SEALER_ROLE=referendum_sealer \
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/referendum} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/1} \
	SECRET_KEY=test-secret-key-that-is-long-enough-for-django-checks \
	CREDENTIAL_PEPPER=test-pepper-0123456789abcdef0123456789 \
	VAR_DIR=$${TEST_VAR_DIR:-$(CURDIR)/var/test} \
	PUBLISH_MIN_BALLOTS=$${TEST_PUBLISH_MIN_BALLOTS:-1} \
	PUBLISH_HOLD_BACK=$${TEST_PUBLISH_HOLD_BACK:-0} \
	STATEMENT_TIMEOUT_MS=$${TEST_STATEMENT_TIMEOUT_MS:-60000} \
	DJANGO_ALLOW_ASYNC_UNSAFE=true

.PHONY: run test test-fast lint migrate seed messages clean bench backup restore

.venv/.installed: pyproject.toml
	test -d .venv || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

.venv/.installed-test: .venv/.installed pyproject.toml
	$(PIP) install -q -e ".[test]"
	touch $@

.venv/.installed-bench: .venv/.installed pyproject.toml
	$(PIP) install -q -e ".[bench]"
	touch $@

# The development checkout's .env (DEBUG=1 and what make was started with), written once.
.env: | .venv/.installed
	$(PY) -m referendum.dev envfile

# Two PostgreSQL roles (docs/security.md): migrations run as referendum_owner, the app as
# referendum_app; ensure_db creates both (and the database) through the local superuser.
migrate: .venv/.installed .env
	$(PY) -m referendum.dev services
	$(DEV_ENV) $(PY) -m referendum.ensure_db
	$(DEV_ENV) DATABASE_AS_OWNER=1 $(PY) manage.py migrate --no-input -v0

seed: migrate
	$(DEV_ENV) $(PY) manage.py seed_demo

run: seed
	$(DEV_ENV) $(PY) -m referendum.dev run

lint: .venv/.installed-test
	.venv/bin/ruff check .

test: .venv/.installed-test lint
	$(PY) -m referendum.dev services --require --test
	$(PY) -m referendum.dev browser
	$(PY) -m referendum.dev tools age age-keygen promtool prometheus pg_dump pg_restore psql createdb dropdb nginx
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

test-fast: .venv/.installed-test
	$(PY) -m referendum.dev services --require --test
	$(PY) -m referendum.dev tools age age-keygen promtool prometheus pg_dump pg_restore psql createdb dropdb nginx
	$(TEST_ENV) $(PY) -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

# Production-like stack on loopback against baselines in the same run (bench/README.md).
bench: .venv/.installed-bench
	$(PY) -m referendum.dev services --require
	$(PY) -m referendum.dev tools wrk
	$(PY) bench/run.py $(BENCH_ARGS)

messages: .venv/.installed
	$(DEV_ENV) $(PY) manage.py makemessages -l ru --no-location --ignore ".venv/*" --ignore "var/*" --ignore "tests/*" --ignore "bench/*" --ignore "docs/*" --ignore "staticfiles/*"
	$(DEV_ENV) $(PY) manage.py compilemessages -l ru --ignore ".venv/*"

# Encrypted, timestamped pg_dump into BACKUP_DIR (docs/operations.md).
backup: .venv/.installed
	$(PY) -m referendum.dev tools age age-keygen pg_dump
	$(OPS_ENV) $(PY) -m referendum.backup create

# Restore FILE into a new database (DB=name, default <db>_restore_<time>); never over the live one.
restore: .venv/.installed
	@test -n "$(FILE)" || { echo "usage: make restore FILE=var/backups/referendum-….dump.age [DB=name]" >&2; exit 2; }
	$(PY) -m referendum.dev tools age pg_restore psql createdb dropdb
	@# The app role may not create databases: the restore connects as DATABASE_ADMIN_URL (docs/security.md).
	$(OPS_ENV) DATABASE_ADMIN_URL=$${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
		$(PY) -m referendum.backup restore "$(FILE)" $(if $(DB),--database "$(DB)")

clean:
	rm -rf .venv var/test staticfiles
