"""Short-lived secrets at rest or in transit, encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

Two things are kept encrypted, each under its own key derived from SECRET_KEY with HKDF and a
purpose label, so that neither key opens the other's data:

- a batch's codes in clear, stored in the database only until their one download;
- a voter's e-mail address, on its way through the task queue to the worker that mails the code.

The key never touches the database or Redis: a stolen dump or queue alone opens nothing. Changing
SECRET_KEY makes undownloaded batches and queued e-mails unreadable (they must then be reissued).
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

BATCH_CODES = "batch-codes"
EMAIL_ADDRESS = "email-address"

__all__ = ["BATCH_CODES", "EMAIL_ADDRESS", "InvalidToken", "decrypt", "encrypt"]


@lru_cache(maxsize=8)
def _fernet(secret_key, purpose):
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"referendum/fernet/{purpose}".encode()
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def fernet(purpose):
    return _fernet(settings.SECRET_KEY, purpose)


def encrypt(purpose, plaintext):
    """bytes → Fernet token (bytes)."""
    return fernet(purpose).encrypt(plaintext)


def decrypt(purpose, token, ttl=None):
    """Fernet token → bytes; raises InvalidToken when tampered with, of another purpose or too old."""
    return fernet(purpose).decrypt(bytes(token), ttl=ttl)
