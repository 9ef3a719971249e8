"""Deadlines: the next instant an unchanged observation of a task would make the executor act.

Why: between two scans a task changes nothing the daemon can see, but time passes, and a rule on
``age``, ``running_for``, ``waiting_for`` or a cost estimate can start to match (or its grace end)
long before the next poll. :func:`next_deadline` predicts that instant so that a timer
(:mod:`taskwatch.timers`) can re-describe the task and run the executor on it then.

How: a time key of an unchanged task moves at one second per second from a fixed anchor (``age``
from ``Task.created``; ``running_for`` from ``Task.started`` while RUNNING; ``waiting_for`` from
``Task.created`` while PENDING), and everything else a filter reads is fixed, so a rule can only
change its verdict at the instants anchor + threshold of its time comparisons (in ``filters`` and
``exclude``, under and/or/not alike). Those instants are found analytically, and the rule is
evaluated only at them and :data:`EPSILON` after them (a strict ``gt`` or ``le`` flips just after
its instant), in ascending order. The evaluation is :func:`~taskwatch.policy.engine.matches`,
split once per rule: the filters time cannot change (status, type, fields, ...) are checked once
per call, the others at each instant. A cost figure is not piecewise constant: for a rule with
cost keys the instant ``cost.so_far`` reaches each bound is guessed from the estimate's
``per_hour`` at ``now``, and unless every guess lies beyond the horizon (an estimate of
:mod:`taskwatch.cost` never grows faster than its ``per_hour``, so its crossing cannot come
sooner) the end of the horizon is probed too; a crossing between two probes is bisected to
:data:`RESOLUTION`.

What counts as new (see :func:`next_deadline`): a rule that does not match at ``now`` starts to
match (its grace streak opens then; the end of that grace is predicted by the next call, after
the executor saw it), or a rule that matches becomes due (its streak start + ``grace``, or the
first instant after that at which it matches again). A rule that matches and is already due (its
grace is over, or it has none) gives no deadline: the executor acts on it at ``now``, not later.
A rule that stops matching gives none either: the next scan ends its streak.

Pure (``now`` is passed in; no clock, no I/O) and it never raises on odd tasks (missing or
non-finite times give no instant). Its one state is each rule's split filters, cached by the rule
object's identity (rules are frozen; a reload compiles new ones), at most :data:`_CACHED` rules.

Not guaranteed: a cost figure that falls, or grows faster than its ``per_hour`` says (none of
:mod:`taskwatch.cost` does on an unchanged task), may cross a bound and back between two probes
unseen; a strict crossing within :data:`EPSILON` of the end of the horizon is left to the next
call; an ``eq`` on a time key matches for an instant only, which float arithmetic may miss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from taskwatch.models import Phase, Task
from taskwatch.policy.catalog import actionable
from taskwatch.policy.filters import TIME_KEYS, AllOf, AnyOf, Compare, Filter, compares
from taskwatch.policy.rules import Rule

__all__ = ["EPSILON", "RESOLUTION", "candidates", "next_deadline"]

EPSILON = 0.001
"""Seconds after an instant at which a strict comparison (``gt``, ``le``) has flipped."""
RESOLUTION = 0.5
"""Seconds to which the instant a cost bound is crossed is bisected."""
_BOUNDS = ("gt", "ge", "lt", "le", "eq", "ne")
_HOUR = 3600.0
_CACHED = 4096
"""Rules whose comparisons are kept at most (a reload compiles new rules; old ones drop out)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What :func:`next_deadline` needs of one rule, found by walking its filters once. The
    filter lists are split into what time cannot change (checked once per call) and what it can
    (checked at each probe): ``matches`` is their conjunction, for an actionable task of the
    rule's product."""

    times: tuple[tuple[str, float], ...]
    """(time key, threshold in seconds) of every bound on a time key."""
    bounds: tuple[Compare, ...]
    """Every ``cost.so_far`` test with a number bound (to guess the crossing)."""
    costly: bool
    """Whether any filter reads a cost key (its verdict can change between time thresholds)."""
    guessable: bool
    """Whether every cost test is a bound on ``cost.so_far`` (so :func:`_guesses` can be sure)."""
    quick: tuple[tuple[str, frozenset[str], Filter], ...]
    """Fixed filters that test a text attribute of the task against names (``status: X``)."""
    needed: tuple[Filter, ...]
    """The other fixed filters: if one fails the rule never matches."""
    vetoes: tuple[Filter, ...]
    """Fixed exclude filters: if one holds the rule never matches."""
    moving: tuple[Filter, ...]
    """Filters that read time or cost: all must hold."""
    moving_vetoes: tuple[Filter, ...]
    """Exclude filters that read time or cost: none may hold."""


