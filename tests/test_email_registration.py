"""E-mail self-registration through the real worker: one code per address per poll, a second
request refused politely (by mail, the page says the same), nothing in clear in the database or
the logs, and the address's row and its code never written in one transaction."""

import logging
import re
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core import mail
from django.db import connection, connections
from django.test import Client

from ballots import registration
from ballots.models import CodeBatch, Credential, EmailRegistration
from ballots.services import set_email_registration
from referendum.celery import app
from tests.factories import make_poll, make_region
from tests.test_privacy import dump_database

ADDRESS = "Voter.One+Ref@Example.org"
SAME_ADDRESS_WRITTEN_DIFFERENTLY = "  voter.one+ref@EXAMPLE.ORG "
OTHER_ADDRESS = "second.voter@example.net"
CODE_RE = re.compile(r"^    ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){4})$", re.MULTILINE)


@pytest.fixture
def mail_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EMAIL_CODE_MAX_DELAY_SECONDS = 0
    mail.outbox = []
    return settings


@pytest.fixture
def worker(mail_settings):
    """A real Celery worker (in a thread) on the real Redis broker, its DB connection closed after
    every task; the queue starts and ends empty."""

    def close_connections(**kwargs):
        connections.close_all()

    app.control.purge()
    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
            yield
    finally:
        task_postrun.disconnect(close_connections)
        app.control.purge()


def wait_for_mails(count, seconds=30):
    deadline = time.monotonic() + seconds
    while len(mail.outbox) < count:
        assert time.monotonic() < deadline, f"waited for {count} mails, got {len(mail.outbox)}"
        time.sleep(0.1)
    time.sleep(0.3)  # and nothing more arrives
    assert len(mail.outbox) == count


def ask(client, poll, address):
    return client.post(f"/polls/{poll.id}/register", {"email": address})


def spellings(value):
    plain = value.replace("-", "")
    return {value, plain, value.lower(), plain.lower()}


