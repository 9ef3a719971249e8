"""The filter language of policies: raw YAML data in, a checked :data:`Filter` tree out.

A filter list means "all of these". Each item is one mapping, either a shortcut::

    type: LiveStreamProcessTask          # or a list; MPS accepts LiveProcessTask too
    status: PROCESSING                   # or a list; the product's own values
    running_longer_than: 6h              # running_for > 6h (only running tasks have one)
    waiting_longer_than: 30m             # waiting_for > 30m (only waiting tasks have one)
    age: 2d                              # older than 2d; or age: {gt: 2d, le: 5d}
    cost_over: 200                       # cost.so_far > 200 (the estimate, in the table's currency)
    and: [...]  /  or: [...]  /  not: {...}

or a generic test ``{key: ..., op: ..., value: ...}`` (keys and ops: :mod:`.filters`).

Everything that can be known without a task is checked here, so a policy that loads cannot fail
on a value later: ops and shortcut names exist, regexes compile on RE2 (:mod:`.patterns`:
linear time, at most 1,000 characters, bounded memory), ``in``/``not-in`` get a
non-empty list, ``present``/``absent`` get no value, ``gt``..``le`` get numbers (durations only
for the time keys ``age``, ``running_for`` and ``waiting_for``, which take nothing else), the cost
keys ``cost.so_far`` and ``cost.per_hour`` (and ``cost_over``) take a number that is not negative
and only ``eq``, ``ne``, ``gt``..``le``, ``present``, ``absent`` (money, never a duration), status
values belong to the product, and a bare key starting with a lower-case letter must be a virtual
key (API fields are CamelCase, so ``stauts`` is a typo, not a field; write ``fields.x`` or
``detail.x`` to reach an unusual field).

Problems raise :class:`FilterError` carrying the path of the culprit below the policy, e.g.
``("filters", 3, "value")``; :mod:`.rules` turns it into a ``ConfigError``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from taskwatch.durations import format_duration, parse_duration
from taskwatch.models import Phase
from taskwatch.policy.catalog import STATUSES, TITLES, TYPE_SPELLINGS
from taskwatch.policy.costs import cost_key, money
from taskwatch.policy.filters import (
    COST_KEYS,
    OPS,
    TIME_KEYS,
    VIRTUAL_KEYS,
    AllOf,
    AnyOf,
    Compare,
    Filter,
    Key,
    Not,
    number,
)
from taskwatch.policy.patterns import PatternError, Patterns, check_length

SHORTCUTS = ("type", "status", "running_longer_than", "waiting_longer_than", "age", "cost_over")
COMBINATORS = ("and", "or", "not")
GENERIC = ("key", "op", "value")
MAX_DEPTH = 16
_BOUNDS = ("gt", "ge", "lt", "le")
_NO_VALUE = ("present", "absent")
_TIME_OPS = ("eq", "ne", *_BOUNDS, *_NO_VALUE)
_COST_OPS = _TIME_OPS
_Where = tuple[str | int, ...]


class FilterError(ValueError):
    """A filter that cannot be compiled; ``at`` is where, below the policy."""

    def __init__(self, reason: str, *at: str | int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.at = at


def _suggest(word: object, choices: Collection[str]) -> str:
    if not isinstance(word, str):
        return ""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def _kind(value: object) -> str:
    names = {
        dict: "mapping",
        list: "list",
        str: "string",
        bool: "true/false value",
        type(None): "null",
    }
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


def parse_all(
    items: object, *, product: str, at: _Where, patterns: Patterns | None = None
) -> AllOf:
    """A filter list: every item must hold. Its regexes count against ``patterns`` (the whole
    configuration's budget; default: one of its own)."""
    return AllOf(_items(items, product, at, 0, patterns or Patterns()))


def parse_any(
    items: object, *, product: str, at: _Where, patterns: Patterns | None = None
) -> AnyOf:
    """An ``exclude`` list: any item holding is enough."""
    return AnyOf(_items(items, product, at, 0, patterns or Patterns()))


def _items(
    items: object, product: str, at: _Where, depth: int, patterns: Patterns
) -> tuple[Filter, ...]:
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise FilterError(f"must be a list of filters, not a {_kind(items)}", *at)
    if not items:
        raise FilterError("must not be empty", *at)
    return tuple(_item(raw, product, (*at, i), depth + 1, patterns) for i, raw in enumerate(items))


def _item(raw: object, product: str, at: _Where, depth: int, patterns: Patterns) -> Filter:
    if depth > MAX_DEPTH:
        raise FilterError(f"filters are nested too deeply (at most {MAX_DEPTH} levels)", *at)
    if not isinstance(raw, Mapping) or not raw:
        raise FilterError(
            "a filter is a mapping: a shortcut such as {status: WAITING}, and/or/not, or "
            f"{{key: ..., op: ..., value: ...}}; not {'empty' if raw == {} else 'a ' + _kind(raw)}",
            *at,
        )
    if "key" in raw or "op" in raw:
        return _generic(raw, product, at, patterns)
    if len(raw) > 1:
        names = ", ".join(str(k)[:20] for k in list(raw)[:5])
        raise FilterError(
            f"one filter per mapping, this has {len(raw)} ({names}): write each as its own list "
            "item (a list means all of them)",
            *at,
        )
    ((name, value),) = raw.items()
    here = (*at, str(name))
    if name in ("and", "or"):
        parts = _items(value, product, here, depth, patterns)
        return AllOf(parts) if name == "and" else AnyOf(parts)
    if name == "not":
        if isinstance(value, Sequence) and not isinstance(value, str):
            raise FilterError(
                "not takes one filter (a mapping); to negate several write not: {or: [...]} "
                "(none of them) or not: {and: [...]} (not all of them)",
                *here,
            )
        return Not(_item(value, product, here, depth + 1, patterns))
    if name in SHORTCUTS:
        return _shortcut(str(name), value, product, here)
    known = (*SHORTCUTS, *COMBINATORS)
    raise FilterError(
        f"unknown filter {str(name)[:40]!r}{_suggest(name, (*known, *GENERIC))} (filters: "
        f"{', '.join(known)}, or {{key, op, value}})",
        *here,
    )


# --- shortcuts -----------------------------------------------------------------------------------


def _shortcut(name: str, value: object, product: str, at: _Where) -> Filter:
    if name == "cost_over":
        bound = _money(value, at, name)
        return Compare(cost_key("so_far"), "gt", bound, f"cost_over: {bound:g}", at)
    if name in ("type", "status"):
        values = _names(value, at, name)
        listed = isinstance(value, list | tuple)
        options = tuple(
            _vocabulary(name, v, product, (*at, i) if listed else at) for i, v in enumerate(values)
        )
        shown = options[0] if len(options) == 1 else f"[{', '.join(options)}]"
        return Compare(Key("virtual", (name,), name), "in", options, f"{name}: {shown}", at)
    if name == "age" and isinstance(value, Mapping):
        if not value:
            raise FilterError("must not be empty: write age: 2d, or age: {gt: 2d, le: 5d}", *at)
        tests = []
        for op, bound in value.items():
            if op not in _BOUNDS:
                raise FilterError(
                    f"age takes gt, ge, lt or le, not {str(op)[:20]!r}{_suggest(op, _BOUNDS)}",
                    *at,
                    str(op),
                )
            seconds = _duration(bound, (*at, str(op)))
            text = f"age {op} {format_duration(seconds)}"
            tests.append(Compare(Key("virtual", ("age",), "age"), str(op), seconds, text, at))
        return tests[0] if len(tests) == 1 else AllOf(tuple(tests))
    key = {"running_longer_than": "running_for", "waiting_longer_than": "waiting_for"}
    seconds = _duration(value, at)
    virtual = key.get(name, "age")
    text = f"{name}: {format_duration(seconds)}"
    return Compare(Key("virtual", (virtual,), virtual), "gt", seconds, text, at)


def _names(value: object, at: _Where, name: str) -> list[str]:
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise FilterError(f"must not be empty: give {name} one value or a list", *at)
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v:
            where = (*at, i) if isinstance(value, list | tuple) else at
            raise FilterError(f"{name} values are non-empty strings, not a {_kind(v)}", *where)
    return [str(v) for v in values]


def _vocabulary(key: str, value: str, product: str, at: _Where) -> str:
    """A type in its canonical spelling; a status, phase or product checked."""
    if key == "type":
        return TYPE_SPELLINGS.get(product, {}).get(value, value)
    choices = {
        "status": STATUSES.get(product, ()),
        "phase": tuple(p.value for p in Phase),
        "product": tuple(TITLES),
    }.get(key)
    if choices is not None and value not in choices:
        what = f"a status of {TITLES.get(product, product)}" if key == "status" else f"a {key}"
        raise FilterError(
            f"{value[:40]!r} is not {what} ({', '.join(choices)}){_suggest(value, choices)}", *at
        )
    return value


def _money(value: object, at: _Where, what: str) -> float:
    try:
        return money(value, what)
    except ValueError as exc:
        raise FilterError(str(exc), *at) from None


def _duration(value: object, at: _Where) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FilterError("must be a duration (e.g. 30s, 90m, 6h, 2d, 1h30m)", *at)
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise FilterError(str(exc), *at) from None
    if not math.isfinite(seconds):
        raise FilterError("must be a finite duration", *at)
    return seconds


# --- {key, op, value} ----------------------------------------------------------------------------


def _generic(raw: Mapping[Any, Any], product: str, at: _Where, patterns: Patterns) -> Filter:
    for name in raw:
        if name not in GENERIC:
            hint = _suggest(name, GENERIC) or " (a test is {key, op, value})"
            raise FilterError(f"unknown key {str(name)[:40]!r}{hint}", *at, str(name))
    key = _key(raw.get("key"), (*at, "key"))
    op = raw.get("op")
    if not isinstance(op, str) or op not in OPS:
        shown = "missing" if op is None else f"unknown op {str(op)[:40]!r}{_suggest(op, OPS)}"
        raise FilterError(f"{shown} (ops: {', '.join(OPS)})", *at, "op")
    if op in _NO_VALUE:
        if "value" in raw:
            raise FilterError(f"op {op!r} takes no value", *at, "value")
        return Compare(key, op, None, f"{key.text} {op}", at)
    if "value" not in raw:
        raise FilterError(f"op {op!r} needs a value", *at, "value")
    operand = _operand(key, op, raw["value"], product, (*at, "value"), patterns)
    timed = key.scope == "virtual" and key.path[0] in TIME_KEYS
    shown = format_duration(operand) if timed else _shown(raw["value"])
    return Compare(key, op, operand, f"{key.text} {op} {shown}", at)


def _key(text: object, at: _Where) -> Key:
    if not isinstance(text, str) or not text:
        raise FilterError("needs a key: a virtual key (e.g. status), or an API field", *at)
    scope, _, rest = text.partition(".")
    if scope == "cost":
        if rest not in COST_KEYS:
            names = ", ".join(f"cost.{k}" for k in COST_KEYS)
            raise FilterError(
                f"unknown key {text[:60]!r}{_suggest(rest, COST_KEYS)}: the cost keys are {names}",
                *at,
            )
        return cost_key(rest)
    if scope in ("detail", "fields"):
        path = tuple(rest.split("."))
        if not rest or not all(path):
            raise FilterError(f"{text[:60]!r}: write {scope}.Field or {scope}.A.B", *at)
        return Key("detail" if scope == "detail" else "fields", path, text)
    path = tuple(text.split("."))
    if not all(path):
        raise FilterError(f"{text[:60]!r} has an empty part", *at)
    if path[0] in VIRTUAL_KEYS:
        if len(path) > 1:
            raise FilterError(f"{text[:60]!r}: {path[0]} has no parts", *at)
        return Key("virtual", path, text)
    if path[0][0].islower():
        raise FilterError(
            f"unknown key {text[:60]!r}{_suggest(path[0], VIRTUAL_KEYS)}: a bare key is a "
            f"virtual key ({', '.join(VIRTUAL_KEYS)}), cost.so_far or cost.per_hour, or an API "
            "field, which is CamelCase; write fields.x or detail.x for any other",
            *at,
        )
    return Key("either", path, text)


def _operand(key: Key, op: str, value: object, product: str, at: _Where, patterns: Patterns) -> Any:
    if key.scope == "cost":
        if op not in _COST_OPS:
            raise FilterError(f"{key.text} is money: use eq, ne, gt, ge, lt or le, not {op}", *at)
        return _money(value, at, key.text)
    name = key.path[0] if key.scope == "virtual" else ""
    if name in TIME_KEYS:
        if op not in _TIME_OPS:
            raise FilterError(f"{name} is seconds: use eq, ne, gt, ge, lt or le, not {op}", *at)
        return _duration(value, at)
    if op in ("in", "not-in"):
        if not isinstance(value, list | tuple) or not value:
            raise FilterError(f"op {op!r} needs a non-empty list of values", *at)
        return tuple(_scalar(name, v, product, (*at, i)) for i, v in enumerate(value))
    if op in _BOUNDS:
        bound = number(value)
        if bound is None or not math.isfinite(bound):
            raise FilterError(
                f"op {op!r} compares numbers: the value must be a finite number (durations "
                f"such as 6h only for {', '.join(TIME_KEYS)})",
                *at,
            )
        return bound
    if op in ("regex", "glob"):
        if not isinstance(value, str) or not value:
            raise FilterError(f"op {op!r} needs a non-empty string", *at)
        try:
            check_length(value, op)
            return patterns.regex(value) if op == "regex" else value
        except PatternError as exc:
            raise FilterError(exc.reason, *at) from exc
    return _scalar(name if op != "contains" else "", value, product, at)


def _scalar(name: str, value: object, product: str, at: _Where) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError("must be a finite number", *at)
    if not isinstance(value, str | int | float):
        raise FilterError(f"must be a string, a number or true/false, not a {_kind(value)}", *at)
    if name and not isinstance(value, str):
        raise FilterError(f"{name} is text: the value must be a string, not a {_kind(value)}", *at)
    if isinstance(value, str) and name in ("type", "status", "phase", "product"):
        return _vocabulary(name, value, product, at)
    return value
