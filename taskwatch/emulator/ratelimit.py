"""Per-action rate limits as the API enforces them: sliding one-second windows.

Counted per (SecretId, product, action), as reference §9.6 says. A request is admitted while fewer
than ``limit`` requests were admitted in the last second ``(now - 1, now]``; otherwise it gets
``RequestLimitExceeded`` with the real message, whose ``N`` counts every request in that second,
refused ones included (which is how the observed message reads ``21`` against a limit of ``20``).
Refused requests do not consume capacity, so 150 calls in one instant at a limit of 100 give
exactly 50 refusals.

The documented limits are repeated here rather than imported: the emulator is a separate world and
must not depend on the daemon's limiter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from taskwatch.emulator.wire import EmulatedError

DOCUMENTED: dict[tuple[str, str], float] = {
    ("mps", "DescribeTasks"): 100,
    ("mps", "DescribeTaskDetail"): 100,
    ("mps", "ManageTask"): 20,
    ("dlc", "DescribeTasks"): 1000,
    ("dlc", "CancelTask"): 20,
    ("live", "DescribeLivePullStreamTasks"): 30,
    ("live", "DeleteLivePullStreamTask"): 50,
}
DEFAULT = 20.0
"""[inferred] For actions without a documented limit (DescribeLivePullStreamTaskStatus)."""


class RateLimits:
    """Sliding windows per (secret id, product, action)."""

    def __init__(self, overrides: Mapping[tuple[str, str], float] | None = None) -> None:
        self._limits = {**DOCUMENTED, **(overrides or {})}
        self._admitted: dict[tuple[str, str, str], deque[float]] = {}
        self._seen: dict[tuple[str, str, str], deque[float]] = {}

    def limit(self, product: str, action: str) -> float:
        return self._limits.get((product, action), DEFAULT)

    def check(self, secret_id: str, product: str, action: str, now: float) -> None:
        """Admit the request at loop time ``now`` or raise ``RequestLimitExceeded``."""
        key = (secret_id, product, action)
        admitted = self._admitted.setdefault(key, deque())
        seen = self._seen.setdefault(key, deque())
        horizon = now - 1.0
        while admitted and admitted[0] <= horizon:
            admitted.popleft()
        while seen and seen[0] <= horizon:
            seen.popleft()
        seen.append(now)
        limit = self.limit(product, action)
        if len(admitted) >= limit:
            raise EmulatedError(
                "RequestLimitExceeded",
                f"Your current request times equals to `{len(seen)}` in a second, which exceeds "
                f"the frequency limit `{limit:g}` for a second. Please reduce the frequency of "
                "calls.",
                f"您当前每秒请求 `{len(seen)}` 次，"
                f"超过了每秒频率上限 `{limit:g}`，请降低调用频率。",
            )
        admitted.append(now)
