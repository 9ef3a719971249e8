"""Compiled filters: what a key means on a task, what each op does, and how they combine.

A filter is a small tree of frozen nodes (:class:`Compare`, :class:`AllOf`, :class:`AnyOf`,
:class:`Not`), built and checked by :mod:`taskwatch.policy.syntax`; ``holds(task, now)`` is pure
and never raises, whatever shape the API's records have.

**Keys.** ``detail.A.B`` reads the detail record, ``fields.A.B`` the list record; a bare ``A.B``
reads the list record and, when the key is missing there, the detail. Dots step into nested
objects; a segment of digits indexes a list (``detail.Items.0.Name``). The virtual keys ``id``,
``type``, ``status``, ``phase``, ``account``, ``region``, ``product`` read the :class:`Task` itself,
and ``age``, ``running_for``, ``waiting_for`` are seconds from its helpers at ``now``
(``running_for`` exists only while the task runs, ``waiting_for`` only while it waits).
``cost.so_far`` and ``cost.per_hour`` read the task's estimate (:mod:`taskwatch.cost`) at ``now``,
in the price table's currency, from the pricer the rule was compiled with
(:mod:`taskwatch.policy.costs` binds it); a task whose price is unknown has no estimate, so they are
missing for it.

**Missing.** A key that is not there, or whose value is ``null``, is missing, and a missing key
matches no op except ``absent``: ``ne`` and ``not-in`` are false too (a comparison needs a value).
An empty string is a value.

**Ops.** ``eq``/``ne``/``in``/``not-in`` compare values: a number and a numeric string compare as
numbers (DLC sends times and sizes as strings), true/false equal only true/false. ``gt``, ``ge``,
``lt``, ``le`` compare numbers, and numeric strings as numbers; anything else is false. ``regex``
searches (anchor with ``^``/``$``) in time linear in the value, on RE2 (:mod:`.patterns`), and
``glob`` matches the whole text (case-sensitive), both on strings and on numbers written out.
``contains`` is a substring test on a string, membership on a list and a key test on an object.
``present``/``absent`` test for a value.

Not guaranteed: a regex means what Python's ``re`` says only for what both engines share
(:mod:`.patterns` lists the differences, such as ASCII ``\\d`` and ``\\w``).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, TypeAlias

from taskwatch.cost import Pricer
from taskwatch.models import Task

VIRTUAL_KEYS = (
    "id",
    "type",
    "status",
    "phase",
    "account",
    "region",
    "product",
    "age",
    "running_for",
    "waiting_for",
)
TIME_KEYS = ("age", "running_for", "waiting_for")
"""Virtual keys whose value is a number of seconds: the ones that take durations."""
COST_KEYS = ("so_far", "per_hour")
"""What ``cost.<name>`` reads of a task's :class:`~taskwatch.cost.Estimate`: money spent so far,
money spent per hour now."""
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class _Missing(enum.Enum):
    MISSING = "missing"


MISSING = _Missing.MISSING
"""What a key reads when it is not there (or is ``null``)."""
Scope: TypeAlias = Literal["virtual", "fields", "detail", "either", "cost"]


@dataclass(frozen=True, slots=True)
class Key:
    """Where a value is read: a virtual key, or a path into the list or detail record."""

    scope: Scope
    path: tuple[str, ...]
    text: str
    """As written in the configuration."""
    pricer: Pricer | None = field(default=None, compare=False)
    """The estimates a ``cost`` key reads (``None``: not bound yet, so every task is missing)."""

    def find(self, task: Task, now: float) -> object:
        """The value at this key, or :data:`MISSING`."""
        if self.scope == "virtual":
            return _virtual(self.path[0], task, now)
        if self.scope == "cost":
            return _cost(self.pricer, self.path[0], task, now)
        if self.scope == "detail":
            return _walk(task.detail, self.path)
        found = _walk(task.fields, self.path)
        if found is MISSING and self.scope == "either":
            return _walk(task.detail, self.path)
        return found


def _virtual(name: str, task: Task, now: float) -> object:
    value: object
    if name == "age":
        value = task.age(now)
    elif name == "running_for":
        value = task.running_for(now)
    elif name == "waiting_for":
        value = task.waiting_for(now)
    elif name == "phase":
        value = task.phase.value
    else:
        value = getattr(task, name)
    return MISSING if value is None else value


def _cost(pricer: Pricer | None, name: str, task: Task, now: float) -> object:
    """A figure of the task's estimate; missing without one. An estimate that fails on an odd
    record is no estimate: evaluation never raises."""
    if pricer is None:
        return MISSING
    try:
        estimate = pricer.estimate(task, now)
    except (ArithmeticError, LookupError, TypeError, ValueError):
        return MISSING
    if estimate is None:
        return MISSING
    value: float = estimate.so_far if name == "so_far" else estimate.per_hour
    return value if math.isfinite(value) else MISSING


def _walk(root: object, path: tuple[str, ...]) -> object:
    node = root
    for part in path:
        if isinstance(node, Mapping):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and part.isascii():
            index = int(part)
            if index >= len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return MISSING if node is None else node


# --- values and ops ------------------------------------------------------------------------------


def number(value: object) -> float | None:
    """``value`` as a number: numbers, and strings that spell one; not true/false."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        try:
            return float(value)
        except (OverflowError, ValueError):
            return None
    return None


