"""E-mail self-registration: a voter asks for a voting code by e-mail, a worker mails a fresh one.

What the server keeps: HMAC-SHA256(CREDENTIAL_PEPPER, purpose ‖ poll ‖ normalized address) in
EmailRegistration, to refuse the same address a second code for the same poll. What it does not
keep: the address in any form it can read (it travels to the worker encrypted with Fernet, lives in
memory while the mail is sent, and is never written to a log), and any link from the address to
its code. The hash row is written by the web request; the credential by the worker, in another
transaction, after a random delay (so the order of credentials does not simply repeat the order of
addresses).

A first request also writes a PendingMail in the hash row's transaction: the mail request sealed to
the offline recovery key, which the server cannot open. The worker deletes it (the claim) before it
issues the code, so a mail lost with the task queue (Redis) is the pending row still there, and
`manage.py resend_registration_mails --identity FILE` queues it again; a second delivery of one
pending mail finds nothing to claim and sends nothing. docs/threat-model.md says what the claim
leaves in the WAL.

Whether an address had already asked is itself sensitive, so the web page answers the same either
way: the first request gets a code by mail, a later one a polite mail saying a code was already sent.
"""

import functools
import hashlib
import hmac
import json
import logging
import secrets
import unicodedata

import idna
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from publicsuffixlist import PublicSuffixList

from referendum import health, metrics

from . import encryption, keys, mailboxes, sealed, services
from .errors import DomainNotAccepted, MalformedAddress, RegistrationClosed
from .models import EmailRegistration, PendingMail, Poll

log = logging.getLogger(__name__)

