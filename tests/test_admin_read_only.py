"""The admin only looks: no change to polls, answers, ballots, the ledger, the audit log or
snapshots bypasses the services and their audit entries; no TOTP secret is ever shown; the only
way in is the console's sign-in with its second factor."""

import re
from base64 import b32encode

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from ballots import services
from tallying.services import seal_poll
from tests.console import PASSWORD, make_organizer, verified_client
from tests.factories import make_codes, make_poll

# The models whose rows only services may write.
PROTECTED = ["ballots.poll", "ballots.option", "ballots.inboxballot", "tallying.ledgerentry", "ballots.auditentry",
             "tallying.snapshot", "tallying.pollhead", "tallying.optioncount", "regions.region"]

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def staff_client(db):
    organizer, device = make_organizer("coordinator", role="coordinator")
    organizer.user.is_staff = True
    organizer.user.is_superuser = True
    organizer.user.save()
    return verified_client(organizer, device), device


@pytest.fixture
def sealed_poll(db, settings):
    settings.PUBLISH_MIN_BALLOTS = 2
    poll = make_poll()
    option = poll.options.first()
    codes = make_codes(poll, 4)
    for code in codes[:3]:
        services.cast_ballot(poll.id, code, option.id)
    seal_poll(poll.id)  # publishes the three: ledger entries, counts, a snapshot
    services.cast_ballot(poll.id, codes[3], option.id)  # one waits in the inbox
    services.pause_poll(poll.id, "a test pause")  # an audit entry
    return poll


def protected_models():
    return [apps.get_model(label) for label in PROTECTED]


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.django_db
def test_every_protected_model_is_registered_and_refuses_changes(staff_client, sealed_poll):
    client, _device = staff_client
    for model in protected_models():
        assert admin.site.is_registered(model), model
        obj = model.objects.first()
        assert obj is not None, f"the fixture made no {model.__name__}"
        before = model.objects.count()

        listing = client.get(admin_url(model, "changelist"))
        assert listing.status_code == 200, model
        assert b'name="action"' not in listing.content  # no bulk delete either

        detail = client.get(admin_url(model, "change", obj.pk))
        assert detail.status_code == 200, model
        assert b'type="submit"' not in detail.content or b'name="_save"' not in detail.content

        assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403, model
        assert client.get(admin_url(model, "add")).status_code == 403, model
        assert client.post(admin_url(model, "add"), {}).status_code == 403, model
        assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model
        assert client.post(
            admin_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        ).status_code in (200, 302, 403)
        assert model.objects.count() == before, model

    sealed_poll.refresh_from_db()
    assert sealed_poll.state == "paused"


def admin_pages(client):
    """Every page the admin links to from its index, change lists and change views."""
    seen, queue = set(), ["/admin/"]
    while queue:
        url = queue.pop()
        if url in seen or "/logout/" in url:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        if response.status_code != 200:
            continue
        yield url, response.content.decode()
        for link in re.findall(r'href="(/admin/[^"#?]*)"', response.content.decode()):
            if link not in seen and len(seen) < 400:
                queue.append(link)


@pytest.mark.django_db
def test_no_totp_secret_appears_on_any_admin_page(staff_client, sealed_poll):
    client, device = staff_client
    other_organizer, other_device = make_organizer("siberia", region_slugs=["siberia"])
    secrets = []
    for d in (device, other_device):
        d.refresh_from_db()
        secrets += [d.key, d.key.upper(), b32encode(d.bin_key).decode(), b32encode(d.bin_key).decode().rstrip("=")]
    pages = list(admin_pages(client))
    urls = [url for url, _ in pages]
    assert any("/otp_totp/totpdevice/" in url for url in urls)  # the device pages were visited
    assert len(pages) > 20
    for url, body in pages:
        for secret in secrets:
            assert secret not in body, url
        assert "otpauth://" not in body, url
        assert "/config/" not in url


@pytest.mark.django_db
def test_admin_login_without_second_factor_is_refused():
    organizer, _device = make_organizer("coordinator", role="coordinator")
    organizer.user.is_staff = True
    organizer.user.is_superuser = True
    organizer.user.save()

    # The admin has no login form of its own: it sends people to the console's sign-in.
    client = Client()
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login?next=%2Fadmin%2F")
    response = client.post("/admin/login/", {"username": "coordinator", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/console/login")
    assert client.get("/admin/").status_code == 302

    # The right password alone (the console's first step) does not open the admin.
    response = client.post("/console/login", {"username": "coordinator", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"].endswith("/console/verify")
    for url in ("/admin/", admin_url(apps.get_model("ballots.poll"), "changelist")):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith("/console/login"), url
        assert b"Site administration" not in response.content


@pytest.mark.django_db
def test_after_the_second_factor_the_admin_opens_where_it_was_asked():
    organizer, device = make_organizer("coordinator", role="coordinator")
    organizer.user.is_staff = True
    organizer.user.save()
    from tests.console import current_token

    client = Client()
    client.post("/console/login", {"username": "coordinator", "password": PASSWORD, "next": "/admin/"})
    response = client.post("/console/verify", {"token": current_token(device)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_console_login_gives_one_message_for_every_failure():
    organizer, _device = make_organizer("coordinator", role="coordinator")
    inactive, _ = make_organizer("gone", region_slugs=["siberia"])
    inactive.user.is_active = False
    inactive.user.save()
    bodies = []
    for username, password in (("coordinator", "wrong"), ("nobody", "wrong"), ("gone", PASSWORD)):
        response = Client().post("/console/login", {"username": username, "password": password})
        assert response.status_code == 200
        errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
        bodies.append(errors)
    assert bodies[0] == bodies[1] == bodies[2]
