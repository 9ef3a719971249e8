"""Checking one notification body: a :class:`Hint`, or the reason it is refused. Pure.

**MPS** (``POST {events.path}/mps/{account}``): the body has the shape of ``ParseNotification``'s
output (``EventType`` with ``WorkflowTaskEvent``, ``EditMediaTaskEvent``, ``ScheduleTaskEvent``,
``BatchTaskEvent`` or ``ExtractBlindWatermarkTask``, whose ``TaskId`` names the task) or of
``ParseLiveStreamProcessNotification``'s (``NotificationType`` and a top-level ``TaskId``); both
carry ``Timestamp`` (the notification's expiry, UTC epoch seconds) and ``Sign =
md5(str(Timestamp) + NotifyKey)`` in lowercase hex. Checked, in this order: the account exists
(``unknown_account``) and has ``mps_notify_keys`` (``not_configured``); the body is a JSON object
with an integer ``Timestamp`` and a 32-hex ``Sign`` (``malformed``); the ``Sign`` matches one of
the keys, compared in constant time against every key (``forged``); ``now <= Timestamp``
(``expired``) and ``Timestamp <= now + events.max_age + SKEW`` (``future``: a sender does not
sign for longer; :data:`SKEW` lets Tencent Cloud's clock run ahead of this host's, since MPS
stamps its send time plus 10 minutes by default, the default ``max_age``); a task id is there
(``malformed``).

**Live** (``POST {events.path}/live/{account}/{token}``): the body's ``callback_event``,
``task_id`` (string or integer) and ``event_time`` (UTC epoch seconds). No signature is
documented for these callbacks, so the URL's last segment is a secret token: the account exists
and has a ``live_token`` (``unknown_account``, ``not_configured``), the token matches it in
constant time (``forged``), the fields are there (``malformed``), and ``event_time`` is neither
older than ``events.max_age`` (``expired``) nor further ahead than that (``future``).

The replay check (:mod:`taskwatch.hints.replay`) comes after these, on the raw bytes; a
:class:`Verdict` carries the instant until which its body is worth remembering.

Nothing here logs, and a reason never contains a key, a token or the body.

Not guaranteed: that the body's other fields are true. An MPS ``Sign`` covers the ``Timestamp``
only, so a captured pair can carry another body (another task id) until it expires; a Live token
leaked once authenticates anything until it is changed. The hint only makes taskwatch describe
that task: what happens next depends on what the API says, never on the notification.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr

from taskwatch.hints.hint import Hint
from taskwatch.metrics.events import EVENT_REFUSALS
from taskwatch.settings import Settings
from taskwatch.settings.events import AccountEvents

__all__ = [
    "MPS_EVENT_FIELDS",
    "REJECTIONS",
    "Verdict",
    "secrets_of",
    "verify_live",
    "verify_mps",
]

REJECTIONS = EVENT_REFUSALS
"""The reasons a body is refused: the refusals of ``taskwatch_events_total``, which owns them."""
MPS_EVENT_FIELDS: Mapping[str, str] = {
    "WorkflowTask": "WorkflowTaskEvent",
    "EditMediaTask": "EditMediaTaskEvent",
    "ScheduleTask": "ScheduleTaskEvent",
    "BatchTask": "BatchTaskEvent",
    "ExtractBlindWatermark": "ExtractBlindWatermarkTask",
}
"""``EventType`` → the field holding its task (``ParseNotificationResponse``); another
``EventType`` X is looked for in ``XEvent``."""
MAX_KIND = 64
MAX_TASK_ID = 256

Secrets = Mapping[str, AccountEvents | None]
"""Account name → its ``events`` block (``None``: the account has none)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a body is: ``hint`` when accepted, else ``reason`` (one of :data:`REJECTIONS`).

    ``kind`` is what the body says it is, trusted or not (for the ``type`` label); ``expires``
    (UTC epoch seconds) is how long an accepted body is worth remembering against replays."""

    kind: str | None
    hint: Hint | None = None
    reason: str | None = None
    expires: float = 0.0


def secrets_of(settings: Settings) -> dict[str, AccountEvents | None]:
    """Every configured account's ``events`` block, by account name."""
    return {account.name: account.events for account in settings.accounts}


SKEW: Final = 300.0
"""Seconds the sender's clock may run ahead of this host's before an MPS ``Timestamp`` counts as
signed too far ahead: the 5 minutes Tencent Cloud allows a request signature. Without it, a
notification stamped with MPS's default expiry (send time + 600 s, the default ``max_age``) was
refused ``future`` whenever MPS's clock was ahead by a fraction of a second."""


