"""The scenario keys of notifications: an MPS task's (or generator's) ``notify``, a Live task's
``callback_events``, and the top-level ``notifications`` faults.

Read apart from :mod:`taskwatch.emulator.scenario_sections` so that the sections stay about
tasks; every error is a :class:`~taskwatch.emulator.scenario_values.ScenarioError` naming the
file and the key path, and never quotes a ``key`` (a ``NotifyKey`` is a secret).

Not checked: that a ``notify.url`` or a ``callback_url`` answers, nor a ``callback_url``'s
shape (a failed delivery is recorded, and written to the emulator's log, not refused here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from taskwatch.emulator.notify_config import CALLBACK_EVENTS, NOTIFY_MODES, Notify, NotifyFaults
from taskwatch.emulator.scenario_values import (
    At,
    read_choice,
    read_ratio,
    read_span,
    read_table,
    read_text,
)

__all__ = ["NOTIFICATION_KEYS", "NOTIFY_KEYS", "read_callback_events", "read_notifications",
           "read_notify"]  # fmt: skip

NOTIFY_KEYS = ("url", "key", "mode", "type")
NOTIFICATION_KEYS = ("drop", "duplicate", "delay", "reorder", "forge", "replay_expired")
_PROBABILITIES = ("drop", "duplicate", "reorder", "forge", "replay_expired")


def read_url(value: object, at: At) -> str:
    url = read_text(value, at)
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok:
        at.fail("expected an http:// or https:// URL with a host")
    return url


def read_notify(raw: object, at: At) -> Notify:
    """``notify: {url, key, mode, type}``: ``url`` required, ``key`` ``""``, ``mode``
    ``Finish`` (or ``Change``), ``type`` ``URL`` (the only type the emulator sends)."""
    t = read_table(raw, at, NOTIFY_KEYS)
    if "url" not in t:
        (at / "url").fail("required: where the notifications are POSTed")
    key = ""
    if "key" in t:
        if not isinstance(t["key"], str):
            (at / "key").fail("expected a string")  # the value itself is never quoted
        key = t["key"]
    mode = read_choice(t.get("mode", "Finish"), at / "mode", NOTIFY_MODES)
    read_choice(t.get("type", "URL"), at / "type", ("URL",))
    return Notify(read_url(t["url"], at / "url"), key, mode)


def read_callback_events(fields: dict[str, Any], at: At) -> None:
    """Check a Live entry's ``callback_events`` (already read as strings). ``callback_url`` is
    taken as written (a snapshot keeps what the API printed)."""
    if "callback_events" in fields:
        for i, event in enumerate(fields["callback_events"]):
            read_choice(event, at / "callback_events" / i, CALLBACK_EVENTS)
        if len(set(fields["callback_events"])) != len(fields["callback_events"]):
            (at / "callback_events").fail("an event is listed twice")


def read_notifications(raw: object, at: At, *, seed: int) -> NotifyFaults:
    """The top-level ``notifications`` faults: probabilities within [0, 1] and ``delay`` as
    ``[min, max]`` (or one duration), drawn from a generator seeded with the scenario's seed."""
    t = read_table({} if raw is None else raw, at, NOTIFICATION_KEYS)
    values: dict[str, Any] = {k: read_ratio(t[k], at / k) for k in _PROBABILITIES if k in t}
    if "delay" in t:
        span = read_span(t["delay"], at / "delay")
        if span is None:
            (at / "delay").fail("expected a duration or [min, max], e.g. [100ms, 2s]")
        values["delay"] = (span.lo, span.hi)
    return NotifyFaults(**values, seed=seed)


def notify_of(table: Mapping[str, Any], at: At) -> dict[str, Notify]:
    """``{"notify": Notify}`` when the MPS entry ``table`` has one, else ``{}``."""
    return {"notify": read_notify(table["notify"], at / "notify")} if "notify" in table else {}
