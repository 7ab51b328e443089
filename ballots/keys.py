"""Publication keys: each poll's ballots are sealed to a key pair that lives one publication period.

Guarantees:
- The private half of a period's key is held only in the key store's memory (KeyStore below:
  Redis with persistence off, PUBLICATION_KEY_STORE_URL; an in-process dict in embedded mode) and
  in one copy encrypted to the offline recovery recipients (PUBLICATION_RECOVERY_RECIPIENTS). It
  never reaches a database row, the WAL or a log in clear.
- A rotation (rotate_key) makes a new key the poll's current one by updating the poll's row: it
  waits for the casts in flight (they hold the row FOR SHARE) and every later cast seals to the
  new key, so the old key's set of ballots is closed the moment the rotation commits.
- forget_published_keys drops a retired key's private half from the key store, and its recovery
  copy from the database, once none of its ballots waits: what its casts wrote can no longer be
  opened by anyone.
"""

import logging
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import sealed
from .models import InboxBallot, PublicationKey

log = logging.getLogger(__name__)

STORE_PREFIX = "referendum:publication-key:"


class KeyStoreUnavailable(Exception):
    """The key store cannot be reached: keys can be neither made nor opened right now."""


class RedisKeyStore:
    """Private halves in Redis, by public key. Redis must run without persistence (docs)."""

    def __init__(self, url):
        import redis

        from referendum.redis_breaker import BreakerConnection

        # The breaker and short timeouts of the cache (referendum/redis_breaker.py): a hung Redis
        # costs a cast one timeout, not one per operation.
        timeout = settings.REDIS_TIMEOUT_SECONDS
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                           connection_class=BreakerConnection)

    def _call(self, method, *args):
        import redis

        try:
            return getattr(self.client, method)(*args)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise KeyStoreUnavailable(str(error)) from None

    def get_many(self, public_keys):
        if not public_keys:
            return {}
        values = self._call("mget", [STORE_PREFIX + bytes(k).hex() for k in public_keys])
        return {bytes(k): v for k, v in zip(public_keys, values, strict=True) if v is not None}

    def put(self, public_key, private_key):
        self._call("set", STORE_PREFIX + bytes(public_key).hex(), bytes(private_key))

    def delete(self, public_key):
        self._call("delete", STORE_PREFIX + bytes(public_key).hex())


