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
import unicodedata

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_SYMBOLS = 20  # 100 bits
TRACKER_SYMBOLS = 32  # 160 bits
# What people type instead of the symbol they mean, after NFKC and upper case (docs/codes.md):
# Crockford's decoding rules (O→0, I/L→1), then the look-alikes a Russian (or Greek, Ukrainian,
# Serbian, Kazakh) keyboard gives for the symbols printed on a card. Lower case needs no entry:
# "в", "н", "т" (small capitals in print) become "В", "Н", "Т" first.
LOOK_ALIKES = {
    "O": "0", "I": "1", "L": "1",
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "0", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "З": "3", "Ѕ": "S", "І": "1", "Ӏ": "1", "Ј": "J", "Ү": "Y",
    "Ԛ": "Q", "Ԝ": "W",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "1", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "0", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}
_CONFUSABLES = str.maketrans(LOOK_ALIKES)
_IGNORED = str.maketrans("", "", " -\t\r\n_")
# Separators and invisible marks a phone keyboard or a copy from a message inserts: every
# Unicode space, dash and format character (non-breaking and thin spaces, en/em dashes, the
# minus sign, soft hyphens, zero-width spaces, byte-order marks), and control characters.
_SEPARATOR_CATEGORIES = {"Zs", "Zl", "Zp", "Pd", "Cf", "Cc"}
_SEPARATORS = "_\u2212\u2043"  # and the low line, the minus sign, the hyphen bullet


class MalformedValue(ValueError):
    """`symbol`: the first character as typed that no symbol of the alphabet stands for (None when
    every character is fine); `length`: how many symbols the text holds once normalised."""

    def __init__(self, text, symbol=None, length=0):
        super().__init__(text)
        self.symbol = symbol
        self.length = length


# RFC 4648's base32 alphabet, symbol for symbol, into ours (both 32 symbols of 5 bits).
_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)


def random_symbols(count):
    """`count` symbols of ALPHABET, each 5 uniformly random bits: the OS's random bytes in base32,
    read in our alphabet (one call to the OS instead of one per symbol)."""
    data = secrets.token_bytes((count * 5 + 7) // 8)
    return base64.b32encode(data).decode("ascii").translate(_FROM_BASE32)[:count]


def group(value, size=4):
    return "-".join(value[i : i + size] for i in range(0, len(value), size))


def _symbols(text):
    """(symbol, as typed) for each character that is not a separator: NFKC (full-width forms),
    upper case, look-alikes mapped. Not validated."""
    for typed in text:
        for ch in unicodedata.normalize("NFKC", typed).upper():
            if ch in _SEPARATORS or unicodedata.category(ch) in _SEPARATOR_CATEGORIES:
                continue
            yield ch.translate(_CONFUSABLES), typed


def canonical(text):
    """The symbols of `text` as they are compared, whether or not they make a valid value (for
    keys that must not tell look-alike spellings of one code apart, such as rate limits)."""
    text = text or ""
    if text.isascii():
        return text.upper().translate(_IGNORED).translate(_CONFUSABLES)
    return "".join(symbol for symbol, _typed in _symbols(text))


def normalize(text, length):
    """Canonical form of a code or tracker as typed: upper case, no separators, look-alikes
    mapped (O→0, I/L→1, Cyrillic А→A, …). MalformedValue names the first character that is
    not allowed."""
    text = text or ""
    if text.isascii():  # the usual case, fast: the cast path calls this for every ballot
        value = text.upper().translate(_IGNORED).translate(_CONFUSABLES)
        if len(value) == length and all(ch in ALPHABET for ch in value):
            return value
    pairs = list(_symbols(text))
    bad = next((typed for symbol, typed in pairs if symbol not in ALPHABET), None)
    value = "".join(symbol for symbol, _typed in pairs)
    if bad is not None or len(value) != length:
        raise MalformedValue(text, symbol=bad, length=len(value))
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


# The tracker shown on the confirmation step travels in the forms with this token: an HMAC
# (SECRET_KEY) over the poll, the tracker and, once the code is known, the code's hash. A client
# can neither choose a tracker nor carry one over to another code; the server keeps nothing
# (docs/receipts.md). Without a code, the token says only "drawn by this server for this poll"
# (the vote page draws the tracker before the code is typed).
_RECEIPT_SIGNER = signing.Signer(salt="ballots.receipt-tracker")


def _receipt_value(poll_id, normalized_code, normalized_tracker):
    code_hash = hash_code(normalized_code).hex() if normalized_code else ""
    return f"{int(poll_id)}:{code_hash}:{normalized_tracker}"


def receipt_token(poll_id, normalized_code, tracker):
    """The token for `tracker` on this poll, bound to the code when `normalized_code` is given."""
    return _RECEIPT_SIGNER.signature(_receipt_value(poll_id, normalized_code, normalize_tracker(tracker)))


def receipt_token_valid(poll_id, normalized_code, tracker, token):
    """Whether `token` was given with `tracker` for this poll (and this code, or no code)."""
    try:
        normalized_tracker = normalize_tracker(tracker)
    except MalformedValue:
        return False
    expected = _RECEIPT_SIGNER.signature(_receipt_value(poll_id, normalized_code, normalized_tracker))
    return isinstance(token, str) and constant_time_compare(expected, token)
