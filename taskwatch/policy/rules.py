"""Policies compiled: the settings' raw ``policies:`` entries become frozen :class:`Rule` objects,
or one :class:`~taskwatch.errors.ConfigError` naming the file, the key and the rule.

Beyond the filter language (:mod:`.syntax`), a rule is checked against what its product's API
allows, so that an enforced rule never sends a call that is bound to fail:

- the action is the product's own (``abort`` for mps, ``cancel`` for dlc, ``delete`` for live);
- a status a filter asks for by name (``status: FINISH``) is one the action can still act on:
  naming an ended status (MPS FINISH; DLC succeeded, failed, cancelled) is refused;
- MPS aborts a PROCESSING task only if it is a ``LiveStreamProcessTask``: an ``abort`` rule that
  could match a PROCESSING task of another type is refused. Constrain ``status: WAITING``, or
  ``type: LiveStreamProcessTask``, or both (``running_longer_than`` implies PROCESSING);
- a rule must be able to act on some task at all (its filters are not contradictory, and not
  confined to ended tasks);
- a cost test (``cost_over``, ``cost.so_far``, ``cost.per_hour``) needs a price of the rule's
  product in the configuration's table (``prices``), else it could never match and is refused.

Cost tests read the estimates of the :class:`~taskwatch.cost.Pricer` the rules are compiled with
(``pricer=``, built from the configuration's ``prices``); without one, no price is known.

A rule that merely *may* match ended tasks (``type: LiveStreamProcessTask`` alone also matches
FINISH tasks) is accepted: the engine never decides on a task the action cannot touch
(:func:`taskwatch.policy.catalog.actionable`). What "may match" means: :mod:`.feasibility`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from taskwatch.cost import Pricer
from taskwatch.errors import ConfigError
from taskwatch.models import ACTIONS_BY_PRODUCT
from taskwatch.policy import costs, feasibility
from taskwatch.policy.catalog import CALLS, ENDED, LIVE_STREAM, TITLES, possible
from taskwatch.policy.filters import AllOf, AnyOf, Compare, Filter, Not
from taskwatch.policy.patterns import Patterns
from taskwatch.policy.syntax import FilterError, parse_all, parse_any
from taskwatch.settings import PolicySettings

__all__ = ["Caps", "Rule", "compile_rule", "compile_rules"]


@dataclass(frozen=True, slots=True)
class Caps:
    """A policy's blast-radius caps (``None``: no cap of that kind); see ``max_actions``."""

    per_cycle: int | None = None
    per_hour: int | None = None
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled policy."""

    name: str
    product: str
    action: str
    match: Filter
    """What a task must match (the filter list: all of it)."""
    exclude: Filter | None = None
    """A task matching this is never acted on (the exclude list: any of it)."""
    enforce: bool = False
    grace: float = 0.0
    """Seconds a task must keep matching before it is acted on."""
    caps: Caps = Caps()
    operator: str = "taskwatch"
    """The ``Operator`` of Live's DeleteLivePullStreamTask."""
    assume_runs_for: float | None = None
    """Seconds a task stopped by this rule is assumed to have had left to run, when its estimate
    knows no end (for the spend an action saved)."""
    pricer: Pricer = field(default_factory=Pricer.off, compare=False)
    """The estimates its cost tests read, and the saved spend of its actions is figured with."""


def compile_rules(
    specs: Sequence[PolicySettings], *, source: str, pricer: Pricer | None = None
) -> list[Rule]:
    """Every policy compiled, in order; the first problem raises a ``ConfigError`` whose key is
    ``policies[i]...`` and whose reason starts ``rule 'NAME':``. ``pricer``: the
    configuration's (``Pricer(settings.prices)``); default: no price known."""
    pricer = pricer or Pricer.off()
    rules: list[Rule] = []
    first: dict[str, int] = {}
    patterns = Patterns()  # one budget for every regex of the file
    for i, spec in enumerate(specs):
        if spec.name in first:
            raise _error(spec, f"duplicate name (also policies[{first[spec.name]}])", source, i)
        first[spec.name] = i
        rules.append(compile_rule(spec, index=i, source=source, patterns=patterns, pricer=pricer))
    return rules


