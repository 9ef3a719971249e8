"""What a webhook is (:class:`Target`), what it receives (generic JSON, WeCom, Slack), what it says.

Everything here is pure: :func:`render` turns audit records into the body of one POST in a
target's format. Strings are scrubbed of registered secrets; a WeCom message is cut to
:data:`WECOM_LIMIT` bytes and a Slack one to :data:`SLACK_BLOCKS` blocks, each saying how many
events did not fit ("… and N more"), so a burst never makes a message the service refuses.
:func:`retry_after_seconds` and :func:`wecom_errcode` read what an answer says.

Not guaranteed: that every event of a large batch is spelled out (the cut above), or that a
message fits a target's own rate limit (see :mod:`taskwatch.actions.notify.delivery`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from yarl import URL

from taskwatch import __version__
from taskwatch.logs import scrub
from taskwatch.models import AuditRecord, Outcome

Format = Literal["generic", "wecom", "slack"]
FORMATS: frozenset[str] = frozenset({"generic", "wecom", "slack"})
DEFAULT_RESULTS: frozenset[str] = frozenset(
    {Outcome.DONE.value, Outcome.FAILED.value, Outcome.UNKNOWN.value}
)
WECOM_LIMIT = 4096
"""Bytes of UTF-8 a WeCom markdown message may hold."""
SLACK_BLOCKS = 50
"""Blocks a Slack message may hold."""
_LINE_MAX = 400
"""Characters of one event line; a long API message is cut so a single event always fits."""


@dataclass(frozen=True, slots=True)
class Target:
    """One webhook. ``url`` is kept out of ``repr`` because it may hold a key."""

    name: str
    url: str = field(repr=False)
    format: Format
    batch_size: int = 20
    flush_interval: float = 10.0
    """Seconds after the oldest queued event at which a partial batch is sent."""
    timeout: float = 5.0
    """Seconds one attempt may take, connecting included."""
    attempts: int = 3
    results: frozenset[str] = DEFAULT_RESULTS
    """:class:`Outcome` values that are notified."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"target {self.name!r}: format must be one of {sorted(FORMATS)}")
        if URL(self.url).scheme not in ("http", "https") or not URL(self.url).host:
            raise ValueError(f"target {self.name!r}: url must be an http(s) URL")
        if self.batch_size < 1 or self.attempts < 1:
            raise ValueError(f"target {self.name!r}: batch_size and attempts must be at least 1")
        if self.flush_interval < 0 or self.timeout <= 0:
            raise ValueError(f"target {self.name!r}: flush_interval >= 0 and timeout > 0")

    @property
    def host(self) -> str:
        """What logs may show of the URL."""
        return URL(self.url).host or "?"


# --- message formats (pure) ---------------------------------------------------------------------


def render(target_format: str, records: Sequence[AuditRecord]) -> bytes:
    """The body of one POST carrying ``records`` in ``target_format``; strings are scrubbed."""
    events = [_event(r) for r in records]
    if target_format == "wecom":
        payload: dict[str, Any] = wecom_message(events)
    elif target_format == "slack":
        payload = slack_message(events)
    else:
        payload = {"source": "taskwatch", "version": __version__, "events": events}
    return json.dumps(payload, ensure_ascii=False).encode()


def _event(record: AuditRecord) -> dict[str, Any]:
    when = datetime.fromtimestamp(record.time, UTC).isoformat(timespec="seconds")
    event: dict[str, Any] = {
        "time": when.replace("+00:00", "Z"),
        "policy": record.policy,
        "product": record.product,
        "account": record.account,
        "region": record.region,
        "task_id": record.task_id,
        "action": record.action,
        "mode": record.mode,
        "result": record.result,
        "code": record.code,
        "request_id": record.request_id,
        "message": record.message,
    }
    return {k: scrub(v) if isinstance(v, str) else v for k, v in event.items()}


def summary(events: Sequence[dict[str, Any]]) -> str:
    """``taskwatch: 3 actions — 2 done, 1 failed`` (results in :class:`Outcome` order)."""
    counts = Counter(str(e["result"]) for e in events)
    order = [o.value for o in Outcome] + sorted(set(counts) - {o.value for o in Outcome})
    parts = ", ".join(f"{counts[r]} {r}" for r in order if counts[r])
    noun = "action" if len(events) == 1 else "actions"
    return f"taskwatch: {len(events)} {noun} — {parts}"


def event_line(event: dict[str, Any]) -> str:
    """`` `abort` mps task 125…-procedure-live-… (policy p, main/global): failed (Code: text)``."""
    line = (
        f"`{event['action']}` {event['product']} task {event['task_id']} "
        f"(policy {event['policy']}, {event['account']}/{event['region']}): {event['result']}"
    )
    if event["mode"] != "enforce" and event["result"] != Outcome.WOULD:
        line += f" [{event['mode']}]"
    detail = ": ".join(str(event[k]) for k in ("code", "message") if event[k])
    if detail:
        line += f" ({detail})"
    return line if len(line) <= _LINE_MAX else line[: _LINE_MAX - 1] + "…"


def _more(n: int) -> str:
    return f"… and {n} more"


def wecom_message(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A WeCom group-robot markdown message, cut to :data:`WECOM_LIMIT` bytes with "… and N
    more"."""
    head = f"**{summary(events)}**"
    lines = [f"> {event_line(e)}" for e in events]
    kept: list[str] = []
    for line in lines:
        left = len(lines) - len(kept) - 1
        candidate = "\n".join([head, *kept, line, *([_more(left)] if left else [])])
        if len(candidate.encode()) > WECOM_LIMIT:
            break
        kept.append(line)
    left = len(lines) - len(kept)
    content = "\n".join([head, *kept, *([_more(left)] if left else [])])
    raw = content.encode()
    if len(raw) > WECOM_LIMIT:  # only a summary longer than the limit itself gets here
        content = raw[:WECOM_LIMIT].decode(errors="ignore")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A Slack incoming-webhook message: a header, one mrkdwn section per event, at most
    :data:`SLACK_BLOCKS` blocks (the last says "… and N more" when events did not fit)."""
    text = summary(events)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}
    ]
    room = SLACK_BLOCKS - 1
    shown = events if len(events) <= room else events[: room - 1]
    blocks.extend(
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(event_line(e))}}
        for e in shown
    )
    if len(shown) < len(events):
        more = _more(len(events) - len(shown))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"text": text, "blocks": blocks}


# --- answers (pure) -----------------------------------------------------------------------------


def retry_after_seconds(value: str | None) -> float | None:
    """A delta-seconds ``Retry-After`` (an HTTP date is ignored)."""
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def wecom_errcode(body: bytes) -> int:
    """WeCom's ``errcode`` in an answer (it reports errors with HTTP 200); 0 when none."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return 0
    code = parsed.get("errcode", 0) if isinstance(parsed, dict) else 0
    return code if isinstance(code, int) else 0