_plans: dict[int, tuple[Rule, _Plan]] = {}
_ATTRIBUTES = ("id", "type", "status", "phase", "account", "region", "product")


def next_deadline(
    rules: Sequence[Rule],
    task: Task,
    *,
    now: float,
    since: Callable[[str], float | None],
    horizon: float,
) -> float | None:
    """The earliest instant t, now < t <= now + horizon, at which the executor, evaluating this
    unchanged observation of `task`, would see something new: a rule that does not match at `now`
    matches at t (its grace streak must open then), or a rule that matches with an open streak
    (`since(rule.name)` -> streak start, None if not open; a matching rule with no open streak
    counts as opened at `now`) becomes due at start + rule.grace. None: nothing within the horizon.

    A rule that matches and is already due gives nothing (the executor acts on it at `now`);
    rules of another product than the task's are ignored."""
    if not (math.isfinite(now) and math.isfinite(horizon)) or horizon <= 0:
        return None
    if not actionable(task):  # no rule matches it, now or later
        return None
    end = now + horizon
    best: float | None = None
    for rule in rules:
        if rule.product != task.product:
            continue
        found = _rule_deadline(rule, _plan(rule), task, now, end if best is None else best, since)
        if found is not None and (best is None or found < best):
            best = found
    return best


def candidates(rule: Rule, task: Task) -> list[float]:
    """The instants (UTC epoch seconds, ascending, unbounded) at which a time comparison of
    ``rule`` flips for ``task``: each anchor + threshold; none for a key the task cannot have
    (``running_for`` of a task that is not running, a missing or non-finite anchor)."""
    return sorted(set(_instants(_plan(rule), task)))


def _rule_deadline(
    rule: Rule,
    plan: _Plan,
    task: Task,
    now: float,
    end: float,
    since: Callable[[str], float | None],
) -> float | None:
    """The deadline ``rule`` gives ``task`` in (now, end], or ``None``."""
    if not _named(plan, task, now):
        return None
    instants = [c for c in _instants(plan, task) if now < c + EPSILON and c <= end]
    due = _due(rule, now, end, since)
    guesses: list[float] = []
    sure = True  # that a cost figure crosses none of its bounds in (now, end]
    if plan.costly:
        guesses, sure = _guesses(rule, plan, task, now)
        guesses = [g for g in guesses if now < g + EPSILON and g <= end]
        sure = sure and not guesses
    if not instants and due is None and sure:
        return None
    if not _possible(plan, task, now):
        return None
    if _holds(plan, task, now):
        if due is None:
            return None  # already due (or no grace): the executor acts now, nothing later
        later = sorted({p for p in _around(instants) if due < p <= end})
        return _first(plan, task, [due, *later], due, end)
    probes = [p for p in _around([*instants, *guesses]) if now < p <= end]
    if not sure:
        probes.append(end)  # the figure may cross later than guessed: bisected from there
    return _first(plan, task, sorted(set(probes)), now, end)


def _due(rule: Rule, now: float, end: float, since: Callable[[str], float | None]) -> float | None:
    """When a streak of ``rule`` (open since ``since(rule.name)``, else from ``now``) ends its
    grace, if that is in (now, end]."""
    if not rule.grace > 0:
        return None
    start = since(rule.name)
    if start is None or not math.isfinite(start):
        start = now
    due = start + rule.grace
    return due if now < due <= end else None


def _first(plan: _Plan, task: Task, probes: list[float], low: float, end: float) -> float | None:
    """The first probe at which the rule matches (``low``: the last instant known not to, unless
    it is the first probe); a cost rule's crossing before it bisected."""
    for probe in probes:
        if probe > end:
            break
        if _holds(plan, task, probe):
            if plan.costly and probe - low > RESOLUTION:
                return _bisect(plan, task, low, probe)
            return probe
        low = probe
    return None


def _bisect(plan: _Plan, task: Task, low: float, high: float) -> float:
    """An instant within :data:`RESOLUTION` after the last one in (low, high] where the rule
    turns to match (it does not at ``low``, it does at ``high``)."""
    if not _holds(plan, task, high - RESOLUTION):
        return high
    high -= RESOLUTION
    while high - low > RESOLUTION:
        middle = (low + high) / 2
        if _holds(plan, task, middle):
            high = middle
        else:
            low = middle
    return high


def _holds(plan: _Plan, task: Task, now: float) -> bool:
    """Whether the rule matches at ``now``, its fixed filters known to allow it (so this is
    :func:`~taskwatch.policy.engine.matches` for an actionable task of its product)."""
    return all(f.holds(task, now) for f in plan.moving) and not any(
        f.holds(task, now) for f in plan.moving_vetoes
    )


def _around(instants: list[float]) -> Iterator[float]:
    for instant in instants:
        yield instant
        yield instant + EPSILON


