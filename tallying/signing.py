"""Ed25519 (pure, RFC 8032) signatures over statements in canonical JSON (docs/verification.md).

What is signed is exactly canonical(statement) (tallying/canonical.py), as UTF-8 bytes.
The private key comes from SNAPSHOT_SIGNING_KEY (base64 of a 32-byte Ed25519 seed).
"""

import base64
import functools

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tallying.canonical import canonical

__all__ = ["canonical", "decode_seed", "private_key", "public_key_hex", "sign", "verify", "rotations",
           "sign_rotation", "KeyNotInForce"]


class KeyNotInForce(Exception):
    """The configured signing key is not the one the published rotations put in force at this time."""


def decode_seed(value):
    seed = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    if len(seed) != 32:
        raise ValueError("SNAPSHOT_SIGNING_KEY must be the base64 of 32 bytes")
    return seed


@functools.cache
def _private_key(seed_b64):
    return Ed25519PrivateKey.from_private_bytes(decode_seed(seed_b64))


class NoSigningKey(Exception):
    """This node holds only the public key (SNAPSHOT_PUBLIC_KEY): signing happens where sealing runs."""


def private_key():
    from django.conf import settings

    if not settings.SNAPSHOT_SIGNING_KEY:
        raise NoSigningKey("this node has no SNAPSHOT_SIGNING_KEY: statements are signed where sealing runs")
    return _private_key(settings.SNAPSHOT_SIGNING_KEY)


def public_key_hex():
    """The statements' public key: SNAPSHOT_PUBLIC_KEY on a web node, else the signing key's."""
    from django.conf import settings

    if settings.SNAPSHOT_PUBLIC_KEY:
        if settings.SNAPSHOT_SIGNING_KEY and _public_hex(private_key()) != settings.SNAPSHOT_PUBLIC_KEY:
            raise ValueError("SNAPSHOT_PUBLIC_KEY is not the public half of SNAPSHOT_SIGNING_KEY")
        return settings.SNAPSHOT_PUBLIC_KEY
    return _public_hex(private_key())


def public_key_of_seed(seed_b64):
    return _public_hex(_private_key(seed_b64.strip()))


def sign(statement):
    """(canonical bytes as text, signature hex) of a statement dict. A statement with a taken_at is
    signed only if our key is the one in force at that time (KeyNotInForce otherwise)."""
    payload = canonical(statement)
    if "taken_at" in statement:
        _check_key_in_force(statement["taken_at"])
    return payload.decode("utf-8"), private_key().sign(payload).hex()


def _public_hex(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@functools.cache
def _rotations(path):
    if not path:
        return ()
    import json

    with open(path, encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def rotations():
    """The published key rotations ({"statement", "signature"}), oldest first."""
    from django.conf import settings

    return list(_rotations(settings.SNAPSHOT_KEY_ROTATIONS))


def key_schedule():
    """The keys in force over time (tallying.verify.KeySchedule), checked like a verifier would."""
    from tallying.verify import KeySchedule, _first_key

    records = rotations()
    schedule = KeySchedule(_first_key(records[0], 1) if records else public_key_hex())
    for number, record in enumerate(records, start=1):
        schedule.rotate(record, f"SNAPSHOT_KEY_ROTATIONS line {number}")
    return schedule


def _check_key_in_force(taken_at):
    from datetime import datetime

    schedule = key_schedule()
    if schedule.key_at(datetime.fromisoformat(taken_at)) != public_key_hex():
        raise KeyNotInForce(
            f"SNAPSHOT_SIGNING_KEY ({public_key_hex()[:16]}…) is not the key in force at {taken_at} by "
            "SNAPSHOT_KEY_ROTATIONS; nothing is signed until the right key is configured"
        )


def sign_rotation(new_public_key_hex, valid_from):
    """A key-rotation record signed by the current key: it hands over to the new key from valid_from."""
    statement = {
        "format": 2, "kind": "key-rotation", "old_key": public_key_hex(), "new_key": new_public_key_hex,
        "valid_from": valid_from.isoformat(),
    }
    payload = canonical(statement)
    return {"statement": payload.decode("utf-8"), "signature": private_key().sign(payload).hex()}


def verify(public_key_hex_value, payload_text, signature_hex):
    """True when the signature is the key's over the payload (the verifier's own check, one
    implementation: tallying.verify.verify_signature)."""
    from tallying.verify import verify_signature

    return verify_signature(public_key_hex_value, payload_text, signature_hex)
