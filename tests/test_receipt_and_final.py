"""Receipt lookup, the ledger API and pages, and the final result."""

import json
import re

import pytest
from django.test import Client

from ballots import codes
from ballots.models import Poll
from ballots.services import close_poll
from tallying.models import Snapshot
from tallying.services import PublishRefused, publish_final, seal_until_caught_up
from tests.console import make_organizer, verified_client
from tests.factories import make_codes, make_poll


def cast(poll, code, option):
    response = Client().post(
        f"/api/v1/polls/{poll.id}/ballots", data=json.dumps({"code": code, "option": option.id}),
        content_type="application/json",
    )
    return response.json()["tracker"]


def lookup(tracker):
    client = Client(enforce_csrf_checks=True)
    client.get("/verify/")
    return client.post("/verify/", {"tracker": tracker, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


@pytest.mark.django_db
def test_receipt_pending_then_sealed(django_capture_on_commit_callbacks):
    poll = make_poll()
    no = poll.options.last()
    tracker = cast(poll, make_codes(poll)[0], no)
    pending = lookup(tracker)
    # Sealed while it waits: the lookup cannot tell it from a tracker never issued, and says so.
    assert pending.status_code == 200 and "Not in the public ledger yet" in pending.content.decode()
    status = re.compile(r'<section class="card receipt-status">.*?</section>', re.S)
    assert status.search(pending.content.decode()).group() == status.search(lookup(codes.new_tracker()).content.decode()).group()
    seal_until_caught_up(poll.id)
    sealed = lookup(tracker.lower().replace("-", " "))  # typed loosely
    html = sealed.content.decode()
    assert "in the public ledger at position 1" in html and "No" in html
    snapshot = Snapshot.objects.get(poll=poll)
    assert bytes(snapshot.head_hash).hex() in html  # the first snapshot that includes it
    assert "Cache-Control" in sealed and "no-store" in sealed["Cache-Control"]


@pytest.mark.django_db
def test_unknown_and_malformed_trackers():
    unknown = lookup(codes.new_tracker())
    assert unknown.status_code == 200 and "Not in the public ledger yet" in unknown.content.decode()
    assert "tell the organizers" in unknown.content.decode()
    malformed = lookup("not-a-tracker")
    assert malformed.status_code == 400 and "does not look like a tracker code" in malformed.content.decode()
    assert Client().get("/verify/?tracker=ABC").status_code == 200  # GET never looks anything up


@pytest.mark.django_db
def test_ledger_api_pages_in_order():
    poll = make_poll()
    for code in make_codes(poll, 12):
        cast(poll, code, poll.options.first())
    seal_until_caught_up(poll.id, batch_size=5)
    first = Client().get(f"/api/v1/polls/{poll.id}/ledger", {"limit": 5}).json()
    assert [e["position"] for e in first["entries"]] == [1, 2, 3, 4, 5] and first["next_after"] == 5
    rest = Client().get(f"/api/v1/polls/{poll.id}/ledger", {"after": 5, "limit": 100}).json()
    assert [e["position"] for e in rest["entries"]] == list(range(6, 13))
    assert rest["entries"][0]["prev_hash"] == first["entries"][-1]["entry_hash"]
    assert Client().get(f"/api/v1/polls/{poll.id}/ledger", {"after": "x"}).status_code == 400
    page = Client().get(f"/ledger/{poll.id}/").content.decode()
    assert len(re.findall(r'<td class="num">\d+</td>', page)) == 12


@pytest.mark.django_db
def test_final_result_only_after_close_once_and_shown(django_capture_on_commit_callbacks):
    poll = make_poll()
    for code in make_codes(poll, 4):
        cast(poll, code, poll.options.first())
    coordinator, device = make_organizer("coord", role="coordinator")
    regional, regional_device = make_organizer("sib", region_slugs=["siberia"])
    from ballots.services import actor_for

    with pytest.raises(PublishRefused, match="only after the poll has closed"):
        publish_final(poll.id, actor_for(coordinator))
    close_poll(poll.id)
    refused = verified_client(regional, regional_device).post(f"/console/polls/{poll.id}/publish")
    assert refused.status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = verified_client(coordinator, device).post(f"/console/polls/{poll.id}/publish")
    assert response.status_code == 302
    final = Snapshot.objects.get(poll=poll, is_final=True)
    assert final.position == 4 and json.loads(final.statement)["final"] is True
    with pytest.raises(PublishRefused, match="already published"):
        publish_final(poll.id, actor_for(coordinator))
    assert Poll.objects.get(pk=poll.id).state == Poll.State.CLOSED
    assert "Final result" in Client().get("/results/").content.decode()
    assert Client().get(f"/api/v1/polls/{poll.id}/tally").json()["final"] == final.taken_at.isoformat()
    assert Client().get("/api/v1/audit").json()["entries"][0]["action"] == "publish"
