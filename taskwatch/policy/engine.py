"""Policy evaluation: which rules want to act on a task, as pure data.

:func:`evaluate` is called for every active task of a source each cycle, and again by the
executor's fence on a freshly described task, so it and :func:`matches` are pure, cheap and never
raise. A rule matches a task when the task is of the rule's product, the product's action can
still succeed on it (:func:`~taskwatch.policy.catalog.actionable`: an MPS task that is not a
LiveStreamProcessTask only while WAITING, a DLC task until it has ended, a Live task always), its
filters hold and its exclude does not ("exclude wins").

The executor acts only on what :func:`evaluate` decides: it hands each cycle's decisions to
:class:`~taskwatch.policy.grace.GraceMemory` (a :class:`~taskwatch.models.Decision` carries the
rule's ``grace``; the memory knows since when the task has matched) and acts on those that are
due; its fence re-evaluates the rule here on a freshly described task. Not decided here: caps, the
kill switch and dry-run (the executor's).

:func:`explain` tells why a rule does or does not match, test by test, for logs and the status
page. It shows the values of virtual keys (status, type, age, ...) and of cost estimates only: API
fields can carry secrets (a stream URL's signature), so for them it says only whether they are
missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskwatch.durations import format_duration
from taskwatch.models import Decision, Task
from taskwatch.policy.catalog import actionable, why_not
from taskwatch.policy.filters import MISSING, TIME_KEYS, AllOf, AnyOf, Compare, Filter, Not
from taskwatch.policy.rules import Rule

__all__ = ["evaluate", "explain", "matches"]


def matches(rule: Rule, task: Task, *, now: float) -> bool:
    """Whether ``rule`` wants to act on ``task`` at ``now`` (UTC epoch seconds)."""
    if task.product != rule.product or not actionable(task):
        return False
    if not rule.match.holds(task, now):
        return False
    return rule.exclude is None or not rule.exclude.holds(task, now)


def evaluate(rules: Sequence[Rule], task: Task, *, now: float) -> list[Decision]:
    """A decision for each rule that matches ``task``, in rule order; rules of other products
    are ignored."""
    return [
        Decision(policy=r.name, action=r.action, task=task, enforce=r.enforce, grace=r.grace)
        for r in rules
        if matches(r, task, now=now)
    ]


def explain(rule: Rule, task: Task, *, now: float) -> list[str]:
    """Lines saying whether ``rule`` matches ``task`` and why: a verdict, then ``ok``/``no``
    for each test (indented under and/or/not), then the exclude's."""
    verdict = "matches" if matches(rule, task, now=now) else "does not match"
    lines = [f"rule {rule.name!r} {verdict} {task.product} task {task.id!r}"]
    if task.product != rule.product:
        return [*lines, f"no  product: the rule is for {rule.product} tasks"]
    reason = why_not(task)
    lines.append(f"{'no ' if reason else 'ok '} actionable{': ' + reason if reason else ''}")
    lines.append("filters (all of them):")
    lines += _lines(rule.match, task, now, 1, flat=True)
    if rule.exclude is not None:
        lines.append("exclude (any of them):")
        lines += _lines(rule.exclude, task, now, 1, flat=True)
    return lines


def _lines(node: Filter, task: Task, now: float, depth: int, *, flat: bool = False) -> list[str]:
    pad = "  " * depth
    mark = "ok " if node.holds(task, now) else "no "
    if isinstance(node, AllOf | AnyOf | Not):
        parts = (node.part,) if isinstance(node, Not) else node.parts
        inner = [line for part in parts for line in _lines(part, task, now, depth + (not flat))]
        if flat:
            return inner
        word = {AllOf: "and", AnyOf: "or", Not: "not"}[type(node)]
        return [f"{pad}{mark} {word}:", *inner]
    return [f"{pad}{mark} {node.text}{_seen(node, task, now)}"]


def _seen(node: Compare, task: Task, now: float) -> str:
    value = node.key.find(task, now)
    if value is MISSING:
        return " (no estimate: its price is unknown)" if node.key.scope == "cost" else " (missing)"
    if node.key.scope == "cost" and isinstance(value, float):
        currency = node.key.pricer.currency if node.key.pricer is not None else ""
        return f" ({node.key.text} is {value:.2f} {currency})"
    if node.key.scope != "virtual":
        return ""
    name = node.key.path[0]
    if name in TIME_KEYS and isinstance(value, int | float):
        return f" ({name} is {format_duration(float(value))})"
    return f" ({name} is {value})"
