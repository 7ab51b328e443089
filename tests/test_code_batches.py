"""Voting-code batches in the console: issue (inline or by the real worker), one download as CSV or
printable cards, revoke; region checks on every batch URL."""

import csv
import io
import re
import threading
import time

import pytest
import qrcode
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ballots import codes
from ballots.console.batches import qr_svg
from ballots.errors import CodeRevoked
from ballots.models import AuditEntry, CodeBatch, Credential, InboxBallot, Poll, StoredCodes
from ballots.services import CODE_INSERT_CHUNK, cast_ballot, fill_batch
from referendum.celery import app
from regions.models import Organizer
from tests.factories import make_poll, make_region

PASSWORD = "correct horse battery staple 42"


def console_client(username, role="regional", region_slugs=()):
    """A client signed in to the console through the real password and TOTP steps."""
    user = User.objects.create_user(username=username, password=PASSWORD)
    organizer = Organizer.objects.create(user=user, role=role)
    organizer.regions.set([make_region(slug) for slug in region_slugs])
    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    client = Client()
    assert client.post("/console/login", {"username": username, "password": PASSWORD}).status_code == 302
    assert client.post("/console/verify", {"token": f"{totp(device.bin_key):06d}"}).status_code == 302
    assert client.get("/console/").status_code == 200
    return client


def siberia_poll(**kwargs):
    return make_poll(region=make_region("siberia", "Siberia", "Сибирь"), **kwargs)


def urals_poll(**kwargs):
    return make_poll(region=make_region("urals", "Urals", "Урал"), **kwargs)


def issue(client, poll, count):
    response = client.post(f"/console/polls/{poll.id}/batches/", {"count": count})
    assert response.status_code == 302, response.content[:500]
    batch = CodeBatch.objects.get(pk=int(re.search(r"/batches/(\d+)/$", response["Location"]).group(1)))
    return batch


def credential_hashes(batch):
    return {bytes(h) for h in Credential.objects.filter(batch=batch).values_list("code_hash", flat=True)}


def hashes_of(issued):
    return {codes.hash_code(codes.normalize_code(c)) for c in issued}


def parse_csv(response):
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["code"]
    return [row[0] for row in rows[1:]]


@pytest.fixture
def empty_queue():
    """Our Redis db's task queue starts and ends empty (tests without a worker leave messages)."""
    app.control.purge()
    yield
    app.control.purge()


# --- small batches: issued within the request ---


@pytest.mark.django_db
def test_small_batch_is_ready_at_once_and_its_cards_download_once():
    poll = siberia_poll()
    client = console_client("sib", region_slugs=["siberia"])
    batch = issue(client, poll, 12)
    assert (batch.status, batch.issued, batch.size, batch.delivered_at) == ("ready", 12, 12, None)
    assert Credential.objects.filter(batch=batch).count() == 12
    assert StoredCodes.objects.filter(batch=batch).count() == 1
    assert AuditEntry.objects.filter(action="issue_batch", poll=poll, detail__batch=batch.id).count() == 1

    page = client.get(f"/console/polls/{poll.id}/batches/{batch.id}/")
    assert b"Open printable cards" in page.content
    assert b'http-equiv="refresh"' not in page.content  # ready: no reloading

    cards = client.post(f"/console/polls/{poll.id}/batches/{batch.id}/download", {"format": "cards"})
    assert cards.status_code == 200
    assert "no-store" in cards["Cache-Control"]
    html = cards.content.decode()
    printed = re.findall(r'class="code-card-code">([0-9A-Z-]+)<', html)
    assert len(printed) == 12 and len(set(printed)) == 12
    assert hashes_of(printed) == credential_hashes(batch)
    assert html.count('<svg class="qr-code"') == 12
    for code in printed:  # each QR code encodes the vote page with the code in the fragment
        assert str(qr_svg(f"http://testserver/polls/{poll.id}/#code={code}")) in html
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script either

    batch.refresh_from_db()
    assert batch.delivered_at is not None
    assert not StoredCodes.objects.filter(batch=batch).exists()  # the copy is destroyed
    for fmt in ("cards", "csv"):
        again = client.post(f"/console/polls/{poll.id}/batches/{batch.id}/download", {"format": fmt})
        assert again.status_code == 410
        assert b"already downloaded once" in again.content
    assert b"downloaded once and the server kept no copy" in client.get(
        f"/console/polls/{poll.id}/batches/{batch.id}/"
    ).content