def same(actual: object, expected: object) -> bool:
    """Equality as ``eq`` sees it (see the module docstring)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, str) and isinstance(expected, str):
        return actual == expected
    if isinstance(actual, int) and isinstance(expected, int):
        return actual == expected
    a, b = number(actual), number(expected)
    return a is not None and b is not None and a == b


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _contains(actual: object, needle: Any) -> bool:
    if isinstance(actual, str):
        text = _text(needle)
        return text is not None and text in actual
    if isinstance(actual, list | tuple):
        return any(same(item, needle) for item in actual)
    if isinstance(actual, Mapping):
        return isinstance(needle, str) and needle in actual
    return False


def _regex(actual: object, pattern: Any) -> bool:
    text = _text(actual)
    return text is not None and bool(pattern.search(text))


def _glob(actual: object, pattern: Any) -> bool:
    text = _text(actual)
    return text is not None and fnmatchcase(text, pattern)


def _ordered(test: Callable[[float, float], bool]) -> Callable[[object, Any], bool]:
    def compare(actual: object, bound: Any) -> bool:
        value = number(actual)
        return value is not None and not math.isnan(value) and test(value, bound)

    return compare


OPS: Mapping[str, Callable[[object, Any], bool]] = {
    "eq": same,
    "ne": lambda actual, expected: not same(actual, expected),
    "gt": _ordered(lambda a, b: a > b),
    "ge": _ordered(lambda a, b: a >= b),
    "lt": _ordered(lambda a, b: a < b),
    "le": _ordered(lambda a, b: a <= b),
    "in": lambda actual, options: any(same(actual, o) for o in options),
    "not-in": lambda actual, options: not any(same(actual, o) for o in options),
    "regex": _regex,
    "glob": _glob,
    "contains": _contains,
    "present": lambda actual, _: True,
    "absent": lambda actual, _: False,
}
"""Each op on a value that is present (a missing one matches only ``absent``)."""


# --- the tree ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    """One test of one key: ``{key, op, value}`` or a shortcut such as ``status: WAITING``."""

    key: Key
    op: str
    operand: Any
    """The compiled value: seconds, a tuple of options, a :class:`~.patterns.Regex`, ... (``None``
    for present/absent)."""
    text: str
    """As written, for explanations."""
    where: tuple[str | int, ...] = field(default=(), compare=False)
    """Where in the policy it was written, e.g. ``("filters", 2, "status")``."""

    def test(self, actual: object) -> bool:
        """Whether a value read at :attr:`key` passes."""
        if actual is MISSING:
            return self.op == "absent"
        return OPS[self.op](actual, self.operand)

    def holds(self, task: Task, now: float) -> bool:
        return self.test(self.key.find(task, now))


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every part holds (a filter list, or ``and``)."""

    parts: tuple[Filter, ...]

    def holds(self, task: Task, now: float) -> bool:
        return all(part.holds(task, now) for part in self.parts)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one part holds (``or``, and an ``exclude`` list)."""

    parts: tuple[Filter, ...]

    def holds(self, task: Task, now: float) -> bool:
        return any(part.holds(task, now) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Not:
    """The part does not hold."""

    part: Filter

    def holds(self, task: Task, now: float) -> bool:
        return not self.part.holds(task, now)


Filter: TypeAlias = Compare | AllOf | AnyOf | Not


def compares(node: Filter) -> Iterator[Compare]:
    """Every test in ``node``, in the order written, whatever and/or/not it sits under."""
    if isinstance(node, AllOf | AnyOf):
        for part in node.parts:
            yield from compares(part)
    elif isinstance(node, Not):
        yield from compares(node.part)
    else:
        yield node
