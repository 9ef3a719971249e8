"""The value types and field validators of the configuration, apart from the models.

Every check of a single value lives here (names, regions, endpoints, durations, secrets,
``host:port``, Kubernetes names), so that :mod:`taskwatch.settings.model` reads as the list of
keys and their defaults. A check raises ``ValueError`` with a reason written here, never
pydantic's (which embeds the input): no reason ever quotes a value given for a secret.

Product and action names come from :mod:`taskwatch.catalog` (below this layer). This package
sits below ``taskwatch.tencent`` and ``taskwatch.limiter``, so it repeats the few wire facts it
checks (the endpoint rules of ``EndpointPolicy``, the ``X-TC-RequestClient`` suffix alphabet);
``tests/test_settings.py`` keeps them in step with their owners.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)

from taskwatch import catalog
from taskwatch.durations import format_duration, parse_duration

if TYPE_CHECKING:
    ProductName: TypeAlias = str
    ActionName: TypeAlias = str
else:  # pydantic validates (and documents in the JSON Schema) the catalog's names as a Literal
    ProductName = Literal[catalog.NAMES]
    ActionName = Literal[tuple(dict.fromkeys(catalog.verbs().values()))]
PRODUCT_NAMES: tuple[ProductName, ...] = catalog.NAMES
"""Every product of :mod:`taskwatch.catalog`, in its order."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}-[a-z]+(-[a-z0-9]+)?$")
"""What a region name looks like (``ap-guangzhou``): the configuration and the event routes."""
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
_CLIENT_SUFFIX = re.compile(r"^[0-9a-zA-Z\-_,;.]{1,128}$")
_ACTION = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_DURATION_PATTERN = r"^\+?(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h|d|w))+)$"


class _Invalid(ValueError):
    """A failed check that knows where, below the model that raised it, the culprit is."""

    def __init__(self, reason: str, *at: str | int) -> None:
        super().__init__(reason)
        self.at = at


# --- value types ---------------------------------------------------------------------------------


def _not_bool(kind: str) -> BeforeValidator:
    # pydantic's lax mode reads true as 1; in a config file that is always a mistake.
    def check(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(f"must be {kind}, not true or false")
        return value

    return BeforeValidator(check)


_FLOAT = _not_bool("a number")
_INT = _not_bool("an integer")
# Bounds go before the validator: so they reach the JSON Schema, and booleans meet the check first.


def _duration(minimum: float, *, zero: bool = False) -> tuple[BeforeValidator, WithJsonSchema]:
    """Parses ``30s``, ``90m``, ``1h30m`` or a number of seconds; at least ``minimum`` (more
    than 0 when ``minimum`` is 0, unless ``zero``)."""

    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a duration (e.g. 30s, 90m, 6h, 2d, 1h30m)")
        seconds = parse_duration(value)
        if not math.isfinite(seconds):
            raise ValueError("must be a finite duration")
        if seconds < minimum or (seconds <= 0 and not zero):
            bound = f"at least {format_duration(minimum)}" if minimum else "more than 0s"
            raise ValueError(f"must be {bound}")
        return seconds

    number: dict[str, Any] = {"type": "number"}
    number["minimum" if minimum or zero else "exclusiveMinimum"] = minimum
    schema = {"anyOf": [{"type": "string", "pattern": _DURATION_PATTERN}, number]}
    return BeforeValidator(parse), WithJsonSchema(schema)


_AS_TEXT = PlainSerializer(format_duration, return_type=str, when_used="json")
_POSITIVE, _POSITIVE_SCHEMA = _duration(0)
_SECOND, _SECOND_SCHEMA = _duration(1)
Duration = Annotated[float, _POSITIVE, _AS_TEXT, _POSITIVE_SCHEMA]
"""Seconds, written ``30s``, ``90m``, ``1h30m`` or as a number; more than 0; dumped as text."""
Interval = Annotated[float, _SECOND, _AS_TEXT, _SECOND_SCHEMA]
"""A :data:`Duration` of at least one second."""
_ZERO, _ZERO_SCHEMA = _duration(0, zero=True)
Delay = Annotated[float, _ZERO, _AS_TEXT, _ZERO_SCHEMA]
"""A :data:`Duration` that may be ``0s``."""


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not an account name: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit, at most 63 characters"
        )
    return value


def _policy_name(value: str) -> str:
    if not _POLICY_NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not a policy name: lowercase letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, at most 63 characters (it is a metric label)"
        )
    return value


def _notification_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not a notification name: lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit, at most 63 characters"
        )
    return value


