"""Sealed ballots: what a cast writes, readable only with the publication period's private key.

A sealed ballot is a libsodium sealed box (X25519 + XSalsa20-Poly1305, through PyNaCl) of one
fixed-length plaintext, so every sealed ballot has the same length whatever its answer:

    plaintext = poll id (8 bytes, big-endian) ‖ option id (8 bytes, big-endian) ‖ tracker hash (32 bytes)
    sealed    = SealedBox(publication public key).encrypt(plaintext)          (48 + 48 = 96 bytes)

The poll id inside binds the ballot to its poll: a sealed ballot moved to another poll's inbox
does not open there. The web process seals before any SQL is sent, so no statement, parameter,
row, WAL record or log line written by a cast holds an answer or a tracker hash in clear.

The offline recovery copy of a period's private key is an age file (age-encryption.org, through
pyrage) encrypted to the recovery recipients: only the holder of the recovery identity, kept
outside the server, can open it.
"""

import re

import nacl.exceptions
import nacl.public
import pyrage

PLAINTEXT_LENGTH = 8 + 8 + 32
# The sender's ephemeral public key (32 bytes) and the Poly1305 tag (16) travel with it.
SEALED_LENGTH = PLAINTEXT_LENGTH + 48
KEY_LENGTH = 32


class Unreadable(Exception):
    """A sealed ballot that does not open with the key, or opens to another poll: not one of ours."""


def new_key_pair():
    """(private, public), 32 bytes each, from the OS's CSPRNG."""
    private = nacl.public.PrivateKey.generate()
    return bytes(private), bytes(private.public_key)


def seal(public_key, poll_id, option_id, tracker_hash):
    if len(tracker_hash) != 32:
        raise ValueError("a tracker hash is 32 bytes")
    plaintext = poll_id.to_bytes(8, "big") + option_id.to_bytes(8, "big") + bytes(tracker_hash)
    return nacl.public.SealedBox(nacl.public.PublicKey(bytes(public_key))).encrypt(plaintext)


def opener(private_key):
    """A function sealed → (poll id, option id, tracker hash); raises Unreadable."""
    box = nacl.public.SealedBox(nacl.public.PrivateKey(bytes(private_key)))

    def open_sealed(sealed):
        try:
            plaintext = box.decrypt(bytes(sealed))
        except nacl.exceptions.CryptoError:
            raise Unreadable() from None
        if len(plaintext) != PLAINTEXT_LENGTH:
            raise Unreadable()
        return int.from_bytes(plaintext[:8], "big"), int.from_bytes(plaintext[8:16], "big"), plaintext[16:]

    return open_sealed


def parse_recipients(text):
    """age X25519 recipients (age1…) from a comma- or space-separated setting."""
    recipients = []
    for item in (k for k in re.split(r"[\s,]+", text or "") if k):
        try:
            recipients.append(pyrage.x25519.Recipient.from_str(item))
        except Exception as error:  # pyrage raises its own error types
            raise ValueError(f"not an age X25519 recipient (age1…): {item[:12]}…") from error
    return recipients


def recovery_copy(data, recipients):
    """Bytes (a private key, a sealed mail request) encrypted to the offline recovery recipients:
    an age file, which only the recovery identity opens."""
    if not recipients:
        raise ValueError("no recovery recipient")
    return pyrage.encrypt(bytes(data), recipients)


def parse_identities(identity_text):
    """The age identities in an identity file's text (lines AGE-SECRET-KEY-1…)."""
    identities = [
        pyrage.x25519.Identity.from_str(line.strip())
        for line in identity_text.splitlines()
        if line.strip().startswith("AGE-SECRET-KEY-")
    ]
    if not identities:
        raise ValueError("the identity file holds no age identity (AGE-SECRET-KEY-1…)")
    return identities


def open_recovery_copy(copy, identities):
    """The bytes of a recovery copy, opened with parsed identities; ValueError if they do not open it."""
    try:
        return pyrage.decrypt(bytes(copy), identities)
    except pyrage.DecryptError:
        raise ValueError("this identity does not open the recovery copy") from None


def recover_private_key(copy, identity_text, public_key):
    """Open a recovery copy with an age identity file's text (lines AGE-SECRET-KEY-1…); the key
    it holds must be the private half of `public_key`."""
    private = open_recovery_copy(copy, parse_identities(identity_text))
    if len(private) != KEY_LENGTH or bytes(nacl.public.PrivateKey(private).public_key) != bytes(public_key):
        raise ValueError("the recovery copy does not hold this publication key")
    return private


def new_identity():
    """A fresh age identity: (identity text, recipient text)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())
