"""A hint: "something may have happened to task X of account A, product P".

A hint decides nothing. Whoever handles it describes the task (under the account's limiter) and
lets the ordinary machinery (tracker, metrics, rules, the executor's fence) decide from what the
API says. A hint is built only from a notification that passed :mod:`taskwatch.hints.verify`; even
so its body is not trusted (an MPS signature does not cover the body), only its task id is used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["HANDLED", "Hint", "HintHandler"]


@dataclass(frozen=True, slots=True)
class Hint:
    """One verified notification, reduced to what a describe needs."""

    account: str
    product: str
    """``mps`` or ``live`` (also the ``source`` label of the event metrics)."""
    task_id: str
    kind: str
    """``EventType``, ``NotificationType`` or ``callback_event`` as sent (cut to 64 characters);
    a metric label only through :func:`taskwatch.metrics.events.event_type`."""
    received: float
    """Loop time (``clock.monotonic()``) of the receipt."""
    region: str | None = None
    """The region the notification's URL named (``?region=``), if any."""
    relayed: bool = False
    """Received from another replica (:mod:`taskwatch.hintrelay`), never relayed again."""

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two hints the same: (account, product, task id)."""
        return self.account, self.product, self.task_id


HintHandler = Callable[[Hint], Awaitable[str]]
"""Handles one hint; returns one of :data:`HANDLED`."""

HANDLED = ("described", "not_found", "not_leading", "relayed", "unknown_source", "failed")
"""What a handler may return (anything else is logged as it is)."""
