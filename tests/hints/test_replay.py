"""The replay cache: a body seen until its expiry, bounded, the soonest expiry forgotten first."""

from __future__ import annotations

import pytest

from taskwatch.hints import ReplayCache


def test_a_remembered_body_is_seen_until_its_expiry_and_not_after() -> None:
    cache = ReplayCache()
    cache.remember(b"body", expires=100.0, now=0.0)
    assert cache.seen(b"body", now=50.0)
    assert cache.seen(b"body", now=100.0)
    assert not cache.seen(b"body", now=100.5)


def test_a_body_differing_by_one_byte_is_not_seen() -> None:
    cache = ReplayCache()
    cache.remember(b"body", expires=100.0, now=0.0)
    assert not cache.seen(b"body ", now=0.0)


def test_expired_entries_are_dropped_when_something_new_is_remembered() -> None:
    cache = ReplayCache()
    for i in range(5):
        cache.remember(b"old%d" % i, expires=10.0 + i, now=0.0)
    cache.remember(b"new", expires=100.0, now=50.0)
    assert len(cache) == 1


def test_when_full_the_entry_that_expires_soonest_is_forgotten() -> None:
    cache = ReplayCache(capacity=3)
    cache.remember(b"late", expires=300.0, now=0.0)
    cache.remember(b"soon", expires=100.0, now=0.0)
    cache.remember(b"middle", expires=200.0, now=0.0)
    cache.remember(b"newest", expires=250.0, now=0.0)
    assert len(cache) == 3
    assert not cache.seen(b"soon", now=0.0)
    assert all(cache.seen(b, now=0.0) for b in (b"late", b"middle", b"newest"))


def test_remembering_again_with_a_later_expiry_extends_it_and_the_old_entry_is_harmless() -> None:
    cache = ReplayCache(capacity=2)
    cache.remember(b"a", expires=100.0, now=0.0)
    cache.remember(b"a", expires=500.0, now=0.0)
    cache.remember(b"b", expires=200.0, now=0.0)
    cache.remember(b"c", expires=300.0, now=150.0)  # prunes the stale (100, a) heap entry
    assert cache.seen(b"a", now=400.0)
    assert len(cache) == 2


def test_a_cache_holds_at_least_one_body() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ReplayCache(capacity=0)
