"""Voting codes and receipt trackers: random values written for humans in Crockford base32.

A code carries 100 random bits (20 symbols, shown as five groups of four); only
HMAC-SHA256(CREDENTIAL_PEPPER, normalized code) is stored. A tracker carries 160 random bits
(32 symbols, eight groups of four); only SHA-256(normalized tracker) is stored, so anyone
holding a receipt can find its entry in the public ledger.
"""

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_SYMBOLS = 20  # 100 bits
TRACKER_SYMBOLS = 32  # 160 bits
# What people type instead of the symbol they mean (Crockford's decoding rules).
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_IGNORED = str.maketrans("", "", " -\t\r\n_")


class MalformedValue(ValueError):
    pass


# RFC 4648's base32 alphabet, symbol for symbol, into ours (both 32 symbols of 5 bits).
_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)


def random_symbols(count):
    """`count` symbols of ALPHABET, each 5 uniformly random bits: the OS's random bytes in base32,
    read in our alphabet (one call to the OS instead of one per symbol)."""
    data = secrets.token_bytes((count * 5 + 7) // 8)
    return base64.b32encode(data).decode("ascii").translate(_FROM_BASE32)[:count]


def group(value, size=4):
    return "-".join(value[i : i + size] for i in range(0, len(value), size))


def normalize(text, length):
    """Canonical form of a code or tracker as typed: upper case, no separators, O→0, I/L→1."""
    value = (text or "").upper().translate(_IGNORED).translate(_CONFUSABLES)
    if len(value) != length or any(ch not in ALPHABET for ch in value):
        raise MalformedValue(text)
    return value


def new_code():
    return group(random_symbols(CODE_SYMBOLS))


def normalize_code(text):
    return normalize(text, CODE_SYMBOLS)


def hash_code(normalized_code):
    return hmac.new(settings.CREDENTIAL_PEPPER, normalized_code.encode("ascii"), hashlib.sha256).digest()


def new_tracker():
    return group(random_symbols(TRACKER_SYMBOLS))


def normalize_tracker(text):
    return normalize(text, TRACKER_SYMBOLS)


def hash_tracker(normalized_tracker):
    return hashlib.sha256(normalized_tracker.encode("ascii")).digest()
