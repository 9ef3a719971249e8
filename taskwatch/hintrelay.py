"""Hints relayed between replicas through the shared journal's PostgreSQL: with sharded accounts,
a notification that reaches a replica not holding its account's shard is handed to the one that
does.

Why: notifications reach the replicas through one Service, so with ``n`` replicas about
``1 - 1/n`` of them land on a replica that may not describe the task (another holds the account's
shard). Dropped, they waited for the holder's next poll; relayed, the holder describes the task a
few milliseconds later, as if the notification had reached it.

How: ``LISTEN``/``NOTIFY`` on channel :data:`CHANNEL` of the journal's database (every sharded
deployment shares one: the per-shard terms live there). The replica that received and verified
the notification (signature or token, age, replay: :mod:`taskwatch.web.events`) publishes the
hint, reduced to account, product, task id, kind and region, with ``pg_notify``. Every replica
listening gets it; the one whose sources lead that account queues it in its inbox like a
notification of its own (the inbox's rate limit and deduplication apply), the others ignore it. A
relayed hint is never relayed again. No secret travels: the payload holds configured account names
and a task id.

Trust: a session that may write to the database can make the holder describe a task: one read,
under the account's limiter and the inbox's rate limit, that changes nothing the poll would not
see. Nothing is decided from a hint (:mod:`taskwatch.hints.hint`).

Not guaranteed: delivery. ``NOTIFY`` reaches only sessions listening when it commits, so a hint
published while the holder reconnects, or while the shard moves, is lost; polling is the net, as
for a notification that never arrived. Order between hints. That two replicas see the same
holder at the same instant (a shard moving: both may ignore the hint, or both queue it; a second
describe is harmless).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

import anyio
import psycopg
import structlog
from psycopg.conninfo import make_conninfo

from taskwatch.actions.dsn import connect_kwargs
from taskwatch.clock import Clock
from taskwatch.errors import StoreError
from taskwatch.hints import Hint
from taskwatch.hints.verify import MAX_KIND
from taskwatch.metrics.registry import Metrics
from taskwatch.settings import State

log = structlog.get_logger(__name__)

__all__ = ["CHANNEL", "HintRelay", "decode", "encode"]

CHANNEL: Final = "taskwatch_hints"
VERSION: Final = 1
NOTIFY_LIMIT: Final = 8000
"""Bytes a ``NOTIFY`` payload must stay below (PostgreSQL's default)."""
BACKOFF: Final = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds between attempts to listen again after a failure (the last repeats)."""


def encode(hint: Hint, sender: str) -> str:
    """The payload of one relayed hint (far below :data:`NOTIFY_LIMIT` for any real task id)."""
    return json.dumps(
        {
            "v": VERSION,
            "from": sender,
            "account": hint.account,
            "product": hint.product,
            "task": hint.task_id,
            "kind": hint.kind,
            "region": hint.region,
        },
        separators=(",", ":"),
    )


def decode(payload: str, received: float) -> tuple[str, Hint] | None:
    """(sender, hint) of a payload, received at loop time ``received``; ``None`` if it is not
    one this version reads (counted ``malformed`` by the caller)."""
    try:
        doc = json.loads(payload)
        fields = (doc["account"], doc["product"], doc["task"], doc["kind"], doc["from"])
        region = doc.get("region")
    except (ValueError, KeyError, TypeError):
        return None
    if doc.get("v") != VERSION or not all(isinstance(f, str) and f for f in fields):
        return None
    if region is not None and not isinstance(region, str):
        return None
    account, product, task_id, kind, sender = fields
    hint = Hint(account, product, task_id, kind[:MAX_KIND], received, region, relayed=True)
    return sender, hint


class HintRelay:
    """Publishes hints to, and listens for them on, :data:`CHANNEL`; see the module docstring.

    ``sender``: this replica's identity (its own hints coming back are ignored)."""

    def __init__(self, state: State, *, sender: str, metrics: Metrics, clock: Clock) -> None:
        self._state = state
        self.sender = sender
        self._metrics = metrics
        self._clock = clock
        self._publisher: psycopg.AsyncConnection[Any] | None = None
        self._lock = anyio.Lock()
        self.listening = anyio.Event()
        """Set while the listening session is up (a hint published meanwhile would be lost);
        replaced by a new one when the session is lost."""

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            kwargs = connect_kwargs(self._state)
            conninfo = make_conninfo(kwargs.pop("conninfo"), **kwargs)
            return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            # libpq's message names host and database, never the password (it is not in the URL)
            where = self._state.display()
            raise StoreError(
                f"{where}: cannot listen for relayed hints: {exc}", path=where
            ) from exc

    async def publish(self, hint: Hint) -> bool:
        """Relay ``hint`` to the replica holding its account; whether ``NOTIFY`` was sent. A
        failure is counted and logged, and the connection is made again at the next hint."""
        payload = encode(hint, self.sender)
        if len(payload.encode()) >= NOTIFY_LIMIT:  # a task id no API would mint: not relayed
            self._metrics.hint_relayed("out", hint.product, "failed")
            log.warning("hint.relay_too_large", product=hint.product, size=len(payload))
            return False
        async with self._lock:  # one session, one statement at a time
            try:
                if self._publisher is None or self._publisher.closed:
                    self._publisher = await self._connect()
                await self._publisher.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except (psycopg.Error, StoreError) as exc:
                await self._drop_publisher()
                self._metrics.hint_relayed("out", hint.product, "failed")
                log.warning("hint.relay_failed", product=hint.product, error=type(exc).__name__)
                return False
        self._metrics.hint_relayed("out", hint.product, "published")
        return True

    async def run(self, deliver: Callable[[Hint], str]) -> None:
        """Listen until cancelled: each relayed hint from another replica goes to ``deliver``
        (the inbox's ``put``, whose answer is counted). A lost session is opened again after
        :data:`BACKOFF`; hints published meanwhile are lost (polling is the net)."""
        failures = 0
        while True:
            try:
                conn = await self._connect()
            except StoreError as exc:
                failures = await self._pause(failures, exc)
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if failures:
                        log.info("hint.relay_listening", after=failures)
                    failures = 0
                    async for notice in conn.notifies():
                        self._received(notice.payload, deliver)
            except psycopg.Error as exc:
                failures = await self._pause(failures, exc)
            finally:
                if self.listening.is_set():
                    self.listening = anyio.Event()

    def _received(self, payload: str, deliver: Callable[[Hint], str]) -> None:
        decoded = decode(payload, self._clock.monotonic())
        if decoded is None:
            self._metrics.hint_relayed("in", "other", "malformed")
            return
        sender, hint = decoded
        if sender == self.sender:
            return  # our own, back from the channel
        try:
            self._metrics.hint_relayed("in", hint.product, deliver(hint))
        except Exception as exc:  # a bug here must not stop the listener
            log.warning("hint.relay_deliver_failed", product=hint.product, error=type(exc).__name__)

    async def _pause(self, failures: int, exc: Exception) -> int:
        wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
        if failures == 0:
            log.warning("hint.relay_lost", error=type(exc).__name__, retry_in=wait)
        await anyio.sleep(wait)
        return failures + 1

    async def _drop_publisher(self) -> None:
        conn, self._publisher = self._publisher, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()

    async def close(self) -> None:
        """Close the publishing session (the listening one ends with :meth:`run`)."""
        async with self._lock:
            await self._drop_publisher()
