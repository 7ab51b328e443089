"""Stuffing shows to everyone, not only to those who verify: when a publication's signed total
exceeds the codes marked used (a ballot without a code), or its statement does not verify against
the one before it, /results/, the region's page, the tally API, the console and /metrics say so,
in both languages, instead of the number alone.

The stuffing is done as someone holding the database would: after a normal cast, one used code is
marked unused again straight in the credentials table (the inbox's columns play no part), so the
next publication signs a total above the codes used."""

import json

import pytest
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from ballots.models import Credential
from tallying.models import Snapshot
from tallying.services import refresh_cached_tally, seal_poll
from tests.console import make_organizer, verified_client
from tests.factories import make_poll
from tests.sealing import cast_many

pytestmark = pytest.mark.django_db
TOKEN = "scrape-" + "0123456789abcdef" * 3
WARNING_EN = "Warning: do not rely on these figures."
WARNING_RU = "Внимание: не полагайтесь на эти цифры."


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    def publish(poll, ballots):
        cast_many(poll, ballots)
        with django_capture_on_commit_callbacks(execute=True):  # the cached tally is refreshed on commit
            assert seal_poll(poll.id)

    return publish


def pages(poll):
    client = Client()
    return {
        "/results/": client.get("/results/").content.decode(),
        "region": client.get(f"/results/{poll.region.slug}/").content.decode(),
        "/results/ in Russian": Client(HTTP_ACCEPT_LANGUAGE="ru").get("/results/").content.decode(),
    }


def tally(poll):
    return json.loads(Client().get(f"/api/v1/polls/{poll.id}/tally").content)


def metric(settings, name, poll):
    settings.METRICS_TOKEN = TOKEN
    text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and s.labels.get("poll") == str(poll.id)]
    assert len(samples) == 1, name
    return samples[0].value


def console_pages(poll):
    organizer, device = make_organizer("coordinator-user", role="coordinator", region_slugs=[poll.region.slug])
    client = verified_client(organizer, device)
    return client.get("/console/").content.decode(), client.get(f"/console/polls/{poll.id}/").content.decode()


def test_a_ballot_without_a_code_is_shown_as_a_warning_everywhere(settings, published):
    poll = make_poll()
    published(poll, 4)
    assert tally(poll)["integrity"] == {"ok": True, "ballots_beyond_codes": 0, "problem": None}
    assert not any(WARNING_EN in html or WARNING_RU in html for html in pages(poll).values())
    assert metric(settings, "referendum_ballots_beyond_codes", poll) == 0

    # As the database's owner: a code that voted is marked unused again, so one ballot stands
    # without a code. The next publication signs a total of 5 against 4 codes used.
    used = Credential.objects.filter(poll=poll, used=True).values_list("id", flat=True).first()
    with connection.cursor() as cursor:  # around the trigger that keeps a used code used
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE ballots_credential SET used = false WHERE id = %s", [used])
        cursor.execute("SET session_replication_role = origin")
    published(poll, 1)
    statement = json.loads(Snapshot.objects.filter(poll=poll).latest("id").statement)
    assert statement["total"] == 5 and sum(b["used"] for b in statement["batches"].values()) == 4

    shown = pages(poll)
    for name in ("/results/", "region"):
        assert WARNING_EN in shown[name] and "1 ballot more than the voting codes used" in shown[name], name
        assert "check 36" in shown[name], name  # what a verifier names
    assert WARNING_RU in shown["/results/ in Russian"]
    assert "1 бюллетень больше, чем использовано кодов" in shown["/results/ in Russian"]
    integrity = tally(poll)["integrity"]
    assert integrity["ok"] is False and integrity["ballots_beyond_codes"] == 1
    assert integrity["problem"].startswith("check 36, statement #")
    home, overview = console_pages(poll)
    assert "Warning: 1 ballot beyond the codes used" in home
    assert WARNING_EN in overview and "1 ballot more than the voting codes used" in overview
    assert metric(settings, "referendum_ballots_beyond_codes", poll) == 1
    assert metric(settings, "referendum_statement_invalid", poll) == 1


def test_a_statement_that_does_not_verify_against_the_one_before_is_shown(settings, published):
    """The latest statement taken before the previous one (a clock or a key misused): no stuffing,
    and still no bare figures."""
    poll = make_poll()
    published(poll, 2)
    first = Snapshot.objects.filter(poll=poll).latest("id")
    published(poll, 2)
    with connection.cursor() as cursor:  # as the owner: the first statement moved a day ahead
        cursor.execute("UPDATE tallying_snapshot SET statement = replace(statement, %s, %s) WHERE id = %s",
                       [json.loads(first.statement)["taken_at"][:4], "2999", first.id])
    refresh_cached_tally(poll.id)  # as the next publication would
    integrity = tally(poll)["integrity"]
    assert integrity["ok"] is False and integrity["ballots_beyond_codes"] == 0
    assert integrity["problem"].startswith(f"check 24, statement #{first.id}"), integrity  # its signature broke
    shown = pages(poll)
    assert WARNING_EN in shown["/results/"] and "does not verify against the one before it" in shown["/results/"]
    assert metric(settings, "referendum_statement_invalid", poll) == 1
    assert metric(settings, "referendum_ballots_beyond_codes", poll) == 0