@pytest.mark.django_db
def test_small_batch_downloads_once_as_csv_and_its_codes_vote():
    poll = siberia_poll()
    client = console_client("coord", role="coordinator")
    batch = issue(client, poll, 3)
    response = client.post(f"/console/polls/{poll.id}/batches/{batch.id}/download", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    issued = parse_csv(response)
    assert hashes_of(issued) == credential_hashes(batch)
    assert cast_ballot(poll.id, issued[0].lower().replace("-", " "), poll.options.first().id)
    assert client.post(f"/console/polls/{poll.id}/batches/{batch.id}/download", {"format": "csv"}).status_code == 410


@pytest.mark.django_db
@pytest.mark.parametrize("count", ["0", "1000001", "-5", "many", ""])
def test_issue_form_refuses_counts_outside_one_to_a_million(count):
    poll = siberia_poll()
    client = console_client("sib", region_slugs=["siberia"])
    response = client.post(f"/console/polls/{poll.id}/batches/", {"count": count})
    assert response.status_code == 400
    assert not CodeBatch.objects.exists()
    assert not AuditEntry.objects.filter(action="issue_batch").exists()


@pytest.mark.django_db
def test_closed_poll_gets_no_new_batch():
    poll = siberia_poll(state=Poll.State.CLOSED)
    client = console_client("sib", region_slugs=["siberia"])
    response = client.post(f"/console/polls/{poll.id}/batches/", {"count": 5})
    assert response.status_code == 400
    assert b"This poll is closed" in response.content
    assert not CodeBatch.objects.exists()


@pytest.mark.django_db
def test_cards_are_not_offered_for_a_batch_above_the_limit():
    poll = siberia_poll()
    client = console_client("sib", region_slugs=["siberia"])
    batch = CodeBatch.objects.create(poll=poll, size=5001, issued=5001, status="ready")
    page = client.get(f"/console/polls/{poll.id}/batches/{batch.id}/")
    assert b"Download CSV" in page.content and b"Open printable cards" not in page.content
    refused = client.post(f"/console/polls/{poll.id}/batches/{batch.id}/download", {"format": "cards"})
    assert refused.status_code == 400
    batch.refresh_from_db()
    assert batch.delivered_at is None  # a refused format consumes nothing


@pytest.mark.django_db
def test_revoke_needs_a_reason_then_stops_unused_codes_and_destroys_the_copy():
    poll = siberia_poll()
    client = console_client("sib", region_slugs=["siberia"])
    batch = issue(client, poll, 4)
    url = f"/console/polls/{poll.id}/batches/{batch.id}/"
    client.post(url + "revoke", {"reason": "  "})
    batch.refresh_from_db()
    assert batch.revoked_at is None
    response = client.post(url + "revoke", {"reason": "Printed cards stolen from the car"}, follow=True)
    assert b"its unused codes no longer work" in response.content
    batch.refresh_from_db()
    assert batch.revoked_at is not None and batch.revoke_reason == "Printed cards stolen from the car"
    assert not StoredCodes.objects.filter(batch=batch).exists()
    entry = AuditEntry.objects.get(action="revoke_batch", poll=poll)
    assert entry.reason == "Printed cards stolen from the car"
    assert client.post(url + "download", {"format": "csv"}).status_code == 409
    assert b"revoked" in client.get(f"/console/polls/{poll.id}/batches/").content


@pytest.mark.django_db
def test_email_registration_switch_is_audited():
    poll = siberia_poll()
    client = console_client("sib", region_slugs=["siberia"])
    client.post(f"/console/polls/{poll.id}/email-registration", {"enabled": "1"})
    poll.refresh_from_db()
    assert poll.email_registration is True
    assert b"/register" in client.get(f"/console/polls/{poll.id}/batches/").content
    assert b"Get one by e-mail" in Client().get(f"/polls/{poll.id}/").content
    client.post(f"/console/polls/{poll.id}/email-registration", {"enabled": "0"})
    poll.refresh_from_db()
    assert poll.email_registration is False
    details = list(AuditEntry.objects.filter(action="edit", poll=poll).order_by("id").values_list("detail", flat=True))
    assert details == [{"email_registration": True}, {"email_registration": False}]


@pytest.mark.django_db
def test_another_regions_organizer_gets_404_on_every_batch_url_and_changes_nothing():
    poll = siberia_poll()
    owner = console_client("sib", region_slugs=["siberia"])
    batch = issue(owner, poll, 2)
    outsider = console_client("ural", region_slugs=["urals"])
    base = f"/console/polls/{poll.id}/batches/"
    attempts = [
        ("get", base, {}),
        ("post", base, {"count": 5}),
        ("get", f"{base}{batch.id}/", {}),
        ("post", f"{base}{batch.id}/download", {"format": "csv"}),
        ("post", f"{base}{batch.id}/download", {"format": "cards"}),
        ("post", f"{base}{batch.id}/revoke", {"reason": "hostile"}),
        ("post", f"/console/polls/{poll.id}/email-registration", {"enabled": "1"}),
    ]
    for method, url, data in attempts:
        assert getattr(outsider, method)(url, data).status_code == 404, url
    # A batch of this poll addressed through another poll's URL is not found either.
    own_urals = urals_poll()
    assert outsider.get(f"/console/polls/{own_urals.id}/batches/{batch.id}/").status_code == 404
    assert outsider.post(f"/console/polls/{own_urals.id}/batches/{batch.id}/revoke", {"reason": "x"}).status_code == 404
    batch.refresh_from_db()
    poll.refresh_from_db()
    assert (batch.revoked_at, batch.delivered_at, poll.email_registration) == (None, None, False)
    assert CodeBatch.objects.filter(poll=poll).count() == 1
    assert StoredCodes.objects.filter(batch=batch).exists()
    # Without signing in, every batch URL leads to the login page.
    for method, url, data in attempts:
        assert getattr(Client(), method)(url, data)["Location"].startswith("/console/login")


def test_qr_svg_draws_exactly_the_modules_of_the_qr_code():
    data = "https://vote.example.org/polls/12/#code=K7QM-2XWP-9HTR-4FZA-8B3D"
    svg = str(qr_svg(data))
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, mask_pattern=2)
    reference.add_data(data)
    reference.make(fit=True)
    matrix = reference.get_matrix()
    size = len(matrix)
    assert f'viewBox="0 0 {size} {size}"' in svg
    drawn = set()
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", svg):
        drawn |= {(int(x) + i, int(y)) for i in range(int(width))}
    assert drawn == {(x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark}
    assert "style" not in svg and "<script" not in svg


# --- large batches: chunked, idempotent, through the real worker ---


@pytest.mark.django_db(transaction=True)
def test_filling_a_batch_twice_at_once_never_exceeds_its_size(close_thread_connections):
    poll = siberia_poll()
    size = 2 * CODE_INSERT_CHUNK + 7
    batch = CodeBatch.objects.create(poll=poll, size=size, status="pending")
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            fill_batch(batch.id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    batch.refresh_from_db()
    assert (batch.status, batch.issued) == ("ready", size)
    assert Credential.objects.filter(batch=batch).count() == size
    assert sorted(StoredCodes.objects.filter(batch=batch).values_list("index", flat=True)) == [0, 1, 2]
    fill_batch(batch.id)  # a late redelivery changes nothing
    assert Credential.objects.filter(batch=batch).count() == size


@pytest.fixture
def worker(empty_queue):
    """A real Celery worker (in a thread) on the real Redis broker; its DB connection is closed
    after every task, so the test database can be flushed and dropped."""

    def close_connections(**kwargs):
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
            yield
    finally:
        task_postrun.disconnect(close_connections)


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_hundred_thousand_codes_through_the_worker_download_once_then_revoke(worker):
    poll = siberia_poll()
    client = console_client("sib", region_slugs=["siberia"])
    size = 100_000
    batch = issue(client, poll, size)
    assert batch.status in ("pending", "running")
    first_page = client.get(f"/console/polls/{poll.id}/batches/{batch.id}/").content.decode()
    assert 'http-equiv="refresh"' in first_page  # the page follows the progress by itself
    assert "<progress" in first_page
    assert "Download CSV" not in first_page
    seen = set()

    def ready():
        batch.refresh_from_db()
        seen.add(batch.issued)
        return batch.status == "ready"

    wait_for(ready, 120, "the batch to be issued")
    assert batch.issued == size
    # Progress was visible while it ran, and it moved chunk by chunk (each chunk commits alone).
    assert any(0 < n < size for n in seen), sorted(seen)
    assert all(n % CODE_INSERT_CHUNK == 0 for n in seen)
    done_page = client.get(f"/console/polls/{poll.id}/batches/{batch.id}/").content.decode()
    assert 'http-equiv="refresh"' not in done_page and "Download CSV" in done_page
    assert Credential.objects.filter(batch=batch).count() == size
    assert StoredCodes.objects.filter(batch=batch).count() == size // CODE_INSERT_CHUNK

    response = client.post(f"/console/polls/{poll.id}/batches/{batch.id}/download", {"format": "csv"})
    assert response.status_code == 200
    issued = parse_csv(response)
    assert len(issued) == size
    assert len(set(issued)) == size
    assert all(codes.normalize_code(c) for c in issued)
    assert hashes_of(issued) == credential_hashes(batch)
    refused = client.post(f"/console/polls/{poll.id}/batches/{batch.id}/download", {"format": "csv"})
    assert refused.status_code == 410
    assert b"already downloaded once" in refused.content
    assert not StoredCodes.objects.filter(batch=batch).exists()

    yes = poll.options.first()
    for code in issued[:3]:
        cast_ballot(poll.id, code, yes.id)
    before = sorted(InboxBallot.objects.filter(poll=poll).values_list("id", "key_id", "sealed"))
    assert len(before) == 3
    client.post(f"/console/polls/{poll.id}/batches/{batch.id}/revoke", {"reason": "Leaked on a forum"})
    for code in (issued[3], issued[-1], issued[0]):
        with pytest.raises(CodeRevoked):
            cast_ballot(poll.id, code, yes.id)
    assert sorted(InboxBallot.objects.filter(poll=poll).values_list("id", "key_id", "sealed")) == before
    assert Credential.objects.filter(batch=batch, used=True).count() == 3
    listing = client.get(f"/console/polls/{poll.id}/batches/").content.decode()
    assert "Leaked on a forum" in listing and "100000" in listing
    assert list(AuditEntry.objects.filter(poll=poll).order_by("id").values_list("action", flat=True)) == [
        "issue_batch",
        "revoke_batch",
    ]