HASH_PURPOSE = b"referendum/email-registration/v1"
# A queued mail older than this is not sent (the worker was down for days: the voter has moved on).
TOKEN_TTL_SECONDS = 2 * 24 * 3600
MAX_ADDRESS_LENGTH = 254
# A sealed mail request's plaintext is padded to a multiple of this, so every pending row has one
# length whatever the address (an address is at most 254 bytes, the link a host name and a path).
SEALED_REQUEST_BLOCK = 1024
# How long a delivered task without a pending row (an "already sent" notice) is remembered, so a
# redelivery mails nothing twice (Redis redelivers unacknowledged tasks after its visibility
# timeout, one hour).
DELIVERED_MEMORY_SECONDS = 2 * 24 * 3600


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
    "+tag" removed, a provider's alias domains folded into one and its login read as the provider
    reads it (ballots/mailboxes.py: Gmail's dots, Yandex's "-" for ".", Proton's ".-_"), and dots
    removed at the domains an operator adds in EMAIL_DOTS_IGNORED_DOMAINS.

    The whole address is lowered (also the local part, which RFC 5321 lets a server distinguish;
    no real provider does), so that "Ann@Mail.ru " and "ann@mail.ru" are one address.
    """
    local, domain = _split(text)
    local = local.split("+", 1)[0]
    provider = mailboxes.provider_of(domain)
    if provider is not None:
        local = provider.login(local)
        if provider.same_mailbox:
            domain = provider.canonical
    if domain in settings.EMAIL_DOTS_IGNORED_DOMAINS:
        local = local.replace(".", "")
    if not local:
        raise MalformedAddress()
    return f"{local}@{domain}"


def address_domain(normalized_address):
    return normalized_address.rsplit("@", 1)[1]


@functools.cache
def _suffix_list():
    # The list bundled with the package (ICANN section only): nothing is fetched at run time.
    return PublicSuffixList(only_icann=True)


def registrable_domain(domain):
    """The domain one registrant controls, from the Public Suffix List's ICANN section:
    "a.b.evil.test" -> "evil.test", "x.mail.co.uk" -> "mail.co.uk". Private-section suffixes
    (free subdomain services) are not split off: every name under one such service counts as the
    service, so they share one budget. A bare public suffix stays as it is."""
    return _suffix_list().privatesuffix(domain) or domain


def budget_domain(normalized_address):
    """What the per-domain budget counts: a provider's group (ballots/mailboxes.py) as one, any
    other domain as its registrable domain, so that n0.evil.test … n24.evil.test are one."""
    domain = address_domain(normalized_address)
    provider = mailboxes.provider_of(domain)
    return provider.canonical if provider is not None else registrable_domain(domain)


def _listed_domain(entry):
    """An allow/deny entry as addresses are normalized (IDNA; an alias domain as its group's)."""
    try:
        entry = idna.encode(entry.strip().rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError:
        entry = entry.strip().rstrip(".").lower()
    provider = mailboxes.provider_of(entry)
    return provider.canonical if provider is not None and provider.same_mailbox else entry


def domain_listed(domain, entries):
    """True when the domain is an entry or lies under one, at any depth."""
    for entry in entries:
        listed = _listed_domain(entry)
        if domain == listed or domain.endswith("." + listed):
            return True
    return False


@functools.lru_cache(maxsize=4)
def _budget_keys(entries):
    return frozenset(budget_domain("x@" + _listed_domain(entry)) for entry in entries)


def is_large_provider(normalized_address):
    """A provider named in EMAIL_LARGE_DOMAINS (any of its domains names its whole group)."""
    return budget_domain(normalized_address) in _budget_keys(tuple(settings.EMAIL_LARGE_DOMAINS))


def domain_accepted(normalized_address):
    domain = address_domain(normalized_address)
    allowed = settings.EMAIL_DOMAINS_ALLOWED
    return not domain_listed(domain, settings.EMAIL_DOMAINS_DENIED) and (
        not allowed or domain_listed(domain, allowed)
    )


def check_domain(normalized_address):
    """Refuse a domain the organizers excluded (EMAIL_DOMAINS_DENIED), or one outside the
    allow-list when there is one (EMAIL_DOMAINS_ALLOWED), and every subdomain of either: a
    catch-all or wildcard domain hands out unlimited addresses, so a deployment may deny it (and
    all its subdomains) or accept only the large providers its voters use."""
    if not domain_accepted(normalized_address):
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


def seal_request(poll_id, address, vote_url, language):
    """The mail request, padded and encrypted to the offline recovery recipients: an age file the
    server cannot open (ballots.PendingMail)."""
    request = json.dumps(
        {"poll": poll_id, "address": delivery_address(address), "vote_url": vote_url, "language": language}
    ).encode()
    padded_length = -(-len(request) // SEALED_REQUEST_BLOCK) * SEALED_REQUEST_BLOCK
    return sealed.recovery_copy(request.ljust(padded_length, b" "), keys.recovery_recipients())


def claim(pending_id):
    """Take a pending mail for sending: True for exactly one caller, however many deliveries of it
    run, at once or later. One DELETE, in its own transaction."""
    with transaction.atomic():
        deleted, _by_model = PendingMail.objects.filter(pk=pending_id).delete()
    return deleted == 1


def _delay(busy=False):
    delay = secrets.randbelow(settings.EMAIL_CODE_MAX_DELAY_SECONDS + 1)
    return delay + settings.EMAIL_BUSY_DOMAIN_DELAY_SECONDS if busy else delay


def request_code(poll, address, vote_url, language="en", busy=False):
    """Queue the mail for an address: a fresh code the first time, a polite "already sent" after.

    At most one code per normalized address per poll, even under concurrent requests (a unique
    constraint on (poll, address hash)). Returns nothing that tells the two cases apart.
    `busy`: the address's domain went over its budget (the view counts it): the mail waits up to
    EMAIL_BUSY_DOMAIN_DELAY_SECONDS longer, which leaves an operator alerted by the metric time to
    deny the domain before its codes are issued (deliver() checks the domain again). Nobody is refused.
    A first request's hash row and its PendingMail are written in one transaction, committed
    before the task is queued (a worker must find the pending row it is to claim).
    Raises MalformedAddress, RegistrationClosed, or MailUnavailable (then nothing is recorded).
    """
    if not accepts_registration(poll):
        raise RegistrationClosed()
    normalized = normalize_address(address)
    check_domain(normalized)
    digest = address_hash(poll.pk, normalized)
    # Sealed before any SQL, first request or not: both cost the same, and no statement holds it.
    request = seal_request(poll.pk, address, vote_url, language)
    pending_id = None
    with transaction.atomic():
        first = _record(poll.pk, digest)
        if first:
            queued_at = timezone.now().replace(second=0, microsecond=0)
            pending_id = PendingMail.objects.create(poll_id=poll.pk, sealed=request, queued_at=queued_at).pk
    try:
        queue_mail(mail_token(poll.pk, address, first, vote_url, language, pending_id), _delay(busy))
    except Exception as error:
        log.warning("Could not queue a registration mail (%s); nothing was recorded.", type(error).__name__)
        if first:
            with transaction.atomic():
                PendingMail.objects.filter(pk=pending_id).delete()
                _forget(poll.pk, digest)
        raise MailUnavailable() from None
    metrics.count_email_queued()


def queue_mail(token, delay):
    from . import tasks

    tasks.mail_registration.apply_async((token.decode("ascii"),), countdown=delay)


def mail_token(poll_id, address, first, vote_url, language, pending_id=None):
    """What the worker gets: the request, encrypted (the address never rests in the queue in clear),
    and the id of the pending row it is to claim (none for an "already sent" notice)."""
    return encryption.encrypt(
        encryption.EMAIL_ADDRESS,
        json.dumps(
            {"poll": poll_id, "address": delivery_address(address), "first": first, "vote_url": vote_url,
             "language": language, "pending": str(pending_id) if pending_id else None}
        ).encode(),
    )


def resend_pending(identity_text, queued_before):
    """Queue again every pending mail queued before `queued_before`, opened with the offline
    recovery identity (the text of an age identity file). Returns (queued, not opened): a pending
    mail sealed to another recovery key is left as it is.

    The same pending id goes with the mail, so a mail that was not lost after all, or one queued
    again twice, is still sent once (claim). Nothing about the addresses is logged or returned.
    """
    identities = sealed.parse_identities(identity_text)
    queued = unopened = 0
    for pending_id, box in PendingMail.objects.filter(queued_at__lt=queued_before).values_list("id", "sealed"):
        try:
            request = json.loads(sealed.open_recovery_copy(box, identities))
        except ValueError:
            unopened += 1
            continue
        token = mail_token(request["poll"], request["address"], True, request["vote_url"], request["language"],
                           pending_id)
        try:
            queue_mail(token, _delay())
        except Exception as error:  # kombu and redis-py raise their own types
            log.warning("Could not queue a registration mail again (%s).", type(error).__name__)
            raise MailUnavailable() from None
        queued += 1
    return queued, unopened


def _mail(kind, address, language, **context):
    with translation.override(language):
        subject = render_to_string(f"ballots/register_mail_{kind}_subject.txt", context).strip()
        body = render_to_string(f"ballots/register_mail_{kind}.txt", context)
    send_mail(subject, body, None, [address])


def _first_delivery(delivery_id):
    """True unless this delivery id was seen before (an unacknowledged task Redis redelivered)."""
    return cache.add(f"registration-mail:{delivery_id}", 1, timeout=DELIVERED_MEMORY_SECONDS) is not False


def deliver(token, delivery_id):
    """In the worker: decrypt the request, claim its pending row, issue the code (own transaction)
    and mail it.

    At most one code per pending mail, whatever the queue does: a delivery that cannot claim the
    pending row (another delivery of it took it) does nothing. A notice without a pending row (and a
    task queued before pending rows existed) is sent once per `delivery_id` (the task's id, remembered
    in the cache: better, if a worker dies mid-task, one voter without a notice than two). If the mail
    cannot be sent, the code is withdrawn and the address forgotten, so the voter can simply ask
    again. Nothing about the address, the code or the mail server's answer is logged.
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
    pending_id = payload.get("pending") if payload["first"] else None
    if pending_id is None:
        if not _first_delivery(delivery_id):
            return
    elif not claim(pending_id):
        return
    if not payload["first"]:
        _send_or_log("already", address, language, context)
        return
    normalized = normalize_address(address)
    if not accepts_registration(poll):
        _forget(poll.pk, address_hash(poll.pk, normalized))
        _send_or_log("closed", address, language, context)
        return
    if not domain_accepted(normalized):
        # Denied while the mail waited (an operator answering the busy-domain alert): no code.
        _forget(poll.pk, address_hash(poll.pk, normalized))
        log.warning("A queued registration mail was not sent: its domain is no longer accepted.")
        return
    credential_id, code = services.issue_email_code(poll.pk)
    if not _send_or_log("code", address, language, dict(context, code=code)):
        services.withdraw_email_code(credential_id)
        _forget(poll.pk, address_hash(poll.pk, normalized))


def _send_or_log(kind, address, language, context):
    try:
        _mail(kind, address, language, **context)
    except Exception as error:  # SMTP errors name the recipient: log only the error's type
        log.warning("Sending a registration mail (%s) failed: %s.", kind, type(error).__name__)
        health.count_email("failed")
        return False
    health.count_email("sent")
    return True
