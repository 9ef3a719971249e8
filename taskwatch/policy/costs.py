"""Cost tests in policies: ``cost_over`` and ``cost.so_far`` / ``cost.per_hour``, tied to prices.

Why a module of its own: a cost test is the one filter whose meaning depends on the
configuration beyond the policy itself, the price table. :mod:`.syntax` parses the tests with an
unbound key (:func:`cost_key`); :func:`bind` gives every cost key of a compiled tree the
configuration's :class:`~taskwatch.cost.Pricer` (``compile_rules(..., pricer=...)``, so a reload
that changes prices recompiles the rules with the new table); :func:`unpriced` finds the tests
that can never match because no price of the rule's product is known, which
:mod:`.rules` refuses at load: an operator must not believe a rule guards a budget when it cannot
match.

Semantics: a task without an estimate (its price unknown) reads as a missing key, so it matches
no cost comparison (``absent`` aside); under ``not`` it passes, as any missing key does.

Not guaranteed: that every task of a priced product has an estimate (an MPS type absent from
``prices.mps`` has none); only that some can.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

from taskwatch.cost import Pricer
from taskwatch.durations import parse_duration
from taskwatch.policy.filters import AllOf, AnyOf, Compare, Filter, Key, Not, compares

__all__ = ["bind", "cost_key", "cost_tests", "money", "unpriced"]


def cost_key(name: str) -> Key:
    """The key ``cost.<name>`` (``so_far`` or ``per_hour``), not yet bound to a pricer."""
    return Key("cost", (name,), f"cost.{name}")


def money(value: object, what: str) -> float:
    """A bound on an estimate: a finite number, not negative, never a duration or a string.
    ``ValueError`` saying why otherwise (``what`` names the key)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = "true/false value" if isinstance(value, bool) else type(value).__name__
        if isinstance(value, str):
            shown = f"string ({value[:40]!r})"
            if any(c.isalpha() for c in value) and _is_duration(value):
                shown = f"duration ({value[:40]!r}): limit time with running_longer_than or age"
        raise ValueError(
            f"{what} is money in the price table's currency: the value must be a number "
            f"(e.g. 200), not a {shown}"
        )
    bound = float(value)
    if not math.isfinite(bound):
        raise ValueError(f"{what} must be a finite number")
    if bound < 0:
        raise ValueError(f"{what} must not be negative ({bound:g}): spend is never below 0")
    return bound


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def cost_tests(node: Filter) -> Iterator[Compare]:
    """Every test of a cost key in ``node``, in the order written."""
    return (test for test in compares(node) if test.key.scope == "cost")


def bind(node: Filter, pricer: Pricer) -> Filter:
    """``node`` with every cost key reading ``pricer``'s estimates (the rest unchanged)."""
    if isinstance(node, AllOf):
        return AllOf(tuple(bind(part, pricer) for part in node.parts))
    if isinstance(node, AnyOf):
        return AnyOf(tuple(bind(part, pricer) for part in node.parts))
    if isinstance(node, Not):
        return Not(bind(node.part, pricer))
    if node.key.scope != "cost":
        return node
    return replace(node, key=replace(node.key, pricer=pricer))


def unpriced(node: Filter, pricer: Pricer, product: str) -> Compare | None:
    """The first cost test of ``node`` when ``pricer`` knows no price of ``product`` (so it can
    never match); ``None`` when there is none or the product is priced."""
    if pricer.covers(product):
        return None
    return next(cost_tests(node), None)
