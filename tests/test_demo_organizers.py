"""Demo organizers exist whenever var/demo-organizers.txt lists them: checked against the
database, so a recreated database accepts the logins the file shows."""

from base64 import b32decode

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ballots.demo import _listed_demo_organizers, ensure_demo_organizers
from regions.models import Organizer
from regions.services import seed_regions

pytestmark = pytest.mark.django_db


def signs_in(username, password, secret):
    client = Client()
    if client.post("/console/login", {"username": username, "password": password}).status_code != 302:
        return False
    code = f"{totp(b32decode(secret)):06d}"
    return client.post("/console/verify", {"token": code}).status_code == 302 and client.get("/console/").status_code == 200


def test_listed_accounts_are_recreated_with_the_same_credentials(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # demo accounts exist only in development
    seed_regions()
    path = ensure_demo_organizers()
    text = path.read_text()
    listed = _listed_demo_organizers(path)
    assert set(listed) == {"coordinator", "siberia-organizer"}

    # The database is recreated: nothing of the accounts is left, the file still lists them.
    TOTPDevice.objects.all().delete()
    Organizer.objects.all().delete()
    User.objects.all().delete()
    ensure_demo_organizers()
    assert path.read_text() == text
    password, secret = listed["coordinator"]
    assert signs_in("coordinator", password, secret)
    siberian = Organizer.objects.get(user__username="siberia-organizer")
    assert siberian.role == "regional" and [r.slug for r in siberian.regions.all()] == ["siberia"]

    # Someone changed a password in the database: the file's credentials are put back.
    user = User.objects.get(username="siberia-organizer")
    user.set_password("something else entirely 123")
    user.save()
    ensure_demo_organizers()
    assert User.objects.get(username="siberia-organizer").check_password(listed["siberia-organizer"][0])


def test_a_missing_or_incomplete_file_gets_new_credentials(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # demo accounts exist only in development
    seed_regions()
    path = tmp_path / "demo-organizers.txt"
    path.write_text("# someone emptied this file\n")
    ensure_demo_organizers()
    listed = _listed_demo_organizers(path)
    assert set(listed) == {"coordinator", "siberia-organizer"}
    assert signs_in("siberia-organizer", *listed["siberia-organizer"])
