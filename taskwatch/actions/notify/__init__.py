"""Webhook notifications of actions: generic JSON, WeCom group robot and Slack, batched per target.

* :mod:`taskwatch.actions.notify.messages`: what a webhook is (:class:`Target`) and the body it
gets;
* :mod:`taskwatch.actions.notify.delivery`: the :class:`Notifier`, its queues, batches, retries and
  drain (its docstring says what is and is not guaranteed);
* :mod:`taskwatch.actions.notify.host`: the :class:`NotifierHost`, which runs one notifier for the
whole life of the daemon and swaps it (handing queued events over) when a reload changes the
  notifications.
"""

from __future__ import annotations

from taskwatch.actions.notify.delivery import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    WECOM_RATE_LIMITED,
    Notifier,
)
from taskwatch.actions.notify.host import NotifierHost
from taskwatch.actions.notify.messages import (
    DEFAULT_RESULTS,
    FORMATS,
    SLACK_BLOCKS,
    WECOM_LIMIT,
    Format,
    Target,
    event_line,
    render,
    slack_message,
    summary,
    wecom_message,
)

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DEFAULT_RESULTS",
    "FORMATS",
    "SLACK_BLOCKS",
    "WECOM_LIMIT",
    "WECOM_RATE_LIMITED",
    "Format",
    "Notifier",
    "NotifierHost",
    "Target",
    "event_line",
    "render",
    "slack_message",
    "summary",
    "wecom_message",
]
