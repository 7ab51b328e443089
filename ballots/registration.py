"""E-mail self-registration: a voter asks for a voting code by e-mail, a worker mails a fresh one.

What the server keeps: HMAC-SHA256(CREDENTIAL_PEPPER, purpose ‖ poll ‖ normalized address) in
EmailRegistration, to refuse the same address a second code for the same poll. What it does not
keep: the address (it travels to the worker encrypted with Fernet, lives in memory while the mail
is sent, and is never written to the database or a log), and any link from the address to its code.
The hash row is written by the web request; the credential by the worker, in another transaction,
after a random delay (so the order of credentials does not simply repeat the order of addresses).

Whether an address had already asked is itself sensitive, so the web page answers the same either
way: the first request gets a code by mail, a later one a polite mail saying a code was already sent.
"""

import hashlib
import hmac
import json
import logging
import secrets
import unicodedata

import idna
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import translation

from referendum import health, metrics

from . import encryption, services
from .errors import DomainNotAccepted, MalformedAddress, RegistrationClosed
from .models import EmailRegistration, Poll

log = logging.getLogger(__name__)

HASH_PURPOSE = b"referendum/email-registration/v1"
# A queued mail older than this is not sent (the worker was down for days: the voter has moved on).
TOKEN_TTL_SECONDS = 2 * 24 * 3600
MAX_ADDRESS_LENGTH = 254
# Domains that deliver to one mailbox under several names.
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


class MailUnavailable(Exception):
    """The task queue did not take the mail; nothing was recorded."""


def _split(text):
    """(local part, ASCII domain) of an address as typed: NFKC, no whitespace, lower case, the
    domain in IDNA (so "почта.рф" and "xn--80a1acny.xn--p1ai" are one domain)."""
    value = "".join(unicodedata.normalize("NFKC", text or "").split()).lower()
    if len(value) > MAX_ADDRESS_LENGTH or value.count("@") != 1:
        raise MalformedAddress()
    local, domain = value.split("@")
    try:
        domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError:
        raise MalformedAddress() from None
    address = f"{local}@{domain}"
    try:
        validate_email(address)
    except ValidationError:
        raise MalformedAddress() from None
    return local, domain


def delivery_address(text):
    """Where the mail goes: the address as typed, cleaned (the voter's own +tag is kept)."""
    local, domain = _split(text)
    return f"{local}@{domain}"


def normalize_address(text):
    """One spelling per mailbox, which is what gets one code: lower case, IDNA domain, the
    "+tag" removed, dots removed where the provider ignores them (EMAIL_DOTS_IGNORED_DOMAINS),
    and a provider's alias domains folded into one (googlemail.com is gmail.com).

    The whole address is lowered (also the local part, which RFC 5321 lets a server distinguish;
    no real provider does), so that "Ann@Mail.ru " and "ann@mail.ru" are one address.
    """
    local, domain = _split(text)
    domain = DOMAIN_ALIASES.get(domain, domain)
    local = local.split("+", 1)[0]
    if domain in settings.EMAIL_DOTS_IGNORED_DOMAINS:
        local = local.replace(".", "")
    if not local:
        raise MalformedAddress()
    return f"{local}@{domain}"


def address_domain(normalized_address):
    return normalized_address.rsplit("@", 1)[1]


def check_domain(normalized_address):
    """Refuse a domain the organizers excluded (EMAIL_DOMAINS_DENIED), or one outside the
    allow-list when there is one (EMAIL_DOMAINS_ALLOWED): a catch-all domain hands out unlimited
    addresses, so a deployment may accept only the large providers its voters use."""
    domain = address_domain(normalized_address)
    allowed = settings.EMAIL_DOMAINS_ALLOWED
    if domain in settings.EMAIL_DOMAINS_DENIED or (allowed and domain not in allowed):
        raise DomainNotAccepted()


