"""Demo data for a first run: one open poll per region and a file of unused voting codes."""

import csv
import re
import secrets
from base64 import b32decode, b32encode
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from regions.models import Organizer, Region
from regions.services import seed_regions

from . import codes
from .models import Credential, Option, Poll
from .services import issue_codes

QUESTIONS_EN = {"urals": "Do you support the independence of the Urals?"}
QUESTIONS_RU = {
    "siberia": "Поддерживаете ли вы независимость Сибири?",
    "urals": "Поддерживаете ли вы независимость Урала?",
    "kaliningrad": "Поддерживаете ли вы независимость Калининграда?",
    "krasnodar": "Поддерживаете ли вы независимость Краснодарского края?",
    "ingria": "Поддерживаете ли вы независимость Ингрии?",
}
ANSWERS = [("Yes", "Да"), ("No", "Нет")]
DEMO_CODES_PER_POLL = 20
MIN_UNUSED_DEMO_CODES = 10


def demo_codes_path():
    return settings.VAR_DIR / "demo-codes.csv"


@transaction.atomic
def seed_demo_polls():
    """Every region gets an open demo poll (closing in 30 days) unless it already has a poll."""
    now = timezone.now()
    polls = []
    for region in seed_regions():
        poll = region.polls.order_by("id").first()
        if poll is None:
            poll = Poll.objects.create(
                region=region,
                question_en=QUESTIONS_EN.get(region.slug, f"Do you support the independence of {region.name_en}?"),
                question_ru=QUESTIONS_RU[region.slug],
                opens_at=now - timedelta(minutes=1),
                closes_at=now + timedelta(days=30),
                state=Poll.State.DRAFT,
            )
            for ordering, (en, ru) in enumerate(ANSWERS):
                Option.objects.create(poll=poll, label_en=en, label_ru=ru, ordering=ordering)
            poll.state = Poll.State.OPEN  # answers first: they are frozen once the poll leaves draft
            poll.save(update_fields=["state"])
        polls.append(poll)
    return polls


def ensure_demo_codes(polls):
    """Keep at least MIN_UNUSED_DEMO_CODES unused codes per open demo poll in var/demo-codes.csv."""
    path = demo_codes_path()
    rows = []
    if path.exists():
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    unused_hashes = set(
        bytes(h)
        for h in Credential.objects.filter(
            code_hash__in=[codes.hash_code(codes.normalize_code(r["code"])) for r in rows], used=False
        ).values_list("code_hash", flat=True)
    )
    rows = [r for r in rows if codes.hash_code(codes.normalize_code(r["code"])) in unused_hashes]
    for poll in polls:
        if poll.phase() != "open":
            continue
        have = sum(1 for r in rows if r["poll"] == str(poll.id))
        if have < MIN_UNUSED_DEMO_CODES:
            _, issued = issue_codes(poll, DEMO_CODES_PER_POLL)
            rows += [{"region": poll.region.slug, "poll": str(poll.id), "code": c} for c in issued]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["region", "poll", "code"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path, len(rows)


DEMO_ORGANIZERS = [("coordinator", "coordinator", []), ("siberia-organizer", "regional", ["siberia"])]


def demo_organizers_path():
    return settings.VAR_DIR / "demo-organizers.txt"


def _listed_demo_organizers(path):
    """{username: (password, TOTP secret in base32)} as var/demo-organizers.txt lists them."""
    listed, username = {}, None
    for line in path.read_text().splitlines() if path.exists() else []:
        account = re.match(r"^\w+: username (\S+)\s+password (\S+)$", line.strip())
        if account:
            username, password = account.groups()
            listed[username] = (password, None)
        secret = re.match(r"^TOTP secret .*: ([A-Z2-7]+=*)$", line.strip())
        if secret and username in listed:
            listed[username] = (listed[username][0], secret.group(1))
    return {name: pair for name, pair in listed.items() if pair[1]}


def _demo_account(username, role, region_slugs, password, key):
    user, _created = User.objects.get_or_create(username=username)
    if not user.check_password(password) or not user.is_active:
        user.set_password(password)
        user.is_active = True
        user.save()
    organizer, _created = Organizer.objects.get_or_create(user=user, defaults={"role": role})
    organizer.role = role
    organizer.save()
    organizer.regions.set(Region.objects.filter(slug__in=region_slugs))
    if not TOTPDevice.objects.filter(user=user, confirmed=True, key=key.hex()).exists():
        TOTPDevice.objects.filter(user=user).delete()
        TOTPDevice.objects.create(user=user, name="demo", confirmed=True, key=key.hex())


@transaction.atomic
def ensure_demo_organizers():
    """One coordinator and one regional organizer with known password and TOTP secret (demo only).

    The accounts listed in var/demo-organizers.txt are made to exist in the database with exactly
    those credentials (so a recreated database still accepts them, and an authenticator app set
    up earlier keeps working); if the file is missing or incomplete, new credentials are written.
    """
    if not settings.DEBUG:
        raise ImproperlyConfigured("Demo organizer accounts exist only in development (DEBUG=1).")
    path = demo_organizers_path()
    listed = _listed_demo_organizers(path)
    if all(username in listed for username, _role, _slugs in DEMO_ORGANIZERS):
        for username, role, region_slugs in DEMO_ORGANIZERS:
            password, secret = listed[username]
            _demo_account(username, role, region_slugs, password, b32decode(secret))
        return path
    lines = ["# Demo organizer accounts (development only). Sign in at /console/login", ""]
    for username, role, region_slugs in DEMO_ORGANIZERS:
        password, key = secrets.token_urlsafe(12), secrets.token_bytes(20)
        _demo_account(username, role, region_slugs, password, key)
        device = TOTPDevice.objects.get(user__username=username)
        lines += [
            f"{role}: username {username}  password {password}",
            f"  TOTP secret (add to an authenticator app): {b32encode(key).decode()}",
            f"  or scan: {device.config_url}",
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path