@pytest.mark.django_db(transaction=True)
def test_one_code_per_address_per_poll_and_nothing_in_clear(worker, caplog):
    caplog.set_level(logging.DEBUG)
    siberia = make_poll()
    urals = make_poll(region=make_region("urals", "Urals", "Урал"))
    closed_for_mail = make_poll(region=make_region("ingria", "Ingria", "Ингрия"))
    set_email_registration(siberia.id, True)
    set_email_registration(urals.id, True)
    client = Client()

    page = client.get(f"/polls/{siberia.id}/register")
    assert page.status_code == 200
    assert b"What we keep, and what we do not" in page.content

    first = ask(client, siberia, ADDRESS)
    assert first.status_code == 200
    assert b"Check your mailbox" in first.content
    wait_for_mails(1)
    message = mail.outbox[0]
    assert message.to == [ADDRESS.lower()]
    (code,) = CODE_RE.findall(message.body)
    assert f"http://testserver/polls/{siberia.id}/#code={code}" in message.body

    # The mailed code votes.
    yes = siberia.options.first()
    receipt = client.post(f"/polls/{siberia.id}/cast", {"code": code, "option": yes.id})
    assert receipt.status_code == 200
    assert b'id="tracker"' in receipt.content
    tracker = re.search(rb'id="tracker" data-tracker="([0-9A-Z-]+)"', receipt.content).group(1).decode()

    # The same address, written differently: the same page, then a polite mail and no second code.
    second = ask(client, siberia, SAME_ADDRESS_WRITTEN_DIFFERENTLY)
    assert second.status_code == 200
    assert b"Check your mailbox" in second.content
    wait_for_mails(2)
    notice = mail.outbox[1]
    assert notice.to == [ADDRESS.lower()]
    assert "already received its code" in notice.body
    assert not CODE_RE.findall(notice.body)
    assert Credential.objects.filter(poll=siberia).count() == 1
    assert EmailRegistration.objects.filter(poll=siberia).count() == 1

    # Another address gets its own code; the same address in another region's poll too, and its
    # hash there is unrelated to the one in Siberia.
    ask(client, siberia, OTHER_ADDRESS)
    ask(client, urals, ADDRESS)
    wait_for_mails(4)
    later_codes = [c for m in mail.outbox[2:] for c in CODE_RE.findall(m.body)]
    assert len(set(later_codes)) == 2 and code not in later_codes
    assert Credential.objects.filter(poll=siberia).count() == 2
    assert Credential.objects.filter(poll=urals).count() == 1
    siberia_hashes = {bytes(h) for h in EmailRegistration.objects.filter(poll=siberia).values_list("address_hash", flat=True)}
    urals_hashes = {bytes(h) for h in EmailRegistration.objects.filter(poll=urals).values_list("address_hash", flat=True)}
    assert siberia_hashes.isdisjoint(urals_hashes)
    email_batch = CodeBatch.objects.get(poll=siberia, kind="email")
    assert (email_batch.size, email_batch.issued) == (2, 2)

    # A poll without e-mail registration refuses, and records and sends nothing.
    refused = ask(client, closed_for_mail, OTHER_ADDRESS)
    assert refused.status_code == 403
    assert b"does not hand out voting codes by e-mail" in refused.content
    time.sleep(0.5)
    assert len(mail.outbox) == 4
    assert not EmailRegistration.objects.filter(poll=closed_for_mail).exists()

    # Nothing in clear: not in a dump of every table, not in any log line.
    dump = dump_database()
    assert "INSERT INTO public.ballots_emailregistration" in dump  # the dump does hold the rows
    assert dump.count("INSERT INTO public.ballots_credential") == 3
    secrets = [ADDRESS, OTHER_ADDRESS, "voter.one", "second.voter", code, *later_codes, tracker]
    for value in secrets:
        for spelling in spellings(value):
            assert spelling not in dump, "an address, a code or a tracker is stored in clear"
            assert spelling not in caplog.text, "an address, a code or a tracker was logged"
    # The refusal was logged (so the check above did read the application's log output).
    assert any(r.name == "django.request" and getattr(r, "status_code", None) == 403 for r in caplog.records)

    # An address's row and its code were written by different transactions.
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmin::text FROM ballots_emailregistration")
        registration_xids = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT xmin::text, xmax::text FROM ballots_credential")
        credential_xids = {x for row in cursor.fetchall() for x in row if x != "0"}
    assert registration_xids.isdisjoint(credential_xids)


@pytest.mark.django_db
def test_bad_addresses_are_refused_with_a_clear_message(mail_settings):
    poll = make_poll()
    set_email_registration(poll.id, True)
    for bad in ("", "not-an-address", "a@b", "x" * 300 + "@example.org"):
        response = ask(Client(), poll, bad)
        assert response.status_code == 400, bad
        assert b'class="error"' in response.content
    assert not EmailRegistration.objects.exists()


@pytest.mark.django_db
def test_requests_for_one_address_are_rate_limited_on_its_hash(mail_settings, settings):
    settings.EMAIL_RATE_PER_ADDRESS = "3/d"  # a day's window: no window boundary inside the test
    app.control.purge()
    try:
        poll = make_poll()
        set_email_registration(poll.id, True)
        spellings_of_one = ["limit@example.org", "LIMIT@example.org", " limit@EXAMPLE.org", "Limit@Example.Org"]
        statuses = [ask(Client(), poll, a).status_code for a in spellings_of_one]
        assert statuses == [200, 200, 200, 429]
        # Another address (from the same network address) is not held back by that limit.
        assert ask(Client(), poll, "someone.else@example.org").status_code == 200
    finally:
        app.control.purge()


@pytest.mark.django_db
def test_normalized_address_and_its_hash():
    assert registration.normalize_address(" Ann @Mail.RU\t") == "ann@mail.ru"
    assert registration.address_hash(1, "ann@mail.ru") == registration.address_hash(1, "ann@mail.ru")
    assert registration.address_hash(1, "ann@mail.ru") != registration.address_hash(2, "ann@mail.ru")
    assert len(registration.address_hash(1, "ann@mail.ru")) == 32