def _instants(plan: _Plan, task: Task) -> Iterator[float]:
    for key, threshold in plan.times:
        anchor: float | None
        if key == "age":
            anchor = task.created
        elif key == "running_for":
            anchor = task.started if task.phase is Phase.RUNNING else None
        else:
            anchor = task.created if task.phase is Phase.PENDING else None
        if anchor is None:
            continue
        instant = anchor + threshold
        if math.isfinite(instant):
            yield instant


def _guesses(rule: Rule, plan: _Plan, task: Task, now: float) -> tuple[list[float], bool]:
    """When each ``cost.so_far`` bound is reached if the estimate grows at its ``per_hour`` at
    ``now``, and whether that is sure to be no later than the truth (the rule tests nothing else
    of cost, and the figure grows: an estimate never grows faster than its ``per_hour``)."""
    if not plan.bounds:
        return [], False
    try:
        estimate = rule.pricer.estimate(task, now)
    except (ArithmeticError, LookupError, TypeError, ValueError):
        return [], False
    if estimate is None or not estimate.per_hour > 0 or not math.isfinite(estimate.so_far):
        return [], False
    found: list[float] = []
    for test in plan.bounds:
        left = float(test.operand) - estimate.so_far
        if left >= 0:
            guess = now + left / estimate.per_hour * _HOUR
            if math.isfinite(guess):
                found.append(guess)
    return found, plan.guessable


def _named(plan: _Plan, task: Task, now: float) -> bool:
    """Whether the task has the status, type, ... the rule asks for (the cheapest test first)."""
    for name, names, test in plan.quick:
        value = task.phase.value if name == "phase" else getattr(task, name)
        if not (value in names if isinstance(value, str) else test.holds(task, now)):
            return False
    return True


def _possible(plan: _Plan, task: Task, now: float) -> bool:
    """Whether the other filters time cannot change leave the rule a chance at all."""
    return all(f.holds(task, now) for f in plan.needed) and not any(
        f.holds(task, now) for f in plan.vetoes
    )


# --- the plan of a rule --------------------------------------------------------------------------


def _plan(rule: Rule) -> _Plan:
    cached = _plans.get(id(rule))
    if cached is not None and cached[0] is rule:
        return cached[1]
    if len(_plans) >= _CACHED:
        _plans.clear()
    trees = (rule.match,) if rule.exclude is None else (rule.match, rule.exclude)
    tests = [t for tree in trees for t in compares(tree)]
    times = tuple(
        (t.key.path[0], float(t.operand))
        for t in tests
        if _timed(t) and t.op in _BOUNDS and _finite(t.operand)
    )
    bounds = tuple(
        t
        for t in tests
        if t.key.scope == "cost" and t.key.path == ("so_far",) and _finite(t.operand)
    )
    match = rule.match.parts if isinstance(rule.match, AllOf) else (rule.match,)
    exclude: tuple[Filter, ...] = ()
    if rule.exclude is not None:
        exclude = rule.exclude.parts if isinstance(rule.exclude, AnyOf) else (rule.exclude,)
    fixed = [p for p in match if not _moves(p)]
    quick = [q for q in map(_quick, fixed) if q is not None]
    plan = _Plan(
        times=tuple(dict.fromkeys(times)),
        bounds=bounds,
        costly=any(t.key.scope == "cost" for t in tests),
        guessable=len(bounds) == sum(t.key.scope == "cost" for t in tests),
        quick=tuple(quick),
        needed=tuple(p for p in fixed if _quick(p) is None),
        vetoes=tuple(p for p in exclude if not _moves(p)),
        moving=tuple(p for p in match if _moves(p)),
        moving_vetoes=tuple(p for p in exclude if _moves(p)),
    )
    _plans[id(rule)] = (rule, plan)
    return plan


def _quick(part: Filter) -> tuple[str, frozenset[str], Filter] | None:
    """A test of a text attribute of the task against names (``status: X``, ``type: [A, B]``,
    ``{key: phase, op: eq, ...}``): the attribute and the names; ``None`` for any other."""
    if not isinstance(part, Compare) or part.key.scope != "virtual":
        return None
    name = part.key.path[0]
    options = (part.operand,) if part.op == "eq" else part.operand if part.op == "in" else ()
    if not isinstance(options, tuple):
        return None
    if name not in _ATTRIBUTES or not options or not all(isinstance(o, str) for o in options):
        return None
    return name, frozenset(options), part


def _moves(part: Filter) -> bool:
    """Whether ``part`` reads time or cost (its verdict can change while the task does not)."""
    return any(_timed(t) or t.key.scope == "cost" for t in compares(part))


def _timed(test: Compare) -> bool:
    return test.key.scope == "virtual" and test.key.path[0] in TIME_KEYS


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
