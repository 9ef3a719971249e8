"""The notifications waiting to be sent, what the faults make of each, and the record of every
delivery attempted.

No I/O here: :mod:`taskwatch.emulator.pump` ticks the world, takes the :class:`Send` s that are
ready and POSTs them. Each notification put in is planned once, in order, drawing from a
generator seeded with :attr:`NotifyFaults.seed` (so one scenario gives one sequence of faults):

- ``drop``: never sent (recorded, with no status);
- ``forge``: sent with a wrong ``Sign`` (a Live callback: a wrong last path segment);
- ``duplicate``: sent twice, back to back;
- ``replay_expired``: sent again, as it was, once the emulator's clock is past its ``Timestamp``
  (a Live callback: ``event_time`` + 10 min);
- ``reorder``: held, then sent right after the next notification (whatever its URL). A held
  notification with nothing after it waits; one held is the most at a time.
- ``delay``: each send waits a draw from ``[min, max]`` seconds of real time (sends are not
  ordered among themselves while they wait).

Every attempt (and every drop) is one :class:`Delivery` in :attr:`Outbox.records`, newest last,
bounded: the emulator's own test data, bodies included (they carry ``Sign``, never a key).

Not guaranteed: retries. A notification whose POST fails is recorded and not sent again, as
the real services document no retry schedule.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from taskwatch.emulator.notify import Notification, forged
from taskwatch.emulator.notify_config import NotifyFaults

__all__ = ["Delivery", "Outbox", "Send"]

MAX_REPLAYS = 1000
"""Replays waiting for their notification to expire, at most; beyond, the oldest go."""


@dataclass(frozen=True, slots=True)
class Send:
    """One POST to make: the notification as it goes out, its faults and its real-time delay."""

    notification: Notification
    fault: str = ""
    """``+``-joined fault names (``forge+duplicate``); ``""`` for a plain send."""
    delay: float = 0.0

    def tagged(self, fault: str) -> Send:
        return replace(self, fault=f"{self.fault}+{fault}" if self.fault else fault)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt (or a drop): when on the emulator's clock, where, what, and how it went."""

    seq: int
    time: str
    source: str
    event: str
    task_id: str
    url: str
    body: dict[str, Any]
    fault: str
    delay: float
    status: int | None
    """The receiver's HTTP status; None when nothing answered (or the send was dropped)."""
    error: str | None
    """The failure's class name (``ClientConnectorError``, ``TimeoutError``), never its text."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "time": self.time, "source": self.source, "event": self.event,
            "task_id": self.task_id, "url": self.url, "body": self.body, "fault": self.fault,
            "delay": self.delay, "status": self.status, "error": self.error,
        }  # fmt: skip


class Outbox:
    """Notifications in, planned sends out, deliveries recorded."""

    def __init__(
        self, *, now: Callable[[], float], faults: NotifyFaults | None = None, size: int = 1000
    ) -> None:
        self._now = now
        self.records: deque[Delivery] = deque(maxlen=size)
        self._queue: deque[Notification] = deque()
        self._held: list[Send] = []
        self._replays: deque[Send] = deque(maxlen=MAX_REPLAYS)
        self._seq = 0
        self.faults = faults or NotifyFaults()

    @property
    def faults(self) -> NotifyFaults:
        return self._faults

    @faults.setter
    def faults(self, faults: NotifyFaults) -> None:
        """New faults, and a generator seeded afresh from them."""
        self._faults = faults
        self._rng = random.Random(faults.seed)  # noqa: S311 - simulation, not cryptography

    def put(self, notification: Notification) -> None:
        self._queue.append(notification)

    def ready(self, now: float) -> list[Send]:
        """Every queued notification planned (in order), then the replays now due."""
        sends: list[Send] = []
        while self._queue:
            sends += self._plan(self._queue.popleft())
        while self._replays and self._replays[0].notification.expires < now:
            sends.append(self._replays.popleft())
        return sends

    def _chance(self, p: float) -> bool:
        return p > 0 and self._rng.random() < p

    def _plan(self, n: Notification) -> list[Send]:
        f = self._faults
        if self._chance(f.drop):
            self.record(Send(n, "drop"), status=None, error=None)
            return []
        first = Send(forged(n, self._rng), "forge") if self._chance(f.forge) else Send(n)
        sends = [first]
        if self._chance(f.duplicate):
            sends.append(first.tagged("duplicate"))
        if self._chance(f.replay_expired):
            self._add_replay(first)
        if not self._held and self._chance(f.reorder):
            self._held = [s.tagged("reorder") for s in sends]
            return []
        sends, self._held = sends + self._held, []
        lo, hi = f.delay
        if hi > 0:
            sends = [replace(s, delay=self._rng.uniform(lo, hi)) for s in sends]
        return sends

    def _add_replay(self, send: Send) -> None:
        replay = Send(send.notification, "replay_expired")
        # Expiries grow with sending time; keep the deque sorted for the rare earlier one.
        if self._replays and self._replays[-1].notification.expires > send.notification.expires:
            ordered = sorted([*self._replays, replay], key=lambda s: s.notification.expires)
            self._replays = deque(ordered, maxlen=MAX_REPLAYS)
        else:
            self._replays.append(replay)

    def record(self, send: Send, *, status: int | None, error: str | None) -> Delivery:
        self._seq += 1
        n = send.notification
        when = datetime.fromtimestamp(self._now(), UTC).isoformat(timespec="milliseconds")
        delivery = Delivery(
            self._seq, when, n.source, n.event, n.task_id, n.url, n.body, send.fault,
            send.delay, status, error,
        )  # fmt: skip
        self.records.append(delivery)
        return delivery
