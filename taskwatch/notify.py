"""Webhook notifications of actions: generic JSON, WeCom group robot and Slack, batched per target.

Why a queue per target and one background task: the scan loop calls :meth:`Notifier.notify`, which
is synchronous and only appends to in-memory queues, so a slow, failing or hung webhook can never
hold a scan back. :meth:`Notifier.run` (one task in the supervisor's task group) sends each
target's queue in batches: when ``batch_size`` events are waiting, or ``flush_interval`` seconds
after the oldest waiting event was queued. Targets are independent: one hung target delays only
its own queue.

Each batch is one HTTP POST, tried at most ``attempts`` times (each attempt within ``timeout``)
with exponential backoff and jitter. Network errors, timeouts, 5xx and 429 are retried (a numeric
``Retry-After`` is honoured up to :data:`BACKOFF_CAP`); other 4xx, 3xx and a WeCom ``errcode``
other than its rate limit are not. After the last attempt the batch is dropped, counted
``failed`` and logged with the target's name and host, never its URL: WeCom's carries the robot's
``key`` in the query string. ``on_result(target, result)`` is called once per *event* with
``sent``, ``failed`` or ``dropped``.

Not guaranteed:

* Delivery. Queues live in memory and are bounded (``queue_size`` per target); when one is full
  the oldest event is dropped (counted ``dropped``), and whatever is queued is lost on a crash.
  :meth:`Notifier.aclose` tries one last flush (one attempt per batch, ``drain_timeout`` seconds in
  all) and counts what it could not send as ``dropped``.
* Exactly once. An attempt that timed out may have been delivered; it is retried all the same.
* Order across targets, or a target's rate limit (WeCom allows 20 messages a minute per robot):
  keep ``flush_interval`` and ``batch_size`` such that a burst fits.
"""

from __future__ import annotations

import json
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
import anyio
import structlog
from yarl import URL

from taskwatch import __version__
from taskwatch.clock import Clock
from taskwatch.logs import register_secret, scrub
from taskwatch.models import AuditRecord, Outcome

log = structlog.get_logger(__name__)

Format = Literal["generic", "wecom", "slack"]
FORMATS: frozenset[str] = frozenset({"generic", "wecom", "slack"})
DEFAULT_RESULTS: frozenset[str] = frozenset(
    {Outcome.DONE.value, Outcome.FAILED.value, Outcome.UNKNOWN.value}
)
WECOM_LIMIT = 4096
"""Bytes of UTF-8 a WeCom markdown message may hold."""
SLACK_BLOCKS = 50
"""Blocks a Slack message may hold."""
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
WECOM_RATE_LIMITED = 45009
"""WeCom's ``errcode`` for "api freq out of limit" (answered with HTTP 200): retried."""
_LINE_MAX = 400
"""Characters of one event line; a long API message is cut so a single event always fits."""

Sleep = Callable[[float], Awaitable[None]]
OnResult = Callable[[str, str], None]


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


# --- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attempt:
    ok: bool
    retry: bool
    status: str
    """``HTTP 503``, ``errcode 93000``, or an exception's class: what a warning may show."""
    retry_after: float | None = None


@dataclass(slots=True)
class _Lane:
    target: Target
    queue: deque[tuple[float, AuditRecord]] = field(default_factory=deque)
    wake: anyio.Event | None = None
    idle: anyio.CancelScope | None = None
    overflowing: bool = False


