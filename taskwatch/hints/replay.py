"""Notifications already accepted, remembered until they expire: a replayed body is refused.

An MPS signature covers only the ``Timestamp`` (an expiry), not the body, and a Live callback has
no signature at all: a captured request can be sent again, unchanged, until it expires. The cache
remembers the SHA-256 of every verified body until the expiry its message carries (MPS: its
``Timestamp``; Live: ``event_time + events.max_age``), so the second copy is answered
``replayed`` (200, nothing done). After the expiry the verifier refuses the body anyway
(``expired``), so nothing needs remembering longer.

Not guaranteed: the cache is bounded (:data:`CAPACITY`); when full, the entry that expires
soonest is forgotten first, and a replay of it becomes an ordinary hint again (deduplicated,
rate-limited, and never more than a describe). A body changed by one byte is not a replay: a
forged body under a captured signature is a new hint, which is why a hint decides nothing.
Per process: replicas each remember their own. Wall time, as the expiries are.
"""

from __future__ import annotations

import hashlib
import heapq

__all__ = ["CAPACITY", "ReplayCache"]

CAPACITY = 10_000
"""Bodies remembered at most (about 100 bytes each)."""


class ReplayCache:
    """SHA-256 of verified bodies → their expiry (UTC epoch seconds); see the module."""

    __slots__ = ("_expiries", "_heap", "capacity")

    def __init__(self, *, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._expiries: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []

    def __len__(self) -> int:
        return len(self._expiries)

    def seen(self, body: bytes, *, now: float) -> bool:
        """Whether ``body`` was remembered and has not expired at ``now``."""
        expires = self._expiries.get(hashlib.sha256(body).digest())
        return expires is not None and expires >= now

    def remember(self, body: bytes, *, expires: float, now: float) -> None:
        """Remember ``body`` until ``expires``; forget what expired before ``now`` and, when
        full, what expires soonest."""
        self._prune(now)
        digest = hashlib.sha256(body).digest()
        if self._expiries.get(digest, float("-inf")) >= expires:
            return
        self._expiries[digest] = expires
        heapq.heappush(self._heap, (expires, digest))
        while len(self._expiries) > self.capacity:
            self._pop()

    def _prune(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            self._pop()

    def _pop(self) -> None:
        expires, digest = heapq.heappop(self._heap)
        if self._expiries.get(digest) == expires:  # not a stale entry of a renewed digest
            del self._expiries[digest]
