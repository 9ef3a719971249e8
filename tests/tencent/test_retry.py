"""Which failures are tried again, and how long to wait: classify() and RetryPolicy as pure data."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import taskwatch.tencent.errors as errors_module
from taskwatch.tencent.errors import (
    ApiError,
    AuthError,
    ConnectError,
    HttpStatusError,
    NetworkError,
    ProtocolError,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    SignatureExpiredError,
    TaskNotActiveError,
    TaskNotFoundError,
    TencentError,
    ThrottledError,
    TransportError,
)
from taskwatch.tencent.retry import NO_RETRY, RetryPolicy, Verdict, classify

BACKOFF, GIVE_UP, RESIGN, REFRESH = (
    Verdict.BACKOFF,
    Verdict.GIVE_UP,
    Verdict.RESIGN,
    Verdict.REFRESH,
)

# (failure, verdict for a read, verdict for a destructive action)
TABLE: list[tuple[TencentError, Verdict, Verdict]] = [
    (SignatureExpiredError("AuthFailure.SignatureExpire", "m", "r"), RESIGN, RESIGN),
    (AuthError("AuthFailure.TokenFailure", "m", "r"), REFRESH, REFRESH),
    (AuthError("AuthFailure.SignatureFailure", "m", "r"), GIVE_UP, GIVE_UP),
    (AuthError("AuthFailure.SecretIdNotFound", "m", "r"), GIVE_UP, GIVE_UP),
    (AuthError("UnauthorizedOperation", "m", "r"), GIVE_UP, GIVE_UP),
    (ThrottledError("RequestLimitExceeded", "m", "r"), BACKOFF, BACKOFF),
    (ThrottledError("RequestLimitExceeded.IPLimitExceeded", "m", "r"), BACKOFF, BACKOFF),
    (ConnectError("refused"), BACKOFF, BACKOFF),
    (ServerError("InternalError", "m", "r"), BACKOFF, GIVE_UP),
    (ServerError("ServiceUnavailable", "m", "r"), BACKOFF, GIVE_UP),
    (ServerError("ResourceUnavailable", "m", "r"), BACKOFF, GIVE_UP),
    (NetworkError("reset"), BACKOFF, GIVE_UP),
    (RequestTimeout("slow"), BACKOFF, GIVE_UP),
    (HttpStatusError(502, b"bad gateway"), BACKOFF, GIVE_UP),
    (ProtocolError("body is not JSON", b"<html>"), BACKOFF, GIVE_UP),
    (ResponseTooLarge(16 << 20), GIVE_UP, GIVE_UP),  # deterministic: as large next time
    (ApiError("FailedOperation.AnotherRequestProcessing", "m", "r"), BACKOFF, GIVE_UP),
    (ApiError("InvalidParameter", "m", "r"), GIVE_UP, GIVE_UP),
    (ApiError("FailedOperation", "m", "r"), GIVE_UP, GIVE_UP),
    (ApiError("LimitExceeded", "m", "r"), GIVE_UP, GIVE_UP),
    (TaskNotFoundError("ResourceNotFound", "m", "r"), GIVE_UP, GIVE_UP),
    (TaskNotActiveError("InvalidParameterValue.NotProcessingTask", "m", "r"), GIVE_UP, GIVE_UP),
    (TransportError("unclassified transport failure"), GIVE_UP, GIVE_UP),
    (TencentError("unclassified failure"), GIVE_UP, GIVE_UP),
]


def _subclasses(cls: type[TencentError]) -> set[type[TencentError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def test_the_table_covers_every_error_class() -> None:
    ours = {c for c in _subclasses(TencentError) if c.__module__ == errors_module.__name__}
    assert ours == {type(exc) for exc, _, _ in TABLE}


@pytest.mark.parametrize(
    ("exc", "read", "destructive"), TABLE, ids=[f"{type(e).__name__}-{e}" for e, _, _ in TABLE]
)
def test_classify_decides_per_error_and_per_kind_of_action(
    exc: TencentError, read: Verdict, destructive: Verdict
) -> None:
    assert classify(exc, destructive=False) is read
    assert classify(exc, destructive=True) is destructive


def test_a_destructive_action_is_only_ever_retried_when_it_was_not_executed() -> None:
    for exc, _, verdict in TABLE:
        if verdict is BACKOFF:
            assert isinstance(exc, ThrottledError | ConnectError)
            assert not getattr(exc, "maybe_executed", False)


# --- backoff ---------------------------------------------------------------------------------

NETWORK = NetworkError("reset")
THROTTLED = ThrottledError("RequestLimitExceeded", "m", "r")


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 3.2), (6, 5.0), (7, 5.0), (60, 5.0)],
)
def test_backoff_doubles_up_to_the_cap_with_equal_jitter(attempt: int, ceiling: float) -> None:
    policy = RetryPolicy()  # base 0.2, cap 5
    rng = random.Random(attempt)
    delays = [policy.backoff(attempt, NETWORK, rng) for _ in range(500)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > ceiling / 4  # the jitter really spreads


def test_backoff_is_reproducible_with_a_seeded_random() -> None:
    policy = RetryPolicy()
    first = [policy.backoff(n, NETWORK, random.Random(5)) for n in range(1, 6)]
    again = [policy.backoff(n, NETWORK, random.Random(5)) for n in range(1, 6)]
    assert first == again


def test_throttling_waits_at_least_the_floor_and_at_most_half_as_long_again() -> None:
    policy = RetryPolicy(base=0.1, cap=0.4, throttle_floor=2.0)
    rng = random.Random(11)
    delays = [policy.backoff(n, THROTTLED, rng) for n in range(1, 5) for _ in range(200)]
    assert all(2.0 <= d <= 3.0 for d in delays)


def test_a_backoff_longer_than_the_floor_is_kept_after_throttling() -> None:
    policy = RetryPolicy(base=8.0, cap=8.0, throttle_floor=1.0)
    rng = random.Random(2)
    assert all(4.0 <= policy.backoff(1, THROTTLED, rng) <= 8.0 for _ in range(200))


def test_the_floor_applies_only_to_throttling() -> None:
    policy = RetryPolicy(base=0.1, cap=0.1, throttle_floor=10.0)
    assert policy.backoff(1, ServerError("InternalError", "m", "r"), random.Random(0)) <= 0.1


@given(attempt=st.integers(min_value=1, max_value=100_000), seed=st.integers())
def test_backoff_stays_within_the_cap_for_any_attempt(attempt: int, seed: int) -> None:
    policy = RetryPolicy(attempts=1_000_000, base=0.2, cap=5.0)
    delay = policy.backoff(attempt, NETWORK, random.Random(seed))
    assert 0.1 <= delay <= 5.0


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"attempts": 0}, id="no-attempts"),
        pytest.param({"attempts": -1}, id="negative-attempts"),
        pytest.param({"deadline": 0}, id="zero-deadline"),
        pytest.param({"deadline": -5}, id="negative-deadline"),
        pytest.param({"base": 0}, id="zero-base"),
        pytest.param({"base": -0.1}, id="negative-base"),
        pytest.param({"base": 2.0, "cap": 1.0}, id="cap-below-base"),
    ],
)
def test_a_policy_that_cannot_work_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_the_defaults_are_a_valid_bounded_policy() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.deadline) == (4, 20.0)
    assert policy.base <= policy.cap


def test_no_retry_means_exactly_one_attempt() -> None:
    assert NO_RETRY.attempts == 1


def test_a_policy_is_immutable() -> None:
    with pytest.raises(AttributeError):
        RetryPolicy().attempts = 9  # type: ignore[misc]