def _webhook(value: object) -> object:
    """An absolute http(s) URL. It is a credential (WeCom's ``key=``, Slack's path): never
    quoted in an error, masked in ``repr`` and dumps."""
    if not isinstance(value, str):
        return value
    if not value:
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError("has leading or trailing whitespace")
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError("is not a URL with a valid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    return value


def _region(value: str) -> str:
    if not REGION_PATTERN.match(value):
        raise ValueError(f"{value[:70]!r} is not a region name (e.g. ap-guangzhou)")
    return value


def _endpoint(value: str | None) -> str | None:
    """The rules of ``EndpointPolicy.override``; an empty string means no override."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError("is not a URL with a valid port") from None
    if parts.username is not None or parts.password is not None:  # never quoted
        raise ValueError("must not carry a user name or password")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an absolute http(s) URL, e.g. http://127.0.0.1:9460")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r} must have no path, query or fragment")
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError(f"{value[:70]!r} is not a lower-case domain name")
    return value


def _client_suffix(value: str | None) -> str | None:
    if not value:
        return None
    if not _CLIENT_SUFFIX.match(value):
        raise ValueError("must be 1 to 128 of the characters 0-9 a-z A-Z - _ , ; .")
    return value


def _path(value: object) -> object:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("must not be empty")
        try:
            return Path(value).expanduser()
        except RuntimeError:
            raise ValueError(f"cannot expand '~' in {value!r}") from None
    return value


def _secret(value: object) -> object:
    """Like ``credentials._checked``, and never quoting the value."""
    if isinstance(value, str):
        if not value:
            raise ValueError("must not be empty")
        if value != value.strip():
            raise ValueError("has leading or trailing whitespace")
    return value


def _optional_secret(value: object) -> object:
    return None if value == "" else _secret(value)  # an empty optional token counts as absent


Name = Annotated[str, AfterValidator(_name), Field(json_schema_extra={"pattern": _NAME.pattern})]
Region = Annotated[
    str, AfterValidator(_region), Field(json_schema_extra={"pattern": REGION_PATTERN.pattern})
]


# --- api, http, leader ---------------------------------------------------------------------------


def _limit_key(key: str, info: ValidationInfo) -> str:
    product, dot, action = key.partition(".")
    if not dot or product not in PRODUCT_NAMES or not _ACTION.match(action):
        raise ValueError(
            f"{key[:70]!r} is not a limit key: write product.Action, e.g. mps.DescribeTasks"
        )
    actions: Mapping[str, Collection[str]] | None = (info.context or {}).get("actions")
    if actions is not None and action not in actions.get(product, ()):
        known = ", ".join(sorted(actions.get(product, ())))
        raise ValueError(f"{product} has no action {action!r} (known: {known})")
    return key


def _split_listen(value: str) -> tuple[str | None, int]:
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            sep = ""
    else:
        host, sep, port = value.rpartition(":")
        if ":" in host:
            raise ValueError(f"{value!r}: write an IPv6 address in brackets, e.g. [::1]:10911")
        if host and not _HOST.match(host):
            sep = ""
    if not sep or not port.isdigit() or not port.isascii() or int(port) > 65535:
        raise ValueError(f"{value[:70]!r} is not host:port (e.g. 127.0.0.1:10911, [::1]:10911)")
    return host or None, int(port)


def _listen(value: str) -> str:
    _split_listen(value)
    return value


_LEASE_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _lease_name(value: str) -> str:
    if not _LEASE_NAME.match(value):
        raise ValueError(
            f"{value[:70]!r} is not a Kubernetes object name: lowercase letters, digits, '-' "
            "and '.', starting and ending with a letter or digit"
        )
    return value


def _namespace(value: str | None) -> str | None:
    if not value:
        return None
    if not _NAMESPACE.match(value):
        raise ValueError(f"{value[:70]!r} is not a Kubernetes namespace name")
    return value


def _identity(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > 128 or not value.isprintable() or value != value.strip():
        raise ValueError("must be 1 to 128 printable characters without surrounding spaces")
    return value


def _whole_seconds(value: float) -> float:
    if value != int(value):
        raise ValueError("must be a whole number of seconds (leaseDurationSeconds is an integer)")
    return value


# --- policies, actions, notifications ------------------------------------------------------------

ACTION_NAMES: tuple[ActionName, ...] = tuple(dict.fromkeys(catalog.verbs().values()))
"""Each product's one destructive action as a policy names it, from :mod:`taskwatch.catalog`."""
OutcomeName: TypeAlias = Literal[
    "done", "would", "already_done", "skipped_cap", "fenced", "failed", "unknown"
]
"""Kept equal to ``taskwatch.models.Outcome`` by a test."""
PolicyName = Annotated[
    str, AfterValidator(_policy_name), Field(json_schema_extra={"pattern": _POLICY_NAME.pattern})
]


def _some_filters(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if not value:
        raise ValueError("must not be empty: a policy without filters would match every task")
    return value


def _listed_once(field: str, values: tuple[Any, ...]) -> None:
    for i, value in enumerate(values):
        if value in values[:i]:
            raise _Invalid(f"{value!r} is listed twice", field, i)
