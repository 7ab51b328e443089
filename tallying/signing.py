"""Ed25519 (pure, RFC 8032) signatures over statements in canonical JSON (docs/verification.md).

What is signed is exactly canonical(statement) (tallying/canonical.py), as UTF-8 bytes.
The private key comes from SNAPSHOT_SIGNING_KEY (base64 of a 32-byte Ed25519 seed).
"""

import base64
import functools

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tallying.canonical import canonical

__all__ = ["canonical", "decode_seed", "private_key", "public_key_hex", "sign", "verify"]


def decode_seed(value):
    seed = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    if len(seed) != 32:
        raise ValueError("SNAPSHOT_SIGNING_KEY must be the base64 of 32 bytes")
    return seed


@functools.cache
def _private_key(seed_b64):
    return Ed25519PrivateKey.from_private_bytes(decode_seed(seed_b64))


def private_key():
    from django.conf import settings

    return _private_key(settings.SNAPSHOT_SIGNING_KEY)


def public_key_hex():
    return private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign(statement):
    """(canonical bytes as text, signature hex) of a statement dict."""
    payload = canonical(statement)
    return payload.decode("utf-8"), private_key().sign(payload).hex()


def verify(public_key_hex_value, payload_text, signature_hex):
    """True when the signature is the key's over the payload (standard library + cryptography)."""
    from cryptography.exceptions import InvalidSignature

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex_value)).verify(
            bytes.fromhex(signature_hex), payload_text.encode("utf-8")
        )
        return True
    except (InvalidSignature, ValueError):
        return False
