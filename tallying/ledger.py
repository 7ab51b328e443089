"""The ledger's hash chain and the poll definition it starts from. Standard library only: the
standalone verifier and watcher use this module too (docs/verification.md).

definition_hash = SHA-256( canonical JSON of the poll's definition )

entry_hash = SHA-256( prev_hash      32 bytes
                    ‖ position       8 bytes, unsigned big-endian
                    ‖ poll id        8 bytes, unsigned big-endian
                    ‖ option id      8 bytes, unsigned big-endian
                    ‖ tracker_hash   32 bytes )

Positions run 1, 2, 3, … without gaps. The first entry's prev_hash is the chain's genesis: the
definition hash (genesis version 2), or 32 zero bytes for chains begun before the definition was
signed (genesis version 1, GENESIS_V1).
"""

import hashlib
import struct

from .canonical import canonical

GENESIS_V1 = bytes(32)
_NUMBERS = struct.Struct(">QQQ")


def definition_hash(definition):
    """SHA-256 of the canonical encoding of a poll definition (a dict, docs/verification.md)."""
    return hashlib.sha256(canonical(definition)).digest()


def genesis(definition, version):
    """The prev_hash of a poll's first entry: its definition hash, or zeros for a version-1 chain."""
    if version == 1:
        return GENESIS_V1
    if version == 2:
        return definition_hash(definition)
    raise ValueError(f"unknown genesis version {version}")


def entry_hash(prev_hash, position, poll_id, option_id, tracker_hash):
    if len(prev_hash) != 32 or len(tracker_hash) != 32:
        raise ValueError("prev_hash and tracker_hash are 32 bytes")
    return hashlib.sha256(
        bytes(prev_hash) + _NUMBERS.pack(position, poll_id, option_id) + bytes(tracker_hash)
    ).digest()


class ChainError(ValueError):
    def __init__(self, position, problem):
        self.position = position
        super().__init__(f"entry {position}: {problem}")


def verify_chain(entries, poll_id=None, start=GENESIS_V1):
    """Check entries (dicts with position, poll, option, tracker_hash, prev_hash, entry_hash as
    bytes or hex) in order from position 1, the first chained to `start` (the genesis); return
    (count, head hash, counts per option).

    Raises ChainError naming the first bad entry.
    """
    prev, expected_position, counts = bytes(start), 1, {}
    for entry in entries:
        def raw(name, entry=entry):
            value = entry[name]
            return bytes.fromhex(value) if isinstance(value, str) else bytes(value)

        position = int(entry["position"])
        if position != expected_position:
            raise ChainError(position, f"expected position {expected_position}")
        poll = int(entry["poll"])
        if poll_id is not None and poll != poll_id:
            raise ChainError(position, f"belongs to poll {poll}, not {poll_id}")
        if raw("prev_hash") != prev:
            raise ChainError(position, "prev_hash does not match the previous entry")
        computed = entry_hash(prev, position, poll, int(entry["option"]), raw("tracker_hash"))
        if computed != raw("entry_hash"):
            raise ChainError(position, "entry_hash does not match its contents")
        counts[int(entry["option"])] = counts.get(int(entry["option"]), 0) + 1
        prev, expected_position = computed, expected_position + 1
    return expected_position - 1, prev, counts