class FileKeyStore:
    """Embedded mode only (`make run` without Redis, never a real vote): the web server's processes
    and the in-process publisher share the keys through files in VAR_DIR. On disk, so a seizure of
    that machine reads the waiting ballots: docs/configuration.md says so."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def get_many(self, public_keys):
        found = {}
        for public in public_keys:
            path = self.folder / bytes(public).hex()
            if path.exists():
                found[bytes(public)] = path.read_bytes()
        return found

    def put(self, public_key, private_key):
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / bytes(public_key).hex()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(private_key))
        tmp.chmod(0o600)
        tmp.replace(path)

    def delete(self, public_key):
        (self.folder / bytes(public_key).hex()).unlink(missing_ok=True)


_stores = {}


def key_store():
    url = settings.PUBLICATION_KEY_STORE_URL
    if url not in _stores:
        _stores[url] = RedisKeyStore(url) if url else FileKeyStore(Path(settings.VAR_DIR) / "publication-keys")
    return _stores[url]


def recovery_recipients():
    """The offline recovery recipients; in development, a key generated once into VAR_DIR."""
    recipients = sealed.parse_recipients(settings.PUBLICATION_RECOVERY_RECIPIENTS)
    if recipients:
        return recipients
    if not settings.PUBLICATION_RECOVERY_DEVELOPMENT:
        raise RuntimeError("PUBLICATION_RECOVERY_RECIPIENTS is not set (docs/configuration.md).")
    return sealed.parse_recipients(development_recovery_identity()[1])


def is_recovery_identity(identity_text):
    """True when the identity file holds the identity of one of the current recovery recipients."""
    current = {str(recipient) for recipient in recovery_recipients()}
    return any(str(identity.to_public()) in current for identity in sealed.parse_identities(identity_text))


def development_recovery_identity():
    """(identity text, recipient) of the development recovery key in VAR_DIR (made once)."""
    path = Path(settings.VAR_DIR) / "recovery-identity.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        identity, recipient = sealed.new_identity()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"# public key: {recipient}\n{identity}\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    text = path.read_text()
    recipient = next(line.split(": ", 1)[1].strip() for line in text.splitlines() if line.startswith("# public key:"))
    return text, recipient


def _set_current(cursor, poll_id, key_id, expected):
    cursor.execute(
        "UPDATE ballots_poll SET publication_key_id = %s WHERE id = %s AND publication_key_id IS NOT DISTINCT FROM %s",
        [key_id, poll_id, expected],
    )
    return cursor.rowcount == 1


def current_key_id(poll_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT publication_key_id FROM ballots_poll WHERE id = %s", [poll_id])
        row = cursor.fetchone()
    return row[0] if row else None


def rotate_key(poll_id, expected, allow_unstored=False):
    """Make a fresh key pair the poll's current key if its current key is still `expected` (None:
    the poll has none yet); return the id of the poll's current key afterwards.

    The private half goes to the key store first (KeyStoreUnavailable if it cannot: then nothing
    changes), its recovery copy into the key's row, and the poll's row is updated in the same
    transaction. If another process rotated first, this one's key is discarded unused.
    `allow_unstored` (a poll's first key, made by a cast): if the key store cannot be reached the
    key is made all the same, its private half kept only in the recovery copy, so that voting goes
    on with PostgreSQL alone; the sealer replaces it once the store is back, and recover_ballots
    opens what was cast meanwhile."""
    private, public = sealed.new_key_pair()
    copy = sealed.recovery_copy(private, recovery_recipients())
    store = key_store()
    try:
        store.put(public, private)
    except KeyStoreUnavailable:
        if not allow_unstored:
            raise
        log.warning("Poll %s: the key store cannot be reached; its first key is kept for offline recovery only.",
                    poll_id)
    with transaction.atomic(), connection.cursor() as cursor:
        key = PublicationKey.objects.create(poll_id=poll_id, public_key=public, recovery=copy)
        if _set_current(cursor, poll_id, key.id, expected):
            if expected is not None:
                PublicationKey.objects.filter(pk=expected).update(retired_at=timezone.now())
            return key.id
        transaction.set_rollback(True)
    try:
        store.delete(public)
    except KeyStoreUnavailable:
        pass  # never used: nothing was sealed to it
    return current_key_id(poll_id)


def held_private_keys(poll_id, exclude=None):
    """{key id: private key} of the poll's keys not yet forgotten whose private half the key store
    holds (KeyStoreUnavailable when it cannot be asked)."""
    keys = list(
        PublicationKey.objects.filter(poll_id=poll_id, forgotten_at__isnull=True)
        .exclude(pk=exclude).values_list("id", "public_key")
    )
    held = key_store().get_many([bytes(public) for _id, public in keys])
    return {key_id: held[bytes(public)] for key_id, public in keys if bytes(public) in held}


def forget_published_keys(poll_id):
    """Forget every retired key of the poll none of whose ballots waits: its private half leaves
    the key store and its recovery copy the database. Returns how many were forgotten."""
    waiting = set(InboxBallot.objects.filter(poll_id=poll_id).values_list("key_id", flat=True).distinct())
    current = current_key_id(poll_id)
    done = list(
        PublicationKey.objects.filter(poll_id=poll_id, forgotten_at__isnull=True)
        .exclude(pk__in=waiting | {current}).values_list("id", "public_key")
    )
    store = key_store()
    for key_id, public in done:
        store.delete(bytes(public))
        PublicationKey.objects.filter(pk=key_id).update(forgotten_at=timezone.now(), recovery=None)
    return len(done)


def forget_all_keys(poll_id):
    """After the final publication: nothing of the poll waits, so every key goes."""
    store = key_store()
    for key_id, public in PublicationKey.objects.filter(poll_id=poll_id, forgotten_at__isnull=True).values_list(
        "id", "public_key"
    ):
        store.delete(bytes(public))
        PublicationKey.objects.filter(pk=key_id).update(forgotten_at=timezone.now(), recovery=None)


def restore_from_recovery(identity_text, poll_id=None):
    """Put back into the key store the private halves of keys that still have waiting ballots but
    whose private half the store lost, opened from their recovery copies with the offline identity.
    Returns {poll id: keys restored}."""
    waiting_keys = set(InboxBallot.objects.values_list("key_id", flat=True).distinct())
    keys = PublicationKey.objects.filter(pk__in=waiting_keys, forgotten_at__isnull=True)
    if poll_id is not None:
        keys = keys.filter(poll_id=poll_id)
    keys = list(keys.values_list("id", "poll_id", "public_key", "recovery"))
    store = key_store()
    held = store.get_many([bytes(public) for _i, _p, public, _r in keys])
    restored = {}
    for _key_id, key_poll, public, copy in keys:
        if bytes(public) in held:
            continue
        if copy is None:
            log.error("Publication key of poll %s has waiting ballots but no recovery copy.", key_poll)
            continue
        private = sealed.recover_private_key(bytes(copy), identity_text, bytes(public))
        store.put(bytes(public), private)
        restored[key_poll] = restored.get(key_poll, 0) + 1
    return restored


def ensure_current_key(poll_id):
    """(id, public key) of the poll's current key, made first if the poll has none or the key
    store no longer holds it."""
    key_id = current_key_id(poll_id)
    if key_id is None or key_id not in held_private_keys(poll_id):
        key_id = rotate_key(poll_id, key_id)
    return key_id, bytes(PublicationKey.objects.get(pk=key_id).public_key)


def open_waiting(poll_id):
    """The poll's waiting ballots opened, as (option id, tracker hash): for operators' recounts and
    tests, never for a page (what waits is not published)."""
    held = held_private_keys(poll_id)
    openers = {key_id: sealed.opener(private) for key_id, private in held.items()}
    return [
        openers[key_id](bytes(box))[1:]
        for key_id, box in InboxBallot.objects.filter(poll_id=poll_id, key_id__in=list(held)).values_list("key_id", "sealed")
    ]