class Notifier:
    """Queues audit records per target and sends them from :meth:`run`.

    ``sleep`` waits out flush intervals and backoffs (tests inject one); ``clock.monotonic()``
    times the queue. Create anywhere; :meth:`run` and :meth:`aclose` need a running loop.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        clock: Clock,
        queue_size: int = 1000,
        sleep: Sleep = anyio.sleep,
        on_result: OnResult | None = None,
        drain_timeout: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("notification target names must be unique")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._lanes = [_Lane(t) for t in targets]
        self._clock = clock
        self._queue_size = queue_size
        self._sleep = sleep
        self._on_result = on_result
        self._drain_timeout = drain_timeout
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._session: aiohttp.ClientSession | None = None
        self._scope: anyio.CancelScope | None = None
        self._stopped: anyio.Event | None = None
        self._closing = False
        self._closed = False
        for t in targets:  # belt and braces: keys in query strings never reach any log
            for value in URL(t.url).query.values():
                register_secret(value)

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(lane.target for lane in self._lanes)

    def pending(self, target: str) -> int:
        """Events queued for ``target`` and not yet taken into a batch."""
        return next(len(lane.queue) for lane in self._lanes if lane.target.name == target)

    def notify(self, record: AuditRecord) -> None:
        """Queue ``record`` for every target that wants its result. Never waits."""
        for lane in self._lanes:
            if record.result not in lane.target.results:
                continue
            name = lane.target.name
            if self._closing:
                self._count(name, "dropped")
                continue
            if len(lane.queue) >= self._queue_size:
                lane.queue.popleft()
                self._count(name, "dropped")
                if not lane.overflowing:
                    lane.overflowing = True
                    log.warning("notification queue full, dropping oldest", target=name)
            lane.queue.append((self._clock.monotonic(), record))
            if lane.wake is not None and (
                len(lane.queue) == 1 or len(lane.queue) >= lane.target.batch_size
            ):
                lane.wake.set()

    async def run(self) -> None:
        """Send batches until :meth:`aclose` (or cancellation); never raises for a webhook."""
        if self._stopped is not None:
            raise RuntimeError("Notifier.run() runs once")
        self._stopped = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                for lane in self._lanes:
                    tg.start_soon(self._serve, lane, name=f"notify:{lane.target.name}")
        finally:
            self._scope = None
            self._stopped.set()

    async def aclose(self) -> None:
        """Stop :meth:`run` and flush what is queued, within ``drain_timeout`` seconds in all.

        Waits (flush intervals, backoffs) end at once; an attempt in flight may finish; then each
        remaining batch gets one attempt. What is still queued at the deadline counts
        ``dropped``. Closes the HTTP session. Idempotent, and shielded: safe to call from a
        ``finally`` while the caller is being cancelled.
        """
        if self._closing:
            return
        self._closing = True
        for lane in self._lanes:
            if lane.idle is not None:
                lane.idle.cancel()
        stopped = self._stopped
        with anyio.move_on_after(self._drain_timeout, shield=True):
            if stopped is not None:
                await stopped.wait()
            async with anyio.create_task_group() as tg:
                for lane in self._lanes:
                    if lane.queue:
                        tg.start_soon(self._drain, lane)
        self._closed = True
        if self._scope is not None:  # still in flight at the deadline: given up, counted dropped
            self._scope.cancel()
        for lane in self._lanes:
            for _ in lane.queue:
                self._count(lane.target.name, "dropped")
            lane.queue.clear()
        if self._session is not None:
            with anyio.CancelScope(shield=True):
                await self._session.close()
            self._session = None

    # --- inside run() ---------------------------------------------------------------------------

    async def _serve(self, lane: _Lane) -> None:
        while True:
            with self._interruptible(lane):
                await self._batch_ready(lane)
            if self._closing:
                return
            await self._deliver(lane, self._take(lane), attempts=lane.target.attempts)

    @contextmanager
    def _interruptible(self, lane: _Lane) -> Iterator[None]:
        """A wait that :meth:`aclose` ends at once (never an HTTP attempt in flight)."""
        with anyio.CancelScope() as scope:
            if self._closing:
                scope.cancel()
            lane.idle = scope
            try:
                yield
            finally:
                lane.idle = None

    async def _batch_ready(self, lane: _Lane) -> None:
        """Return once a full batch is queued or the oldest event has waited flush_interval."""
        target = lane.target
        while True:
            if not lane.queue:
                lane.wake = anyio.Event()
                await lane.wake.wait()
                continue
            if len(lane.queue) >= target.batch_size:
                return
            left = lane.queue[0][0] + target.flush_interval - self._clock.monotonic()
            if left <= 0:
                return
            lane.wake = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._alarm, left, lane.wake)
                await lane.wake.wait()
                tg.cancel_scope.cancel()

    async def _alarm(self, seconds: float, event: anyio.Event) -> None:
        await self._sleep(seconds)
        event.set()

    def _take(self, lane: _Lane) -> list[AuditRecord]:
        n = min(lane.target.batch_size, len(lane.queue))
        batch = [lane.queue.popleft()[1] for _ in range(n)]
        if len(lane.queue) < self._queue_size:
            lane.overflowing = False
        return batch

    def _give_back(self, lane: _Lane, batch: list[AuditRecord]) -> None:
        """An interrupted batch goes back to the front of its queue, for the drain."""
        if self._closed:
            for _ in batch:
                self._count(lane.target.name, "dropped")
        else:
            lane.queue.extendleft((self._clock.monotonic(), r) for r in reversed(batch))

    async def _drain(self, lane: _Lane) -> None:
        while lane.queue:
            await self._deliver(lane, self._take(lane), attempts=1)

    async def _deliver(self, lane: _Lane, batch: list[AuditRecord], *, attempts: int) -> None:
        target = lane.target
        try:
            ok = await self._post(lane, render(target.format, batch), attempts=attempts)
        except anyio.get_cancelled_exc_class():
            self._give_back(lane, batch)
            raise
        except Exception:  # a bug here must not take the daemon down with it
            log.exception("notification failed", target=target.name, host=target.host)
            ok = False
        if ok is None:
            self._give_back(lane, batch)
            return
        for _ in batch:
            self._count(target.name, "sent" if ok else "failed")

    async def _post(self, lane: _Lane, body: bytes, *, attempts: int) -> bool | None:
        """True when sent, False when given up, None when shutdown interrupted a backoff."""
        target = lane.target
        for attempt in range(1, attempts + 1):
            outcome = await self._attempt(target, body)
            if outcome.ok:
                return True
            if not outcome.retry or attempt == attempts:
                log.warning(
                    "notification failed",
                    target=target.name,
                    host=target.host,
                    status=outcome.status,
                    attempts=attempt,
                    retryable=outcome.retry,
                )
                return False
            if self._closing:  # shutting down: the drain gives it its last try
                return None
            delay = self._backoff(attempt, outcome.retry_after)
            log.info(
                "notification retry",
                target=target.name,
                host=target.host,
                status=outcome.status,
                attempt=attempt,
                delay=round(delay, 3),
            )
            with self._interruptible(lane):
                await self._sleep(delay)
            if self._closing:
                return None
        return False  # pragma: no cover - attempts >= 1

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Equal jitter: half of ``base·2^(attempt-1)`` fixed, half random; at least
        ``Retry-After``; never more than :data:`BACKOFF_CAP`."""
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(attempt - 1, 64))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, BACKOFF_CAP)

    async def _attempt(self, target: Target, body: bytes) -> _Attempt:
        session = self._open_session()
        try:
            async with session.post(
                target.url,
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=target.timeout),
                allow_redirects=False,
            ) as resp:
                text = await resp.read()
                status = resp.status
                retry_after = _seconds(resp.headers.get("Retry-After"))
        except TimeoutError:
            return _Attempt(ok=False, retry=True, status="timeout")
        except (aiohttp.ClientError, OSError) as exc:
            return _Attempt(ok=False, retry=True, status=type(exc).__name__)
        if status == 429 or status >= 500:
            return _Attempt(False, True, f"HTTP {status}", retry_after)
        if not 200 <= status < 300:
            return _Attempt(ok=False, retry=False, status=f"HTTP {status}")
        if target.format == "wecom":  # WeCom answers errors with 200 and an errcode
            errcode = _wecom_errcode(text)
            if errcode:
                return _Attempt(False, errcode == WECOM_RATE_LIMITED, f"errcode {errcode}")
        return _Attempt(ok=True, retry=False, status=f"HTTP {status}")

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(4, 2 * len(self._lanes))),
                trust_env=True,  # corporate egress proxies, as for the API
            )
        return self._session

    def _count(self, target: str, result: str) -> None:
        if self._on_result is not None:
            self._on_result(target, result)


def _seconds(value: str | None) -> float | None:
    """A delta-seconds ``Retry-After`` (an HTTP date is ignored)."""
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def _wecom_errcode(body: bytes) -> int:
    try:
        parsed = json.loads(body)
    except ValueError:
        return 0
    code = parsed.get("errcode", 0) if isinstance(parsed, dict) else 0
    return code if isinstance(code, int) else 0
