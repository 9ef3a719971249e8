"""What a task or a scenario says about notifications: an MPS task's notify configuration
(``TaskNotifyConfig``), the Live callback events, the delivery faults, and the signature.

Apart from :mod:`taskwatch.emulator.notify` (the bodies) and :mod:`taskwatch.emulator.outbox`
(delivery) because the world's tasks carry a :class:`Notify` and the world must not import the
renderers (they import the world).

Reference §5.5 and §12: ``NotifyType`` ``URL`` POSTs a JSON body shaped as ``ParseNotification``'s
output (``ParseLiveStreamProcessNotification``'s for a live stream processing task), signed with
``Sign = MD5(str(Timestamp) + NotifyKey)``, ``Timestamp`` being the notification's expiry (10
minutes after it is sent, by default). Live pull-stream callbacks carry no signature.

Not modelled: the other notify types (``TDMQ-CMQ``, ``SCF``, ``AWS-SQS``): the emulator sends
URL notifications only, and a scenario asking for another type is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = [
    "CALLBACK_EVENTS",
    "DEFAULT_CALLBACK_EVENTS",
    "EXPIRY",
    "NOTIFY_MODES",
    "Notify",
    "NotifyFaults",
    "sign",
]

NOTIFY_MODES = ("Finish", "Change")
"""``NotifyMode``: ``Finish`` (the default) notifies the end only, ``Change`` every change."""
CALLBACK_EVENTS = (
    "TaskStart", "TaskExit", "VodSourceFileStart", "VodSourceFileFinish", "ResetTaskConfig",
    "TaskAlarm",
)  # fmt: skip
"""The ``CallbackEvents`` a Live pull task may ask for [doc]; the emulator sends the first two."""
DEFAULT_CALLBACK_EVENTS = ("TaskStart", "TaskExit")
EXPIRY = 600
"""Seconds from sending to a notification's ``Timestamp`` (MPS's default expiry) [doc]; also how
long after its ``event_time`` a Live callback counts as expired for ``replay_expired``
[inferred: Live documents no expiry]."""


@dataclass(frozen=True, slots=True)
class Notify:
    """An MPS task's ``TaskNotifyConfig`` of type ``URL``; the key never appears in a repr."""

    url: str
    key: str = field(default="", repr=False)
    mode: str = "Finish"
    type: str = "URL"


def sign(timestamp: int, key: str) -> str:
    """``MD5(Timestamp + NotifyKey)``: the decimal timestamp and the key concatenated, hex."""
    return hashlib.md5(f"{timestamp}{key}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class NotifyFaults:
    """What goes wrong between the cloud and the receiver, each drawn per notification from a
    generator seeded with ``seed``: ``drop`` (never sent), ``duplicate`` (sent twice),
    ``delay`` (``(min, max)`` seconds of real time before sending, drawn per send), ``reorder``
    (held, then sent after the next one), ``forge`` (a wrong ``Sign``; for a Live callback, a
    wrong last path segment, where the receiver keeps its token) and ``replay_expired`` (the same
    body sent again once its ``Timestamp`` has passed on the emulator's clock)."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: tuple[float, float] = (0.0, 0.0)
    reorder: float = 0.0
    forge: float = 0.0
    replay_expired: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate", "reorder", "forge", "replay_expired"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"notifications.{name} must be a probability within [0, 1]")
        lo, hi = self.delay
        if not 0.0 <= lo <= hi:
            raise ValueError("notifications.delay must be [min, max] with 0 <= min <= max")

    @property
    def active(self) -> bool:
        """Whether any fault can fire."""
        chances = (self.drop, self.duplicate, self.reorder, self.forge, self.replay_expired)
        return any(chances) or self.delay[1] > 0
