import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import EnrolmentLink, Organizer, Region
from .signals import organizer_action

# The five regions of the referendum, in display order, with the time zone their pages use.
REGIONS = [
    ("siberia", "Siberia", "Сибирь", "Asia/Novosibirsk"),
    ("urals", "Urals", "Урал", "Asia/Yekaterinburg"),
    ("kaliningrad", "Kaliningrad", "Калининград", "Europe/Kaliningrad"),
    ("krasnodar", "Krasnodar", "Краснодар", "Europe/Moscow"),
    ("ingria", "Ingria", "Ингрия", "Europe/Moscow"),
]


@transaction.atomic
def seed_regions():
    """Create or update the five regions; running it again changes nothing."""
    regions = []
    for ordering, (slug, name_en, name_ru, time_zone) in enumerate(REGIONS):
        region, _ = Region.objects.update_or_create(
            slug=slug, defaults={"name_en": name_en, "name_ru": name_ru, "ordering": ordering, "time_zone": time_zone}
        )
        regions.append(region)
    return regions


# --- Regions and organizer accounts, changed by a coordinator from the console ---


class AccountError(Exception):
    """A refused region or account change; `message` is for the person who asked."""

    def __init__(self, message, status=409):
        self.message = message
        self.status = status
        super().__init__(str(message))


OPERATOR_ROLE, OPERATOR_PSEUDONYM = "operator", "command-line"


def _announce(by, action, **detail):
    """Record the change in the public audit log (see regions/signals.py), under pseudonyms only."""
    role, pseudonym = (by.role, by.pseudonym) if by is not None else (OPERATOR_ROLE, OPERATOR_PSEUDONYM)
    organizer_action.send(sender=Organizer, role=role, pseudonym=pseudonym, action=action, detail=detail)


def _require_coordinator(by):
    """`by` is the organizer acting, or None for an operator on the server's command line."""
    if by is not None and by.role != Organizer.Role.COORDINATOR:
        raise AccountError(_("Only a coordinator can manage regions and organizer accounts."), 403)


def add_region(by, slug, name_en, name_ru):
    """Create a region, listed after the existing ones. Its slug never changes once created."""
    _require_coordinator(by)
    slug = slug.strip().lower()
    try:
        with transaction.atomic():
            last = Region.objects.aggregate(last=Max("ordering"))["last"]
            region = Region.objects.create(
                slug=slug, name_en=name_en.strip(), name_ru=name_ru.strip(),
                ordering=0 if last is None else last + 1,
            )
            _announce(by, "add_region", region=slug)
    except IntegrityError:
        raise AccountError(_("A region with this short name already exists.")) from None
    return region


def _hash_token(token):
    return hashlib.sha256(token.encode()).digest()


def _new_link(organizer):
    """A fresh one-time link for the organizer; any older unused link of theirs stops working.
    Returns the token in clear: it is shown once and never stored."""
    EnrolmentLink.objects.filter(organizer=organizer, used_at__isnull=True).delete()
    token = secrets.token_urlsafe(32)
    EnrolmentLink.objects.create(
        organizer=organizer, token_hash=_hash_token(token),
        expires_at=timezone.now() + timedelta(hours=settings.ENROLMENT_LINK_HOURS),
    )
    return token


def end_sessions(user):
    """Delete every session of the user: they are signed out on their next request.

    Sessions are kept only for organizers (voters get none), so scanning the live ones is cheap.
    """
    ended = [
        s.session_key for s in Session.objects.filter(expire_date__gt=timezone.now())
        if s.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(session_key__in=ended).delete()


def create_organizer(by, username, role, regions):
    """Create an organizer account with no password and no second factor yet, and its one-time
    enrolment link (returned in clear, once): (organizer, token)."""
    _require_coordinator(by)
    username = username.strip()
    regions = list(regions)
    if role not in Organizer.Role.values:
        raise AccountError(_("Unknown role."), 400)
    if role == Organizer.Role.REGIONAL and not regions:
        raise AccountError(_("A regional organizer needs at least one region."), 400)
    if User.objects.filter(username__iexact=username).exists():
        raise AccountError(_("This user name is already taken."))
    try:
        with transaction.atomic():
            user = User.objects.create_user(username)  # no usable password until the link is used
            organizer = Organizer.objects.create(user=user, role=role)
            if role == Organizer.Role.REGIONAL:
                organizer.regions.set(regions)
            token = _new_link(organizer)
            _announce(
                by, "create_account", account=organizer.pseudonym, account_role=role,
                regions=sorted(r.slug for r in regions) if role == Organizer.Role.REGIONAL else [],
            )
    except IntegrityError:  # the same name, created at the same moment
        raise AccountError(_("This user name is already taken.")) from None
    return organizer, token


def _locked_organizer(organizer_id):
    organizer = Organizer.objects.select_for_update().select_related("user").filter(pk=organizer_id).first()
    if organizer is None:
        raise AccountError(_("There is no such organizer account."), 404)
    return organizer


@transaction.atomic
def reset_second_factor(by, organizer_id):
    """The organizer's authenticator devices and password stop working at once (their sessions
    end); a new one-time link lets them set a password and enroll again: (organizer, token)."""
    _require_coordinator(by)
    organizer = _locked_organizer(organizer_id)
    if not organizer.user.is_active:
        raise AccountError(_("This account is deactivated."))
    TOTPDevice.objects.filter(user=organizer.user).delete()
    organizer.user.set_unusable_password()
    organizer.user.save(update_fields=["password"])
    end_sessions(organizer.user)
    token = _new_link(organizer)
    _announce(by, "reset_2fa", account=organizer.pseudonym)
    return organizer, token


@transaction.atomic
def deactivate_organizer(by, organizer_id):
    """The account can no longer sign in, and its open sessions end at once."""
    _require_coordinator(by)
    organizer = _locked_organizer(organizer_id)
    if by is not None and organizer.pk == by.pk:
        raise AccountError(_("You cannot deactivate your own account."))
    if not organizer.user.is_active:
        raise AccountError(_("This account is already deactivated."))
    user = organizer.user
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["is_active", "password"])
    EnrolmentLink.objects.filter(organizer=organizer, used_at__isnull=True).delete()
    end_sessions(user)
    _announce(by, "deactivate", account=organizer.pseudonym)
    return organizer


LINK_REFUSED = _(
    "This link does not work: it was already used, replaced by a newer one, or it has expired. "
    "Ask a coordinator for a new link."
)


def live_link(token):
    """The unused, unexpired enrolment link of an active account for this token, else None."""
    if not token:
        return None
    return (
        EnrolmentLink.objects.select_related("organizer__user")
        .filter(token_hash=_hash_token(token), used_at__isnull=True, expires_at__gt=timezone.now(),
                organizer__user__is_active=True)
        .first()
    )


@transaction.atomic
def use_enrolment_link(token, password):
    """Set the account's password from its one-time link: the link dies, any old authenticator
    device is removed (the organizer enrolls a new one next). Returns the user."""
    link = live_link(token)
    if link is not None:
        link = EnrolmentLink.objects.select_for_update().filter(pk=link.pk, used_at__isnull=True).first()
    if link is None:
        raise AccountError(LINK_REFUSED, 410)
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    user = link.organizer.user
    user.set_password(password)
    user.save(update_fields=["password"])
    TOTPDevice.objects.filter(user=user).delete()
    _announce(link.organizer, "enrol", account=link.organizer.pseudonym)
    return user


def create_coordinator(username):
    """The first coordinator of a deployment, from the server's command line: (organizer, token)."""
    return create_organizer(None, username, Organizer.Role.COORDINATOR, [])
