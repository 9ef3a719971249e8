"""The secret registry of taskwatch.logs stays bounded: temporary secrets leave after their
expiry and a grace, and beyond a cap (oldest first); secrets without expiry never leave.

Most tests use a fresh :class:`~taskwatch.logs.SecretRegistry` (the process's own is shared by
the whole suite); the last ones go through the module's functions.
"""

from __future__ import annotations

import threading
import time

from taskwatch import logs
from taskwatch.logs import REDACTED, SecretRegistry

HOUR = 3600.0
LIFETIME = 7200.0
RENEW_EVERY = 0.8 * LIFETIME  # what RefreshingCredentials does with a two-hour lifetime


def key(i: int) -> str:
    return f"tmp-secret-key-{i:08d}"


def token(i: int) -> str:
    return f"tmp-session-token-{i:08d}-abcdef"


def test_the_registry_stays_bounded_over_ten_thousand_renewals() -> None:
    registry = SecretRegistry()
    registry.register("STATIC-KEY-never-leaves-0001")
    sizes = []
    for i in range(10_000):
        now = i * RENEW_EVERY
        for value in (key(i), token(i)):
            registry.register(value, expires_at=now + LIFETIME, now=now)
        sizes.append(registry.counts().temporary)
    # held + previous (in grace) + the one before: a handful, never growing with renewals
    assert max(sizes) <= 6
    assert sizes[-1] == sizes[-100]
    assert registry.counts().permanent == 1
    last = f"{key(9_999)} {token(9_999)} {key(9_998)} {key(0)}"
    assert registry.replace(last) == f"{REDACTED} {REDACTED} {REDACTED} {key(0)}"


def test_an_expired_token_is_still_scrubbed_during_the_grace_then_dropped() -> None:
    registry = SecretRegistry(grace=HOUR)
    registry.register(token(1), expires_at=1000.0, now=0.0)
    registry.register(token(2), expires_at=9000.0, now=1000.0 + HOUR - 1)  # expired, in grace
    assert registry.replace(f"late error quoting {token(1)}") == f"late error quoting {REDACTED}"
    registry.register(token(3), expires_at=9000.0, now=1000.0 + HOUR + 1)  # grace over
    assert registry.replace(f"quoting {token(1)}") == f"quoting {token(1)}"
    assert registry.replace(token(2)) == REDACTED


def test_beyond_the_cap_the_oldest_temporary_secrets_are_evicted_first() -> None:
    registry = SecretRegistry(cap=100)
    for i in range(10_000):
        registry.register(key(i), expires_at=1e12, now=0.0)  # none expires: only the cap bounds
    assert registry.counts().temporary == 100
    assert registry.replace(key(9_899)) == key(9_899)
    assert registry.replace(key(9_900)) == REDACTED
    assert registry.replace(key(9_999)) == REDACTED


def test_registering_a_temporary_secret_again_makes_it_the_newest() -> None:
    registry = SecretRegistry(cap=2)
    registry.register(key(1), expires_at=5000.0, now=0.0)
    registry.register(key(2), expires_at=5000.0, now=0.0)
    registry.register(key(1), expires_at=5000.0, now=10.0)  # seen again: the newest
    registry.register(key(3), expires_at=5000.0, now=20.0)
    assert registry.replace(f"{key(1)} {key(2)} {key(3)}") == f"{REDACTED} {key(2)} {REDACTED}"


def test_registering_a_temporary_secret_again_keeps_the_later_expiry() -> None:
    registry = SecretRegistry()
    registry.register(key(1), expires_at=5000.0, now=0.0)
    registry.register(key(1), expires_at=4000.0, now=10.0)  # an older answer: 5000 stays
    registry.register(key(2), expires_at=9000.0, now=4000.0 + HOUR + 1)
    assert registry.replace(key(1)) == REDACTED
    registry.register(key(3), expires_at=9000.0, now=5000.0 + HOUR + 1)
    assert registry.replace(key(1)) == key(1)


def test_a_value_already_past_its_grace_is_not_kept() -> None:
    registry = SecretRegistry()
    registry.register(key(1), expires_at=100.0, now=100.0 + HOUR + 1)
    assert registry.counts().temporary == 0


