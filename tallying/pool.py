"""Which waiting ballots a publication takes: the hold-back pool (docs/threat-model.md, "The K−1
attack"). Pure functions, shared by sealing (tallying/services.py) and bench/k_minus_one.py."""

import secrets


def shuffle(items):
    """Shuffle in place by sorting on 64 random bits per item from the OS's CSPRNG: one call to
    the OS instead of one per item (SystemRandom.shuffle took a third of a 10,000-ballot
    publication)."""
    keys = secrets.token_bytes(8 * len(items))
    order = sorted(range(len(items)), key=lambda i: keys[8 * i : 8 * i + 8])
    items[:] = [items[i] for i in order]


def ready(waiting, k, hold):
    """A publication happens once K + H ballots wait: K published at least, H held back."""
    return waiting >= k + hold


def split(items, k, hold, shuffle=shuffle):
    """(published, held) of the waiting ballots after a shuffle: `hold` of them, uniformly at
    random, wait for a later publication; None if fewer than K would be published."""
    items = list(items)
    shuffle(items)
    held, published = items[:hold], items[hold:]
    if len(published) < k:
        return None
    return published, held
