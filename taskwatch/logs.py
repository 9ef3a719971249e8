"""structlog configuration: key=value events, JSON when not on a terminal, secrets scrubbed, and
the one scrubbing function every other sink uses. Records of the standard ``logging`` module
(aiohttp, asyncio, kubernetes_asyncio, psycopg) go through the same processors.

Layers keep secrets out of logs. Keys that name a secret (``secret_key``, ``token``,
``authorization``, ``password``…) have their values replaced outright. Every string value goes
through :func:`scrub`: every secret value taskwatch loads is registered with
:func:`register_secret` and replaced wherever it appears, including exception text; and values
that say what they are, whoever's they are, are replaced too: a ``NotifyKey=…``, ``"token": "…"``,
``SecretKey: …`` (a value of 8 or more characters with a digit, after a colon), the password of a
URL (``https://user:password@host``), ``Bearer …``. That is what catches a secret an API echoes back
in an error message. Finally every string value is capped (:data:`LOG_VALUE_LIMIT`, tracebacks
:data:`LOG_EXCEPTION_LIMIT`), so one event is one line of bounded size whatever it quotes.

The same :func:`scrub` runs, with a cap (:func:`bounded`), where an API error is built from the
wire (``taskwatch.tencent.errors``), so what the status page, the journal and ``taskwatch audit``
show is clean too; this module's processor is then defence in depth.

The registry is bounded (:class:`SecretRegistry`). A value registered without an expiry (a static
key, a password, a webhook key) stays for the process's life. A value registered with one (the key
and token of temporary credentials, renewed every hour or two for months) is dropped
:data:`SECRET_GRACE` seconds after it expires, since a late error may still quote it, and the
temporary values beyond :data:`TEMPORARY_CAP` are evicted oldest first (logged once,
``logs.secret_evicted``, when one is evicted before its grace is over). The latest registration of
a value decides which kind it is: :class:`~taskwatch.tencent.credentials.Credentials` register
what they hold when built, before anyone knows when it expires; the source that fetched them then
registers them again with their expiry.

Not guaranteed: scrubbing of registered values shorter than 8 characters (too likely to collide
with ordinary text; such values are rejected as credentials anyway), nor of a secret that does
not say what it is and was never loaded (a bare random string in free text), nor of a temporary
value after its grace or its eviction. The registry has no clock: expiries are dropped relative to
the ``now`` a registration passes (the wall clock if none), so every caller must use one clock.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

log = structlog.get_logger(__name__)

REDACTED = "[redacted]"
_SECRET_KEYS = frozenset(
    {"secret_key", "secretkey", "token", "session_token", "authorization", "password", "x-tc-token"}
)
_MIN_SECRET = 8
SECRET_GRACE = 3600.0
"""Seconds a temporary secret is still scrubbed after it expires: a retry, a slow error path or a
late log line may quote the old token."""
TEMPORARY_CAP = 1024
"""Temporary secrets kept at most, oldest evicted first: about a hundred accounts renewing every
quarter of an hour fit under it with their grace."""
LOG_VALUE_LIMIT = 2000
"""Characters of one string value in a log event (an error message is capped at 1,000 where it
is built; this leaves room for its call site, code and request id)."""
LOG_EXCEPTION_LIMIT = 16_000
"""Characters of a rendered traceback: dozens of frames, not a megabyte message."""
SCRUB_WINDOW = 65_536
""":func:`bounded` scrubs this much beyond its limit, so no secret straddling the cut leaves its
head behind (a secret longer than this could)."""

_NAME = r"[A-Za-z0-9_.\-]{0,64}(?:secret|token|password|passwd|pwd|signature|sign|key)"
"""A name that says its value is secret: ``NotifyKey``, ``SecretKey``, ``X-TC-Token``, ``key``
(WeCom webhooks), ``q-signature`` and ``sign`` (signed URLs), ``password``..."""
_SAYS_SECRET = re.compile(
    # "NotifyKey": "value"  or  'token': 'value'  (JSON, Python reprs)
    rf"""(?P<q>["'])(?P<n1>{_NAME})(?P=q)\s*:\s*(?P<v>["'])(?:(?!(?P=v))[^\\]|\\.)*(?P=v)"""
    # NotifyKey=value  (query strings, k=v lists)
    rf"|(?<![A-Za-z0-9_.\-])(?P<n2>{_NAME})\s*=\s*(?!\[redacted\])[^\s&\"'<>,;)\]}}]+"
    # SecretKey: value  (only a value that looks like one: 8+ characters with a digit)
    rf"|(?<![A-Za-z0-9_.\-])(?P<n3>{_NAME}):\s*(?=[^\s\"'<>,;:]*\d)[^\s\"'<>,;:]{{8,}}"
    # https://user:password@host
    r"|(?<=://)[^\s/@?#\"'<>]+@"
    # Authorization: Bearer value
    r"|\b(?P<scheme>Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SecretCounts:
    """How many values a :class:`SecretRegistry` holds, by kind."""

    permanent: int
    temporary: int


class SecretRegistry:
    """The values :func:`scrub` replaces wherever they appear (see the module docstring).

    Thread-safe: registrations take a lock; :meth:`replace` reads an immutable snapshot (longest
    value first, so a secret containing another is replaced whole), rebuilt after a change. A
    registration racing a scrub may miss that scrub, as before.
    """

    __slots__ = ("_cap", "_grace", "_lock", "_ordered", "_permanent", "_soonest", "_temporary",
                 "_warned")  # fmt: skip

    def __init__(self, *, grace: float = SECRET_GRACE, cap: int = TEMPORARY_CAP) -> None:
        self._grace = grace
        self._cap = cap
        self._lock = threading.Lock()
        self._permanent: set[str] = set()
        self._temporary: dict[str, float] = {}
        """Value → expiry (epoch seconds); insertion order is age, oldest first."""
        self._soonest = float("inf")
        """No temporary value expires before this: pruning is skipped until it is past."""
        self._ordered: tuple[str, ...] | None = ()
        self._warned = False

    def register(
        self, value: str | None, expires_at: float | None = None, *, now: float | None = None
    ) -> None:
        """Replace ``value`` from now on: for good without ``expires_at``, else until
        :data:`SECRET_GRACE` after it (``now``: the current time on the clock ``expires_at`` is
        read on; the wall clock if None)."""
        if not value or len(value) < _MIN_SECRET:
            return
        evicted_early = 0
        with self._lock:
            if expires_at is None:
                if value in self._permanent:
                    return  # sources that re-read their keys at every call cost nothing here
                self._permanent.add(value)
                self._temporary.pop(value, None)
            else:
                self._permanent.discard(value)
                expires_at = max(expires_at, self._temporary.pop(value, expires_at))
                self._temporary[value] = expires_at  # the newest, whatever its age before
                self._soonest = min(self._soonest, expires_at)
                evicted_early = self._prune(time.time() if now is None else now)
            self._ordered = None
        if evicted_early and not self._warned:
            self._warned = True  # once per registry: the cap is a backstop, not a policy
            log.warning(
                "logs.secret_evicted",
                cap=self._cap,
                evicted=evicted_early,
                note="temporary secrets evicted before their grace ended: a late error quoting "
                "one would not be scrubbed by value",
            )

    def _prune(self, now: float) -> int:
        """Drop what is past its grace, then the oldest beyond the cap; the number of values
        evicted while still in their grace. The caller holds the lock."""
        cutoff = now - self._grace
        if self._soonest < cutoff:
            for value in [v for v, e in self._temporary.items() if e < cutoff]:
                del self._temporary[value]
            self._soonest = min(self._temporary.values(), default=float("inf"))
        early = 0
        while len(self._temporary) > self._cap:
            oldest = next(iter(self._temporary))
            early += self._temporary.pop(oldest) >= cutoff
        return early

    def replace(self, text: str) -> str:
        """``text`` with every registered value replaced by :data:`REDACTED`."""
        ordered = self._ordered
        if ordered is None:
            with self._lock:
                ordered = self._ordered
                if ordered is None:
                    values = self._permanent.union(self._temporary)
                    ordered = self._ordered = tuple(sorted(values, key=len, reverse=True))
        for secret in ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def counts(self) -> SecretCounts:
        with self._lock:
            return SecretCounts(len(self._permanent), len(self._temporary))


_REGISTRY = SecretRegistry()
"""The process's registry: what :func:`register_secret` adds to and :func:`scrub` replaces."""


def register_secret(
    value: str | None, expires_at: float | None = None, *, now: float | None = None
) -> None:
    """Scrub ``value`` from every log event from now on: for good, or (with ``expires_at``, epoch
    seconds) until :data:`SECRET_GRACE` after it, ``now`` read on the same clock."""
    _REGISTRY.register(value, expires_at, now=now)


def secret_counts() -> SecretCounts:
    """How many values the process's registry holds, by kind."""
    return _REGISTRY.counts()


def scrub(text: str) -> str:
    """``text`` with every registered secret, and every value that says it is secret, replaced
    by :data:`REDACTED`. The one scrubbing function: logs, webhooks, API errors all use it."""
    return _SAYS_SECRET.sub(_redact_match, _REGISTRY.replace(text))


def _redact_match(match: re.Match[str]) -> str:
    if match.group("n1") is not None:
        quote, value_quote = match.group("q"), match.group("v")
        name = match.group("n1")
        return f"{quote}{name}{quote}: {value_quote}{REDACTED}{value_quote}"
    name = match.group("n2") or match.group("n3")
    if name is not None:
        return f"{name}={REDACTED}" if match.group("n2") else f"{name}: {REDACTED}"
    scheme = match.group("scheme")
    if scheme is not None:
        return f"{scheme} {REDACTED}"
    return f"{REDACTED}@"  # a URL's user information


def cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more characters]"


def bounded(text: str, limit: int) -> str:
    """``text`` scrubbed, then capped at ``limit`` characters: what a sink may show of text that
    came from outside. The cost is bounded too: only the head that can survive the cut (plus
    :data:`SCRUB_WINDOW`) is scrubbed."""
    head = text[: limit + SCRUB_WINDOW]
    cut = len(text) - len(head)
    clean = scrub(head)
    if cut == 0:
        return cap(clean, limit)
    return f"{clean[:limit]}…[{len(clean) - limit + cut} more characters]"


def _scrub_value(value: Any, limit: int = LOG_VALUE_LIMIT) -> Any:
    if isinstance(value, str):
        return bounded(value, limit)
    if isinstance(value, dict):
        return {k: _scrub_value(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v, limit) for v in value)
    return value


def redact_processor(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop secret-named keys' values, scrub the rest (:func:`scrub`) and
    cap every string value."""
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = REDACTED
        elif key == "exception":
            event[key] = _scrub_value(event[key], LOG_EXCEPTION_LIMIT)
        else:
            event[key] = _scrub_value(event[key])
    return event


def configure(
    *, level: str = "info", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog once at start-up. ``json=None`` picks JSON unless on a terminal."""
    out = stream or sys.stderr
    if json is None:
        json = not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(out, level, renderer)


_OURS = "_taskwatch_handler"


def _route_stdlib(out: TextIO, level: str, renderer: Any) -> None:
    """Records of the standard library's ``logging`` (aiohttp, asyncio, kubernetes_asyncio,
    psycopg) through the same processors as taskwatch's own events: one JSON object per line
    in JSON mode (plain text used to appear inside the JSON stream), timestamped, with the
    record's level and logger name, scrubbed and capped. Replaces the handler an earlier call
    installed and leaves every other handler (a test's log capture) alone."""
    handler = logging.StreamHandler(out)
    setattr(handler, _OURS, True)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_processor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, _OURS, False)] + [handler]
    root.setLevel(logging.getLevelNamesMapping()[level.upper()])
