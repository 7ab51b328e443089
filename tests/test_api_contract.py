"""docs/openapi.yaml is the contract of /api/v1/: schemathesis runs every check on every operation
against the live production server, and the database holds afterwards exactly what it held plus
the valid ballots the run cast."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.db import connection

from ballots import services
from tallying.services import seal_poll
from tests.factories import make_codes, make_poll, make_region
from tests.live import PROXY_HEADERS, fetch, production_server
from tests.sealing import waiting_options

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "openapi.yaml"
# Bounded so the whole run stays around a minute on a busy two-core machine.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
VALID_CODES = 3


def test_the_schema_describes_every_api_route():
    from django.urls import get_resolver

    documented = set(yaml.safe_load(SCHEMA.read_text())["paths"])

    def routes(patterns, prefix=""):
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                yield from routes(pattern.url_patterns, text)
            else:
                yield "/" + text.replace("<int:poll_id>", "{poll_id}")

    api = {route for route in routes(get_resolver().url_patterns) if route.startswith("/api/")}
    assert api and api == documented


def table_rows():
    """Every row of every table, as text, by table (the harness reads as the superuser)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [row[0] for row in cursor.fetchall()]
        rows = {}
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            rows[table] = sorted(row[0] for row in cursor.fetchall())
    return rows


def contract_schema(path, poll, option, codes):
    """docs/openapi.yaml plus examples that cast real ballots: a few fresh codes of an open poll."""
    schema = yaml.safe_load(SCHEMA.read_text())
    cast = schema["paths"]["/api/v1/polls/{poll_id}/ballots"]
    cast["parameters"] = [{"name": "poll_id", "in": "path", "required": True, "example": poll.id,
                           "schema": {"type": "integer", "minimum": 1, "maximum": 9223372036854775807}}]
    cast["post"]["requestBody"]["content"]["application/json"]["examples"] = {
        f"valid{i}": {"value": {"code": code, "option": option.id}} for i, code in enumerate(codes)
    }
    path.write_text(yaml.safe_dump(schema, allow_unicode=True, sort_keys=False))
    return path


# Why each expectation: a well-formed code or answer id that this poll does not have is refused
# with 400 (`bad_option`) or 403 (`code_unknown`) by design; the schema cannot know the data.
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "304", "400", "403", "404", "409", "429"]
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_nothing_and_the_database_holds_only_the_valid_ballots(tmp_path):
    siberia = make_poll()
    option = siberia.options.first()
    urals = make_poll(region=make_region("urals", "Urals", "Урал"))
    for code in make_codes(urals, 4):
        services.cast_ballot(urals.id, code, urals.options.last().id)
    seal_poll(urals.id)
    services.pause_poll(urals.id, "testing the audit log")
    codes = make_codes(siberia, VALID_CODES)
    schema = contract_schema(tmp_path / "openapi.yaml", siberia, option, codes)
    (tmp_path / "schemathesis.toml").write_text(SCHEMATHESIS_CONFIG)
    before = table_rows()

    with production_server(tmp_path) as (base, log_path):
        served = fetch(base + "/api/v1/openapi.yaml")
        assert served[0] == 200 and served[2] == SCHEMA.read_bytes()
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(tmp_path / "schemathesis.toml"), "run", str(schema), "--url", base,
                "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", "20261124",
                "--header", f"X-Forwarded-Proto: {PROXY_HEADERS['X-Forwarded-Proto']}",
                "--workers", "2", "--no-shrink", "--request-timeout", "20",
                "--report", "ndjson", "--report-ndjson-path", str(tmp_path / "events.ndjson"),
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )
        output = result.stdout + result.stderr
        (tmp_path / "schemathesis.out").write_text(output)
        print(output[-3000:])
    assert result.returncode == 0, output[-20000:] + log_path.read_text()[-5000:]
    assert "operations" in output.lower()
    server_log = log_path.read_text()
    assert '" 500 ' not in server_log and "Traceback" not in server_log

    after = table_rows()
    ballot_table = "ballots_inboxballot"  # accepted, not yet published: no worker runs here
    changed = {t for t in after if after[t] != before.get(t)}
    # The poll's first publication key may be made by the first cast (its row and the poll's
    # current key): keys, never ballots' contents.
    assert changed <= {ballot_table, "ballots_credential", "ballots_publicationkey", "ballots_poll"}, changed
    new_ballots = [row for row in after[ballot_table] if row not in before[ballot_table]]
    assert all(row in after[ballot_table] for row in before[ballot_table])  # nothing lost or changed
    used = sum(1 for row in after["ballots_credential"] if row not in before["ballots_credential"])
    assert len(new_ballots) == used == VALID_CODES  # each valid code voted once, nothing else was accepted
    assert waiting_options(siberia) == [option.id] * VALID_CODES  # opened with the key store's key
    summary = [json.loads(line) for line in (tmp_path / "events.ndjson").read_text().splitlines() if line.strip()]
    assert summary
