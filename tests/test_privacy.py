"""Privacy by construction: after a full voting flow, neither the database nor the logs hold a
code, a tracker, an IP address or a user agent, and nothing links a ballot to its credential."""

import json
import logging
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from tests.factories import make_codes, make_poll, make_region
from tests.servers import gunicorn

ROOT = Path(__file__).resolve().parent.parent
VOTER_ADDRESS = "203.0.113.77"
PROXY_FORWARDED = "198.51.100.23"
VOTER_AGENT = "PrivacyProbe/9.9 (marker-ua-7f3c)"
HEADERS = {"REMOTE_ADDR": VOTER_ADDRESS, "HTTP_USER_AGENT": VOTER_AGENT, "HTTP_X_FORWARDED_FOR": PROXY_FORWARDED}


def spellings(value):
    """Every way a code or tracker could be written down in clear."""
    normalized = value.replace("-", "")
    return {value, normalized, value.lower(), normalized.lower()}


def full_flow():
    """Vote through the form and the API, with a refusal of each kind; return codes and trackers."""
    siberia = make_poll()
    urals = make_poll(region=make_region("urals", "Urals", "Урал"))
    form_code, api_code, unused_code = make_codes(siberia, 3)
    (other_code,) = make_codes(urals, 1)
    option = siberia.options.first()
    client = Client(**HEADERS)

    assert client.get(f"/polls/{siberia.id}/").status_code == 200
    confirm = client.post(f"/polls/{siberia.id}/", {"code": form_code, "option": option.id})
    assert b"You are about to vote" in confirm.content
    # The confirmation step's form as the browser sends it: the tracker drawn there and its token.
    confirmed = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm.content.decode()))
    receipt = client.post(f"/polls/{siberia.id}/cast", confirmed)
    assert client.post(f"/polls/{siberia.id}/cast", confirmed).status_code == 200  # the same form again
    form_tracker = re.search(rb'id="tracker" data-tracker="([0-9A-Z-]+)"', receipt.content).group(1).decode()

    api = client.post(
        f"/api/v1/polls/{siberia.id}/ballots",
        data=json.dumps({"code": api_code, "option": option.id}),
        content_type="application/json",
    )
    api_tracker = api.json()["tracker"]
    refusals = [
        client.post(f"/polls/{siberia.id}/cast", {"code": form_code, "option": option.id}),
        client.post(f"/polls/{siberia.id}/cast", {"code": other_code, "option": option.id}),
        client.post(
            f"/api/v1/polls/{siberia.id}/ballots",
            data=json.dumps({"code": api_code, "option": option.id}),
            content_type="application/json",
        ),
    ]
    assert [r.status_code for r in refusals] == [409, 403, 409]
    secrets_in_clear = [form_code, api_code, unused_code, other_code, form_tracker, api_tracker]
    return secrets_in_clear


def dump_database():
    db = connection.settings_dict
    result = subprocess.run(
        ["pg_dump", "--data-only", "--column-inserts", "-h", db["HOST"] or "127.0.0.1",
         "-p", str(db["PORT"] or 5432), "-U", db["USER"] or "postgres", db["NAME"]],
        capture_output=True, text=True, check=True,
    )
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_database_and_logs_hold_no_code_tracker_address_or_agent(caplog):
    caplog.set_level(logging.DEBUG)
    secrets_in_clear = full_flow()
    dump = dump_database()

    assert "INSERT INTO public.ballots_inboxballot" in dump  # the dump really holds the ballots
    assert dump.count("INSERT INTO public.ballots_credential") == 4
    for value in secrets_in_clear:
        for spelling in spellings(value):
            assert spelling not in dump, "a code or tracker is stored in clear"
            assert spelling not in caplog.text, "a code or tracker was logged"
    for marker in (VOTER_ADDRESS, PROXY_FORWARDED, VOTER_AGENT, "PrivacyProbe"):
        assert marker not in dump
        assert marker not in caplog.text
    # The refusals were logged (so the checks above did read the application's log output).
    assert any(r.name == "django.request" and r.status_code == 409 for r in caplog.records)


def table_columns(cursor, table):
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s", [table]
    )
    return dict(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_no_column_links_a_ballot_to_a_credential_or_a_time():
    with connection.cursor() as cursor:
        inbox = table_columns(cursor, "ballots_inboxballot")
        ledger = table_columns(cursor, "tallying_ledgerentry")
        cursor.execute(
            """
            SELECT tc.table_name, ccu.table_name FROM information_schema.table_constraints tc
            JOIN information_schema.constraint_column_usage ccu
              ON tc.constraint_name = ccu.constraint_name
            WHERE tc.constraint_type = 'FOREIGN KEY'
              AND tc.table_name IN ('ballots_inboxballot', 'tallying_ledgerentry', 'ballots_credential')
            """
        )
        references = set(cursor.fetchall())
    assert set(inbox) == {"id", "poll_id", "key_id", "sealed"}  # sealed: no answer, no tracker hash
    assert set(ledger) == {"id", "poll_id", "position", "option_id", "tracker_hash", "prev_hash", "entry_hash"}
    assert inbox["id"] == "uuid"  # random ids: no sequence counts the casts
    for table in ("ballots_inboxballot", "tallying_ledgerentry"):
        assert (table, "ballots_credential") not in references
        assert ("ballots_credential", table) not in references
    assert references  # the query does see foreign keys (poll, option, batch)


@pytest.mark.django_db(transaction=True)
def test_waiting_ballots_have_random_ids_and_no_time():
    full_flow()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM ballots_inboxballot")
        rows = cursor.fetchall()
        types = set(table_columns(cursor, "ballots_inboxballot").values())
    assert len(rows) == 2
    assert all(ballot_id.version == 4 for (ballot_id,) in rows)
    assert not {t for t in types if "time" in t or "date" in t}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_web_server_access_log_holds_no_address_agent_code_or_tracker(tmp_path):
    """The real gunicorn with our config, in front of the test database."""
    poll = make_poll()
    (code,) = make_codes(poll, 1)
    option = poll.options.first()
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(log_path) as (base, _server):
        headers = {"User-Agent": VOTER_AGENT, "X-Forwarded-For": PROXY_FORWARDED, "Content-Type": "application/json"}
        request = urllib.request.Request(
            f"{base}/api/v1/polls/{poll.id}/ballots",
            data=json.dumps({"code": code, "option": option.id}).encode(),
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            tracker = json.load(response)["tracker"]
        again = urllib.request.Request(request.full_url, data=request.data, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(again, timeout=10)
        assert refused.value.code == 409
    output = log_path.read_text()
    access_lines = [line for line in output.splitlines() if '"POST /api/v1/polls' in line]
    assert len(access_lines) == 2, output  # the access log is on, and it logged both requests
    for line in access_lines:
        assert "127.0.0.1" not in line
    for marker in (PROXY_FORWARDED, VOTER_AGENT, "PrivacyProbe", *spellings(code), *spellings(tracker)):
        assert marker not in output
