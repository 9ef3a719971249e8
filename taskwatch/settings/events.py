"""The ``events`` section and an account's ``events`` block: task notifications received as hints.

``events`` (top level) says whether the daemon listens for task notifications at all, where
(``path`` on the main listener, or a listener of its own), how old a Live callback may be and
how many hints it admits per (account, product) and holds. An account's ``events`` block holds
its secrets: the MPS ``NotifyKey`` values its tasks are submitted with (several, so a key can be
rotated: every task submitted with the old one still notifies until it ends) and the token of
its Live callback URL. Without that block the account's notifications are refused
(``not_configured``). ``outgoing`` webhooks are another section (``notifications``).

Secrets are :class:`~pydantic.SecretStr` (masked in ``repr`` and dumps); a reason never quotes
one, not even its length.

Not guaranteed: that a key works: MPS signs with whatever the submitter set in
``TaskNotifyConfig.NotifyKey``; a wrong one is seen only as ``forged`` notifications.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator

from taskwatch.settings.base import Section
from taskwatch.settings.values import (
    _FLOAT,
    _INT,
    Duration,
    _Invalid,
    _listen,
    _optional_secret,
    _secret,
)

__all__ = ["MIN_TOKEN", "RESERVED", "AccountEvents", "EventSettings"]

MIN_TOKEN = 16
"""Characters a Live callback token has at least (the token is the callback's only secret)."""
MAX_KEYS = 8
"""NotifyKeys per account at most (rotation needs two; a handful leaves room for overlap)."""
RESERVED = frozenset({"metrics", "healthz", "readyz", "-", "status.css"})
"""First path segments the main listener already serves."""

_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]+$")


def _events_path(value: str) -> str:
    if not _PATH.match(value):
        raise ValueError(
            f"{value[:70]!r} is not a URL path: '/' then segments of A-Z a-z 0-9 . _ ~ -, "
            "no trailing '/' (e.g. /events)"
        )
    if value.split("/")[1] in RESERVED:
        raise ValueError(f"{value[:70]!r} would shadow an endpoint of the server")
    return value


def _optional_listen(value: str | None) -> str | None:
    return None if not value else _listen(value)


def _token(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    text = value.get_secret_value()
    if len(text) < MIN_TOKEN:
        raise ValueError(f"must be at least {MIN_TOKEN} characters (a random token)")
    if not _TOKEN.match(text):
        raise ValueError("must be only the characters A-Z a-z 0-9 . _ ~ - (it is a URL path)")
    return value


class EventSettings(Section):
    """``events``: task notifications (MPS URL notifications, Live pull-stream callbacks)
    received as hints: each makes taskwatch describe that task at once; polling stays the net."""

    enabled: bool = False
    """Serve the notification routes (``POST {path}/mps/{account}``, ``POST
    {path}/live/{account}/{token}``)."""
    path: Annotated[str, AfterValidator(_events_path)] = "/events"
    """URL path the routes start with. Read at start."""
    listen: Annotated[str | None, AfterValidator(_optional_listen)] = None
    """``host:port`` of a listener serving only the notification routes (the TLS of
    ``http.web_config``, never its basic auth); default: on ``http.listen``, where these routes
    skip basic auth (they authenticate themselves). Read at start."""
    max_age: Duration = 600.0
    """A Live callback whose ``event_time`` is older than this is refused (``expired``); an MPS
    ``Timestamp`` (an expiry) further than this in the future is refused (``future``)."""
    per_second: Annotated[float, Field(gt=0, le=10_000), _FLOAT] = 10.0
    """Hints admitted per (account, product) per second, in bursts of as many (at least 1);
    beyond: ``rate_limited``."""
    queue: Annotated[int, Field(ge=1, le=1_000_000), _INT] = 1000
    """Hints waiting to be handled at most; beyond: ``queue_full``."""
    relay: bool = True
    """With leader election on and a PostgreSQL journal: a hint for an account this replica does
    not lead (a follower, or another replica's shard) is relayed to the replica that does,
    through the journal's database (``LISTEN``/``NOTIFY``), instead of waiting for its poll. Read
    at start."""


class AccountEvents(Section):
    """An account's ``events`` block: the secrets its notifications are checked with."""

    mps_notify_keys: tuple[Annotated[SecretStr, BeforeValidator(_secret)], ...] = ()
    """The ``NotifyKey`` values of the account's MPS tasks (``TaskNotifyConfig``): a
    notification signed with any of them is accepted (several: rotation). Empty: MPS
    notifications are refused (``not_configured``)."""
    live_token: Annotated[
        SecretStr | None, BeforeValidator(_optional_secret), AfterValidator(_token)
    ] = None
    """The secret last segment of the Live ``CallbackUrl`` (``.../live/{account}/{token}``), at
    least 16 of A-Z a-z 0-9 . _ ~ -. Absent: Live callbacks are refused (``not_configured``)."""

    @model_validator(mode="after")
    def _coherent(self) -> AccountEvents:
        if not self.mps_notify_keys and self.live_token is None:
            raise _Invalid("set mps_notify_keys or live_token (or remove the block)")
        if len(self.mps_notify_keys) > MAX_KEYS:
            raise _Invalid(f"at most {MAX_KEYS} keys", "mps_notify_keys")
        seen: dict[str, int] = {}
        for i, key in enumerate(self.mps_notify_keys):
            text = key.get_secret_value()
            if text in seen:  # never quoted: say where the twin is instead
                raise _Invalid(f"is listed twice (also [{seen[text]}])", "mps_notify_keys", i)
            seen[text] = i
        return self
