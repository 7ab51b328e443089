"""build_scale_dataset (issue 13) at a small scale: what it builds is what the app itself would
have: counts equal to the ledger, exports the verifier accepts, codes that vote, fewer than K
ballots waiting."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django.test import Client

from ballots.errors import CodeAlreadyUsed
from ballots.models import AuditEntry, CodeBatch, Credential, InboxBallot, Poll
from ballots.services import cast_ballot
from regions.models import Organizer
from tallying.models import LedgerEntry, OptionCount, PollHead, Snapshot
from tests.exports import export_lines, verify, write_export

pytestmark = pytest.mark.django_db

K = 20
SCALE = 0.002  # 4,000 codes, 2,000 ballots


@pytest.fixture
def built(settings, tmp_path, fast_password_hashing):
    settings.PUBLISH_MIN_BALLOTS = K
    settings.DEBUG = True  # pytest-django turns it off; the command wants it (or its flag)
    output = tmp_path / "scale.json"
    call_command("build_scale_dataset", "--scale", str(SCALE), "--output", str(output), stdout=open(tmp_path / "log", "w"))
    return json.loads(output.read_text())


def test_counts_equal_the_ledger_and_codes_used_the_ballots(built):
    assert Poll.objects.filter(state=Poll.State.OPEN).count() == 5
    assert sum(p["ballots"] for p in built["polls"]) == round(1_000_000 * SCALE)
    for poll in built["polls"]:
        ledger = dict(LedgerEntry.objects.filter(poll_id=poll["id"]).order_by().values_list("option_id")
                      .annotate(n=Count("id")).values_list("option_id", "n"))
        counts = dict(OptionCount.objects.filter(poll_id=poll["id"]).values_list("option_id", "count"))
        assert counts == ledger and sum(ledger.values()) == poll["ballots"] > 0
        assert PollHead.objects.get(poll_id=poll["id"]).position == poll["ballots"]
        last = Snapshot.objects.filter(poll_id=poll["id"]).order_by("-position").first()
        assert last.position == poll["ballots"] and Snapshot.objects.filter(poll_id=poll["id"]).count() == poll["publications"]
        waiting = InboxBallot.objects.filter(poll_id=poll["id"]).count()
        assert waiting == poll["waiting"] and 0 < waiting < K
        used = Credential.objects.filter(poll_id=poll["id"], used=True).count()
        assert used == poll["ballots"] + waiting
        assert Credential.objects.filter(poll_id=poll["id"]).count() == poll["codes"]
        published = CodeBatch.objects.filter(poll_id=poll["id"]).aggregate(n=Sum("used_published"))["n"]
        assert poll["ballots"] <= published <= used
    assert Organizer.objects.filter(role="coordinator").count() == 1
    assert Organizer.objects.filter(role="regional").count() == 5
    assert AuditEntry.objects.count() >= 100


def test_exports_verify(built, tmp_path):
    for poll in built["polls"]:
        code, output = verify(write_export(tmp_path / f"poll-{poll['id']}.jsonl", export_lines(Poll.objects.get(pk=poll["id"]))))
        assert code == 0, output
        assert f"{poll['ballots']} entries" in output and f"{poll['publications']} signed statements" in output


def test_a_printed_code_votes_once(built):
    poll = built["polls"][0]
    cast_ballot(poll["id"], poll["real_codes"][0], poll["options"][1])
    assert InboxBallot.objects.filter(poll_id=poll["id"]).count() == poll["waiting"] + 1
    with pytest.raises(CodeAlreadyUsed):
        cast_ballot(poll["id"], poll["real_codes"][0], poll["options"][0])


def test_refuses_a_database_with_polls(built):
    with pytest.raises(CommandError, match="already holds polls"):
        call_command("build_scale_dataset", "--scale", str(SCALE))


def test_refuses_production_settings(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("build_scale_dataset", "--scale", str(SCALE))


ADMIN_LISTS = ["ballots/poll", "ballots/option", "ballots/inboxballot", "ballots/auditentry", "ballots/codebatch",
               "regions/region", "tallying/snapshot", "tallying/pollhead", "tallying/optioncount",
               "tallying/ledgerentry"]


def test_admin_change_lists_run_few_queries_and_use_indexes(built, django_assert_max_num_queries):
    """A change list costs the same few queries whatever the rows (no region per row: 137 ms for
    the audit log at scale), and the ledger's, filtered by poll, reads its (poll, position) index
    instead of walking the primary key past every other poll's entries (500 ms at scale)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.console import current_token

    coordinator = next(a for a in built["accounts"] if a["role"] == "coordinator")
    client = Client()
    client.post("/console/login", {"username": coordinator["username"], "password": built["password"]})
    device = Organizer.objects.get(pseudonym=coordinator["pseudonym"]).user.totpdevice_set.get()
    assert client.post("/console/verify", {"token": current_token(device)}).status_code == 302
    counts = {}
    for model in ADMIN_LISTS:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/admin/{model}/").status_code == 200, model
        counts[model] = len(queries)
    assert max(counts.values()) <= 16, counts
    poll = built["polls"][0]["id"]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/admin/tallying/ledgerentry/?poll__id__exact={poll}").status_code == 200
    listing = next(q["sql"] for q in queries if "tallying_ledgerentry" in q["sql"] and "LIMIT" in q["sql"])
    assert listing.endswith('ORDER BY "tallying_ledgerentry"."poll_id" ASC, "tallying_ledgerentry"."position" ASC LIMIT 100')
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/tallying/snapshot/").status_code == 200
    listing = next(q["sql"] for q in queries
                   if "FROM \"tallying_snapshot\"" in q["sql"] and "ORDER BY" in q["sql"])
    assert 'ORDER BY "tallying_snapshot"."poll_id" ASC, "tallying_snapshot"."taken_at" ASC' in listing


@pytest.mark.django_db(transaction=True)
def test_bench_pages_measures_every_page_on_a_real_server(settings, tmp_path):
    """bench/pages.py's measure_pages against gunicorn on the built data set: it signs in as both
    roles and reaches every page it names (no 404, no 5xx but readyz without a worker)."""
    from bench.pages import measure_pages
    from tests.servers import gunicorn

    settings.PUBLISH_MIN_BALLOTS = K
    settings.DEBUG = True
    output = tmp_path / "scale.json"
    call_command("build_scale_dataset", "--scale", "0.001", "--output", str(output), stdout=open(tmp_path / "log", "w"))
    credentials = json.loads(output.read_text())
    with gunicorn(tmp_path / "server.log", "--access-logfile", "/dev/null") as (base, _server):
        rows = measure_pages(base, credentials, n=1)
    statuses = {row["label"]: row["status"] for row in rows}
    assert {label for label, status in statuses.items() if status not in ("200", "201")} == {
        "readyz", "console welcome (coordinator)", "console welcome (regional)", "console poll edit (coordinator)",
        "console poll edit (regional)", "console e-mail registration (coordinator)",
        "console e-mail registration (regional)", "console regions (regional)", "console accounts (regional)",
        "console accounts new (regional)",
    }, statuses
    assert any(label.startswith("admin tallying/ledgerentry") for label in statuses)
    export = next(row["export"] for row in rows if "export" in row)
    assert export["bytes"] > 0 and export["first_byte_ms"] < export["total_ms"]