def address_hash(poll_id, normalized_address):
    """Keyed hash of a normalized address for one poll: the same address gives unrelated values in
    two polls, and without the pepper nobody can test an address against the table."""
    message = b"\x00".join([HASH_PURPOSE, str(int(poll_id)).encode(), normalized_address.encode("utf-8")])
    return hmac.new(settings.CREDENTIAL_PEPPER, message, hashlib.sha256).digest()


def accepts_registration(poll):
    return poll.email_registration and poll.phase() in ("not_yet_open", "open")


def _record(poll_id, digest):
    """True when this is the address's first request for the poll (the hash row is new)."""
    try:
        with transaction.atomic():
            EmailRegistration.objects.create(poll_id=poll_id, address_hash=digest)
        return True
    except IntegrityError:
        return False


def _forget(poll_id, digest):
    EmailRegistration.objects.filter(poll_id=poll_id, address_hash=digest).delete()


def request_code(poll, address, vote_url, language="en"):
    """Queue the mail for an address: a fresh code the first time, a polite "already sent" after.

    At most one code per normalized address per poll, even under concurrent requests (a unique
    constraint on (poll, address hash)). Returns nothing that tells the two cases apart.
    Raises MalformedAddress, RegistrationClosed, or MailUnavailable (then nothing is recorded).
    """
    from . import tasks

    if not accepts_registration(poll):
        raise RegistrationClosed()
    normalized = normalize_address(address)
    check_domain(normalized)
    digest = address_hash(poll.pk, normalized)
    first = _record(poll.pk, digest)
    token = encryption.encrypt(
        encryption.EMAIL_ADDRESS,
        json.dumps(
            {"poll": poll.pk, "address": delivery_address(address), "first": first, "vote_url": vote_url,
             "language": language}
        ).encode(),
    )
    delay = secrets.randbelow(settings.EMAIL_CODE_MAX_DELAY_SECONDS + 1)
    try:
        tasks.mail_registration.apply_async((token.decode("ascii"),), countdown=delay)
    except Exception as error:
        log.warning("Could not queue a registration mail (%s); nothing was recorded.", type(error).__name__)
        if first:
            _forget(poll.pk, digest)
        raise MailUnavailable() from None
    metrics.count_email_queued()


def _mail(kind, address, language, **context):
    with translation.override(language):
        subject = render_to_string(f"ballots/register_mail_{kind}_subject.txt", context).strip()
        body = render_to_string(f"ballots/register_mail_{kind}.txt", context)
    send_mail(subject, body, None, [address])


def deliver(token):
    """In the worker: decrypt the request, issue the code (own transaction) and mail it.

    If the mail cannot be sent, the code is withdrawn and the address forgotten, so the voter can
    simply ask again. Nothing about the address, the code or the mail server's answer is logged.
    """
    try:
        payload = json.loads(
            encryption.decrypt(encryption.EMAIL_ADDRESS, token.encode("ascii"), ttl=TOKEN_TTL_SECONDS)
        )
    except encryption.InvalidToken:
        log.warning("A queued registration mail could not be decrypted (too old, or SECRET_KEY changed); not sent.")
        return
    poll = Poll.objects.select_related("region").filter(pk=payload["poll"]).first()
    address, language = payload["address"], payload["language"]
    context = {"poll": poll, "vote_url": payload["vote_url"]}
    if poll is None:
        return
    if not payload["first"]:
        _send_or_log("already", address, language, context)
        return
    if not accepts_registration(poll):
        _forget(poll.pk, address_hash(poll.pk, normalize_address(address)))
        _send_or_log("closed", address, language, context)
        return
    credential_id, code = services.issue_email_code(poll.pk)
    if not _send_or_log("code", address, language, dict(context, code=code)):
        services.withdraw_email_code(credential_id)
        _forget(poll.pk, address_hash(poll.pk, normalize_address(address)))


def _send_or_log(kind, address, language, context):
    try:
        _mail(kind, address, language, **context)
    except Exception as error:  # SMTP errors name the recipient: log only the error's type
        log.warning("Sending a registration mail (%s) failed: %s.", kind, type(error).__name__)
        health.count_email("failed")
        return False
    health.count_email("sent")
    return True
