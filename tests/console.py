"""Organizer accounts for the console tests: password plus a confirmed TOTP device."""

from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from regions.models import Organizer, Region

PASSWORD = "a long test password 4 organizers"


def make_organizer(username, role="regional", region_slugs=()):
    user = User.objects.create_user(username, password=PASSWORD)
    organizer = Organizer.objects.create(user=user, role=role)
    organizer.regions.set(Region.objects.filter(slug__in=region_slugs))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return organizer, device


def current_token(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def verified_client(organizer, device):
    client = Client()
    response = client.post("/console/login", {"username": organizer.user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    response = client.post("/console/verify", {"token": current_token(device)})
    assert response.status_code == 302 and "/console/" in response["Location"]
    return client
