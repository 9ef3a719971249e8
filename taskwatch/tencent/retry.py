"""Which failures are tried again, how often, and how long to wait.

Reads (Describe*) are retried on transient failures: throttling, InternalError and the other server
errors, network failures, non-200 statuses and garbled bodies, with jittered exponential backoff,
bounded both by a number of attempts and by a deadline on loop time. An answer larger than the
transport accepts (:class:`ResponseTooLarge`) is not: the same request gets the same answer.

Destructive actions (ManageTask, CancelTask, DeleteLivePullStreamTask, and any action taskwatch does
not know) are never retried blindly. They are sent again only when the failure proves the API did
not act: the request was throttled, the connection never opened, or the signature was refused for
clock skew. On a timeout or reset the outcome is unknown: the error goes up, and the executor
re-describes the task before deciding again.

Two auth failures are special for every call: ``AuthFailure.SignatureExpire`` is re-signed once
(the clock may have been stepped since), and ``AuthFailure.TokenFailure`` refreshes the credentials
once (temporary credentials rotated).

Not guaranteed: that the server's own rate-limit window has passed after the backoff; the limiter
is what keeps calls inside the limit, this only recovers from the odd miss.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from taskwatch.tencent.errors import (
    ApiError,
    AuthError,
    ConnectError,
    HttpStatusError,
    NetworkError,
    ProtocolError,
    ResponseTooLarge,
    ServerError,
    SignatureExpiredError,
    TencentError,
    ThrottledError,
)


class Verdict(enum.Enum):
    """What to do after a failed attempt."""

    GIVE_UP = "give_up"
    BACKOFF = "backoff"
    RESIGN = "resign"
    REFRESH = "refresh"


_READ_RETRYABLE_CODES = frozenset({"FailedOperation.AnotherRequestProcessing"})


def classify(exc: TencentError, *, destructive: bool) -> Verdict:
    """The one place that decides whether a failure is worth another attempt."""
    if isinstance(exc, SignatureExpiredError):
        return Verdict.RESIGN
    if isinstance(exc, AuthError):
        return Verdict.REFRESH if exc.code == "AuthFailure.TokenFailure" else Verdict.GIVE_UP
    if isinstance(exc, ThrottledError | ConnectError):
        return Verdict.BACKOFF  # refused before execution: safe even for destructive calls
    if destructive or isinstance(exc, ResponseTooLarge):  # too large again next time
        return Verdict.GIVE_UP
    if isinstance(exc, ServerError | NetworkError | HttpStatusError | ProtocolError):
        return Verdict.BACKOFF
    if isinstance(exc, ApiError) and exc.code in _READ_RETRYABLE_CODES:
        return Verdict.BACKOFF
    return Verdict.GIVE_UP


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for one logical call. Seconds are loop time."""

    attempts: int = 4
    """Attempts in all, the first included."""
    deadline: float = 20.0
    """No new attempt starts later than this after the first one."""
    base: float = 0.2
    """The first backoff; doubled per attempt."""
    cap: float = 5.0
    """The largest backoff."""
    throttle_floor: float = 1.0
    """Backoff at least this long after throttling: the server counts per one-second window."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.deadline <= 0 or self.base <= 0 or self.cap < self.base:
            raise ValueError("deadline and base must be positive and cap >= base")

    def backoff(self, attempt: int, exc: TencentError, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

        "Equal jitter": half fixed, half random, so retries from many tasks spread out but none
        comes back immediately.
        """
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt - 1, 1023))  # no OverflowError
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if isinstance(exc, ThrottledError):
            delay = max(delay, self.throttle_floor * rng.uniform(1.0, 1.5))
        return delay


NO_RETRY = RetryPolicy(attempts=1)
"""For tests and one-shot tools that must see the first failure."""