def verify_mps(
    body: bytes,
    *,
    account: str,
    secrets: Secrets,
    now: float,
    max_age: float,
    received: float,
    region: str | None = None,
) -> Verdict:
    """Check an MPS notification for ``account`` at wall time ``now``; see the module."""
    data = _object(body)
    kind = None
    if data is not None:
        raw = data.get("EventType") if "EventType" in data else data.get("NotificationType")
        kind = _kind(raw)
    events = _configured(account, secrets, "mps")
    if isinstance(events, str):
        return Verdict(kind, reason=events)
    if data is None or kind is None:
        return Verdict(kind, reason="malformed")
    stamp, sign = _timestamp(data.get("Timestamp")), data.get("Sign")
    if stamp is None or not _is_md5(sign):
        return Verdict(kind, reason="malformed")
    if not _signed(stamp, str(sign).lower(), events.mps_notify_keys):
        return Verdict(kind, reason="forged")
    expiry = float(stamp)
    if expiry < now:
        return Verdict(kind, reason="expired")
    if expiry > now + max_age + SKEW:
        return Verdict(kind, reason="future")
    task_id = _mps_task_id(data, kind)
    if task_id is None:
        return Verdict(kind, reason="malformed")
    hint = Hint(account, "mps", task_id, kind, received, region)
    return Verdict(kind, hint=hint, expires=expiry)


def verify_live(
    body: bytes,
    *,
    account: str,
    token: str,
    secrets: Secrets,
    now: float,
    max_age: float,
    received: float,
) -> Verdict:
    """Check a Live pull-stream callback for ``account`` whose URL carried ``token``."""
    data = _object(body)
    kind = _kind(data.get("callback_event")) if data is not None else None
    events = _configured(account, secrets, "live")
    if isinstance(events, str):
        return Verdict(kind, reason=events)
    live_token = events.live_token.get_secret_value() if events.live_token is not None else ""
    expected = live_token.encode("utf-8")
    if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), expected):
        return Verdict(kind, reason="forged")
    if data is None or kind is None:
        return Verdict(kind, reason="malformed")
    task_id = _task_id(data.get("task_id"))
    event_time = _epoch(data.get("event_time"))
    if task_id is None or event_time is None:
        return Verdict(kind, reason="malformed")
    if event_time < now - max_age:
        return Verdict(kind, reason="expired")
    if event_time > now + max_age:
        return Verdict(kind, reason="future")
    hint = Hint(account, "live", task_id, kind, received)
    return Verdict(kind, hint=hint, expires=event_time + max_age)


# --- pieces ---------------------------------------------------------------------------------------


def _configured(account: str, secrets: Secrets, product: str) -> AccountEvents | str:
    """The account's ``events`` block if it configures ``product``, else the refusal."""
    if account not in secrets:
        return "unknown_account"
    events = secrets[account]
    if events is None:
        return "not_configured"
    configured = bool(events.mps_notify_keys) if product == "mps" else events.live_token is not None
    return events if configured else "not_configured"


def _object(body: bytes) -> dict[str, object] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return data if isinstance(data, dict) else None


def _kind(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:MAX_KIND]


def _timestamp(value: object) -> str | None:
    """The text MPS signed: the decimal integer (a JSON number, or a string of digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return value
    return None


def _is_md5(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 32:
        return False
    return all(c in "0123456789abcdefABCDEF" for c in value)


def _signed(stamp: str, sign: str, keys: Sequence[SecretStr]) -> bool:
    """Whether ``sign`` is md5(stamp + key) for some key: every key compared in constant time."""
    matched = False
    for key in keys:
        material = (stamp + key.get_secret_value()).encode("utf-8")
        expected = hashlib.md5(material, usedforsecurity=False).hexdigest()
        matched |= hmac.compare_digest(expected, sign)
    return matched


def _mps_task_id(data: Mapping[str, object], kind: str) -> str | None:
    if "EventType" in data:
        event = data.get(MPS_EVENT_FIELDS.get(kind, f"{kind}Event"))
        if isinstance(event, dict) and (found := _task_id(event.get("TaskId"))) is not None:
            return found
    return _task_id(data.get("TaskId"))  # live stream processing; BatchTask has none inside


def _task_id(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_TASK_ID
        and value.isprintable()
        and not any(c.isspace() for c in value)
    ):
        return value
    return None


def _epoch(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return float(value)
    return None
