"""Coordinators add regions and organizer accounts from the console; the new organizer sets a
password and enrolls TOTP through a one-time link; reset and deactivation take effect at once;
everything is in the public audit log under pseudonyms. A regional organizer can do none of it."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ballots.models import AuditEntry
from regions.models import EnrolmentLink, Organizer, Region
from tests.console import current_token, make_organizer, verified_client
from tests.factories import make_region

NEW_PASSWORD = "correct horse battery staple 42"
LINK = re.compile(r"(https?://[^\s<\"]+/console/welcome\?token=[\w-]+)")


@pytest.fixture
def coordinator(db):
    make_region()
    organizer, device = make_organizer("coord", role="coordinator")
    return verified_client(organizer, device), organizer


def the_link(response):
    match = LINK.search(response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(1).split("testserver", 1)[1]


def enrol_through(link, username):
    """Follow a one-time link as the new organizer: password, then TOTP. Returns the client."""
    client = Client()
    page = client.get(link)
    assert page.status_code == 200 and username in page.content.decode()
    token = link.split("token=")[1]
    done = client.post("/console/welcome", {"token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"].endswith("/console/enroll")
    assert "<svg" in client.get("/console/enroll").content.decode()
    device = TOTPDevice.objects.get(user__username=username, confirmed=False)
    assert client.post("/console/enroll", {"token": current_token(device)}).status_code == 302
    return client, device


def test_coordinator_adds_a_region_and_an_organizer_who_enrols_with_the_link(coordinator):
    client, boss = coordinator
    added = client.post("/console/regions/", {"slug": "tatarstan", "name_en": "Tatarstan", "name_ru": "Татарстан"})
    assert added.status_code == 302
    region = Region.objects.get(slug="tatarstan")
    assert region.ordering > Region.objects.get(slug="siberia").ordering
    assert "Tatarstan" in client.get("/console/regions/").content.decode()

    made = client.post("/console/accounts/new", {"username": "kazan", "role": "regional", "regions": [region.id]})
    assert made.status_code == 200 and "no-store" in made["Cache-Control"]
    link = the_link(made)
    organizer = Organizer.objects.get(user__username="kazan")
    assert list(organizer.regions.all()) == [region]
    assert not organizer.user.has_usable_password()
    # Only the link's hash is stored.
    token = link.split("token=")[1]
    assert EnrolmentLink.objects.count() == 1 and token.encode() not in bytes(EnrolmentLink.objects.get().token_hash)

    newcomer, device = enrol_through(link, "kazan")
    home = newcomer.get("/console/")
    assert home.status_code == 200
    # The link worked once.
    again = Client().get(link)
    assert again.status_code == 410 and "does not work" in again.content.decode()
    # The new organizer signs in normally from now on, and manages only Tatarstan.
    fresh = Client()
    assert fresh.post("/console/login", {"username": "kazan", "password": NEW_PASSWORD}).status_code == 302
    # The enrolment used this time step's code (django-otp refuses a replay): use the next one.
    device.refresh_from_db()
    next_code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=1):06d}"
    assert fresh.post("/console/verify", {"token": next_code}).status_code == 302
    assert fresh.get("/console/regions/").status_code == 403
    assert fresh.get("/console/accounts/").status_code == 403

    audit = Client().get("/api/v1/audit").json()["entries"]
    actions = [(e["action"], e["organizer"], e["detail"].get("account"), e["region"]) for e in reversed(audit)]
    assert actions == [
        ("add_region", boss.pseudonym, None, "tatarstan"),
        ("create_account", boss.pseudonym, organizer.pseudonym, None),
        ("enrol", organizer.pseudonym, organizer.pseudonym, None),
    ]
    page = Client().get("/audit/").content.decode()
    assert organizer.pseudonym in page and "kazan" not in page and "coord" not in page.replace("coordinator", "")


def test_regional_organizer_is_refused_every_region_and_account_action(coordinator):
    regional, device = make_organizer("siberian", region_slugs=["siberia"])
    client = verified_client(regional, device)
    before = (Region.objects.count(), Organizer.objects.count(), AuditEntry.objects.count())
    assert client.get("/console/regions/").status_code == 403
    assert client.post("/console/regions/", {"slug": "x", "name_en": "X", "name_ru": "Х"}).status_code == 403
    assert client.get("/console/accounts/new").status_code == 403
    assert client.post("/console/accounts/new", {"username": "evil", "role": "coordinator"}).status_code == 403
    assert client.post("/console/accounts/reset", {"organizer": regional.pk}).status_code == 403
    assert client.post("/console/accounts/deactivate", {"organizer": regional.pk, "confirm": "on"}).status_code == 403
    assert (Region.objects.count(), Organizer.objects.count(), AuditEntry.objects.count()) == before
    assert "/console/accounts/" not in client.get("/console/").content.decode()


def test_bad_region_and_account_input_is_refused_clearly(coordinator):
    client, _boss = coordinator
    duplicate = client.post("/console/regions/", {"slug": "siberia", "name_en": "S", "name_ru": "С"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.content.decode()
    bad_slug = client.post("/console/regions/", {"slug": "Новый регион", "name_en": "N", "name_ru": "Н"})
    assert bad_slug.status_code == 400 and "latin lower-case" in bad_slug.content.decode()
    no_region = client.post("/console/accounts/new", {"username": "lonely", "role": "regional"})
    assert no_region.status_code == 400 and "at least one region" in no_region.content.decode()
    taken = client.post("/console/accounts/new", {"username": "COORD", "role": "coordinator"})
    assert taken.status_code == 400 and "already taken" in taken.content.decode()
    russian = Client(HTTP_ACCEPT_LANGUAGE="ru")
    russian.cookies = client.cookies
    refused = russian.post("/console/regions/", {"slug": "siberia", "name_en": "S", "name_ru": "С"})
    assert "уже есть" in refused.content.decode()
    assert Region.objects.count() == 1 and Organizer.objects.count() == 1


def test_weak_password_and_expired_or_replaced_links_are_refused(coordinator):
    client, _boss = coordinator
    link = the_link(client.post("/console/accounts/new", {"username": "anna", "role": "coordinator"}))
    token = link.split("token=")[1]
    weak = Client().post("/console/welcome", {"token": token, "new_password1": "short", "new_password2": "short"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    assert EnrolmentLink.objects.get().used_at is None
    # A new link replaces the old one.
    organizer = Organizer.objects.get(user__username="anna")
    newer = the_link(client.post("/console/accounts/reset", {"organizer": organizer.pk}))
    assert Client().get(link).status_code == 410
    assert Client().get(newer).status_code == 200
    EnrolmentLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1), created_at=timezone.now() - timedelta(days=4))
    expired = Client().post("/console/welcome", {"token": newer.split("token=")[1],
                                                 "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert expired.status_code == 410
    assert not User.objects.get(username="anna").has_usable_password()
    assert Client().get("/console/welcome").status_code == 302


def test_a_password_alone_cannot_enroll_an_authenticator(db):
    user = User.objects.create_user("newcomer", password=NEW_PASSWORD)
    Organizer.objects.create(user=user, role="coordinator")
    client = Client()
    assert client.post("/console/login", {"username": "newcomer", "password": NEW_PASSWORD})["Location"].endswith("/console/enroll")
    page = client.get("/console/enroll")
    assert page.status_code == 403 and "one-time link" in page.content.decode()
    assert client.post("/console/enroll", {"token": "123456"}).status_code == 403
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert client.get("/console/").status_code == 302


def test_reset_second_factor_ends_sessions_and_needs_the_new_link(coordinator):
    client, _boss = coordinator
    regional, device = make_organizer("siberian", region_slugs=["siberia"])
    victim = verified_client(regional, device)
    assert victim.get("/console/").status_code == 200
    link = the_link(client.post("/console/accounts/reset", {"organizer": regional.pk}))
    assert not TOTPDevice.objects.filter(user=regional.user).exists()
    assert victim.get("/console/").status_code == 302  # signed out at once
    newcomer, new_device = enrol_through(link, "siberian")
    assert newcomer.get("/console/").status_code == 200
    assert AuditEntry.objects.filter(action="reset_2fa", detail__account=regional.pseudonym).count() == 1


def test_deactivation_ends_the_open_session_at_once(coordinator):
    client, boss = coordinator
    regional, device = make_organizer("siberian", region_slugs=["siberia"])
    victim = verified_client(regional, device)
    assert victim.get("/console/").status_code == 200
    unconfirmed = client.post("/console/accounts/deactivate", {"organizer": regional.pk})
    assert unconfirmed.status_code == 400 and User.objects.get(pk=regional.user_id).is_active
    done = client.post("/console/accounts/deactivate", {"organizer": regional.pk, "confirm": "on"})
    assert done.status_code == 302
    response = victim.get("/console/")
    assert response.status_code == 302 and "/console/login" in response["Location"]
    assert Client().post("/console/login", {"username": "siberian", "password": "a long test password 4 organizers"}).status_code == 200
    own = client.post("/console/accounts/deactivate", {"organizer": boss.pk, "confirm": "on"})
    assert own.status_code == 409 and User.objects.get(pk=boss.user_id).is_active
    assert AuditEntry.objects.filter(action="deactivate", organizer=boss.pseudonym).count() == 1


def test_create_coordinator_prints_a_working_one_time_link(db, capsys):
    call_command("create_coordinator", "first", "--site-url", "https://vote.example.org")
    output = capsys.readouterr().out
    link = re.search(r"https://vote\.example\.org(/console/welcome\?token=[\w-]+)", output).group(1)
    organizer = Organizer.objects.get(user__username="first")
    assert organizer.role == "coordinator" and organizer.pseudonym in output
    client, _device = enrol_through(link, "first")
    assert client.get("/console/accounts/").status_code == 200
    entry = AuditEntry.objects.get(action="create_account")
    assert (entry.role, entry.organizer) == ("operator", "command-line")
    with pytest.raises(CommandError, match="already taken"):
        call_command("create_coordinator", "FIRST")