def test_a_static_key_survives_any_number_of_renewals() -> None:
    registry = SecretRegistry(cap=10)
    static = "STATIC-SECRET-KEY-0123456789"
    registry.register(static)
    for i in range(10_000):
        now = i * RENEW_EVERY
        registry.register(key(i), expires_at=now + LIFETIME, now=now)
        registry.register(static)  # a source that reads its key again at every call
    assert registry.replace(f"bad key {static}") == f"bad key {REDACTED}"
    assert registry.counts().permanent == 1
    assert registry.counts().temporary <= 10


def test_the_latest_registration_of_a_value_decides_whether_it_is_temporary() -> None:
    """Credentials register their values when built; the source that fetched them registers
    them again with their expiry, which makes them temporary."""
    registry = SecretRegistry(cap=1)
    registry.register(key(1))  # as Credentials.__post_init__ does
    registry.register(key(1), expires_at=10.0, now=0.0)  # as the refreshing source does next
    assert registry.counts() == logs.SecretCounts(permanent=0, temporary=1)
    registry.register(key(2))
    registry.register(key(2), expires_at=10.0, now=0.0)
    registry.register(key(2))  # registered for good again: never dropped
    for i in range(3, 50):
        registry.register(key(i), expires_at=10.0 * i + 2 * HOUR, now=10.0 * i)
    assert registry.replace(f"{key(1)} {key(2)}") == f"{key(1)} {REDACTED}"
    assert registry.counts() == logs.SecretCounts(permanent=1, temporary=1)


def test_a_longer_secret_is_replaced_whole_even_when_a_shorter_one_is_inside_it() -> None:
    registry = SecretRegistry()
    registry.register("inner-secret-123")
    registry.register("prefix-inner-secret-123-suffix", expires_at=100.0, now=0.0)
    assert registry.replace("x prefix-inner-secret-123-suffix y") == f"x {REDACTED} y"


def test_short_values_are_not_registered_temporary_or_not() -> None:
    registry = SecretRegistry()
    registry.register("abc", expires_at=100.0, now=0.0)
    registry.register("")
    registry.register(None)
    assert registry.counts() == logs.SecretCounts(permanent=0, temporary=0)


def _best_of(runs: int, registry: SecretRegistry, text: str) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(20):
            registry.replace(text)
        best = min(best, time.perf_counter() - started)
    return best


def test_scrubbing_costs_grow_linearly_with_the_registry() -> None:
    text = "an API error quoting nothing registered at all, " * 40  # about 2,000 characters
    small, large = SecretRegistry(cap=10_000), SecretRegistry(cap=10_000)
    for i in range(500):
        small.register(key(i), expires_at=1e12, now=0.0)
    for i in range(4_000):
        large.register(key(i), expires_at=1e12, now=0.0)
    ratio = _best_of(7, large, text) / _best_of(7, small, text)
    assert ratio < 8 * 2.5, ratio  # 8 times the secrets: linear, with room for a noisy machine


def test_registering_and_scrubbing_from_many_threads_loses_nothing_and_never_raises() -> None:
    registry = SecretRegistry(cap=10_000)
    errors: list[BaseException] = []
    stop = threading.Event()

    def scrubber() -> None:
        try:
            while not stop.is_set():
                registry.replace("nothing here but words " * 10)
        except BaseException as exc:  # reported below, whatever it is
            errors.append(exc)

    def registrar(n: int) -> None:
        for i in range(2_000):
            registry.register(f"thread-{n}-secret-{i:06d}", expires_at=1e12, now=0.0)
            registry.register(f"thread-{n}-static-{i:06d}")

    readers = [threading.Thread(target=scrubber) for _ in range(2)]
    writers = [threading.Thread(target=registrar, args=(n,)) for n in range(4)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert registry.counts() == logs.SecretCounts(permanent=8_000, temporary=8_000)


def test_the_module_registry_scrubs_a_temporary_secret_and_counts_it() -> None:
    value = "module-level-temporary-token-5f0c1e"
    assert logs.scrub(f"echo {value}") == f"echo {value}"
    logs.register_secret(value, expires_at=2e9, now=0.0)  # now=0: prunes nothing of the suite's
    assert logs.scrub(f"echo {value}") == f"echo {REDACTED}"
    assert logs.secret_counts().temporary >= 1