def compile_rule(
    spec: PolicySettings,
    *,
    index: int,
    source: str,
    patterns: Patterns | None = None,
    pricer: Pricer | None = None,
) -> Rule:
    """One policy compiled; ``index`` is its place in ``policies`` (for the error's key);
    ``patterns`` is the budget its regexes share with the other policies'; ``pricer`` as in
    :func:`compile_rules`."""
    patterns = patterns or Patterns()
    pricer = pricer or Pricer.off()
    product = spec.product
    try:
        if product not in ACTIONS_BY_PRODUCT:
            known = ", ".join(ACTIONS_BY_PRODUCT)
            raise FilterError(f"unknown product {product!r} (products: {known})", "product")
        if spec.action != ACTIONS_BY_PRODUCT[product]:
            raise FilterError(
                f"{spec.action!r} is not an action on {TITLES[product]} tasks: theirs is "
                f"{ACTIONS_BY_PRODUCT[product]!r} ({CALLS[product]})",
                "action",
            )
        match = parse_all(spec.filters, product=product, at=("filters",), patterns=patterns)
        exclude = None
        if spec.exclude is not None:
            exclude = parse_any(spec.exclude, product=product, at=("exclude",), patterns=patterns)
        _check(product, spec.action, match, exclude)
        _check_prices(product, pricer, match, exclude)
    except FilterError as exc:
        raise _error(spec, exc.reason, source, index, *exc.at) from None
    caps = spec.max_actions
    return Rule(
        name=spec.name,
        product=product,
        action=spec.action,
        match=costs.bind(match, pricer),
        exclude=None if exclude is None else costs.bind(exclude, pricer),
        enforce=spec.enforce,
        grace=spec.grace,
        caps=Caps(caps.per_cycle, caps.per_hour, caps.percent),
        operator=spec.operator,
        assume_runs_for=spec.assume_runs_for,
        pricer=pricer,
    )


def _error(spec: PolicySettings, reason: str, source: str, *at: str | int) -> ConfigError:
    key = "policies"
    for part in at:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return ConfigError(f"rule {spec.name!r}: {reason}", file=source, key=key)


# --- what the API allows -------------------------------------------------------------------------


def _check(product: str, action: str, match: Filter, exclude: Filter | None) -> None:
    title, ended = TITLES[product], ENDED[product]
    for node in _asked_statuses(match):
        options = node.operand if node.op == "in" else (node.operand,)
        for i, status in enumerate(options):
            if status in ended:
                raise FilterError(
                    f"status {status!r}: {title} cannot {action} a task that has ended "
                    f"({', '.join(ended)}); remove it from the filter",
                    *_value_at(node, i),
                )
    tree = match if exclude is None else AllOf((match, Not(exclude)))
    kinds = feasibility.possible(product, tree)
    if not kinds:
        raise FilterError(
            f"its filters can never match: no {title} task satisfies all of them "
            "(check for contradicting status, type, running_longer_than and waiting_longer_than)",
            "filters",
        )
    if product == "mps" and any(k.status == "PROCESSING" and not k.live for k in kinds):
        raise FilterError(
            f"MPS can abort a PROCESSING task only if it is a {LIVE_STREAM} (other types only "
            "while WAITING), and this rule can match PROCESSING tasks of other types: add "
            f"'status: WAITING' to abort waiting tasks, or 'type: {LIVE_STREAM}' to abort live "
            "stream processing",
            "filters",
        )
    if not any(possible(product, k.status, k.type) for k in kinds):
        statuses = ", ".join(dict.fromkeys(k.status for k in kinds))
        raise FilterError(
            f"it can never act: it matches only {title} tasks in {statuses}, which cannot be "
            f"sent {action} ({CALLS[product]})",
            "filters",
        )


def _check_prices(product: str, pricer: Pricer, match: Filter, exclude: Filter | None) -> None:
    """A cost test where no price of the product is known could never match: refused."""
    for tree in (match, exclude):
        test = None if tree is None else costs.unpriced(tree, pricer, product)
        if test is None:
            continue
        why = "prices.enabled is false" if not pricer.enabled else "none is set"
        raise FilterError(
            f"{test.text}: no price of {TITLES[product]} tasks is known ({why}), so no task "
            f"has an estimate and this test can never match; set prices.{product} or remove it",
            *test.where,
        )


def _asked_statuses(node: Filter, negated: bool = False) -> Iterator[Compare]:
    """``status`` tests that ask for statuses by name (eq, in), outside any ``not``."""
    if isinstance(node, AllOf | AnyOf):
        for part in node.parts:
            yield from _asked_statuses(part, negated)
    elif isinstance(node, Not):
        yield from _asked_statuses(node.part, not negated)
    elif (
        not negated
        and node.key.scope == "virtual"
        and node.key.path == ("status",)
        and node.op in ("eq", "in")
    ):
        yield node


def _value_at(node: Compare, index: int) -> tuple[str | int, ...]:
    """Where the ``index``-th status of a status test was written."""
    if node.where[-1:] == ("status",):  # the shortcut: status: X, or status: [X, Y]
        return (*node.where, index) if len(node.operand) > 1 else node.where
    return (*node.where, "value", index) if node.op == "in" else (*node.where, "value")
