"""Task notifications received as hints: verified, deduplicated, rate-limited and queued.

A notification (an MPS URL notification, a Live pull-stream callback) says that something may
have happened to one task. :mod:`~taskwatch.hints.verify` checks its body against the account's
secrets (pure), :mod:`~taskwatch.hints.replay` refuses the same body twice,
:mod:`~taskwatch.hints.inbox` admits, queues and hands out :class:`Hint` s to a handler (the
lead's :class:`taskwatch.hinting.HintRouter`, which describes the task through its source).
:mod:`taskwatch.web.events` is the HTTP side. A hint never decides anything: the describe it
causes does, through the same rules and fence as polling, and polling stays the net for every
notification lost, refused or dropped.
"""

from __future__ import annotations

from taskwatch.hints.hint import HANDLED, Hint, HintHandler
from taskwatch.hints.inbox import CONCURRENCY, Inbox
from taskwatch.hints.replay import ReplayCache
from taskwatch.hints.verify import REJECTIONS, Verdict, secrets_of, verify_live, verify_mps

__all__ = [
    "CONCURRENCY",
    "HANDLED",
    "REJECTIONS",
    "Hint",
    "HintHandler",
    "Inbox",
    "ReplayCache",
    "Verdict",
    "secrets_of",
    "verify_live",
    "verify_mps",
]
