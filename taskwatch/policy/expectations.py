"""Expected outcomes of policy tests (``taskwatch test``), judged with the daemon's own engine.

A case expects ``match`` (some policy matches the task), ``no-match``, or a mapping of any of:

- ``match``: ``true``, ``false``, a policy name or a list of them (exactly those match);
- ``action``: what the matching policies would do (``abort``, ``cancel``, ``delete``);
- ``due``: like ``match``, for the decisions whose grace has run out: the case's ``observed``
  offsets are earlier cycles in which the same task was seen, each evaluated by the engine and
  fed, with ``now`` last, to a :class:`~taskwatch.policy.grace.GraceMemory`, as the executor does;
- ``config_error``: a piece of the error the case's own policies must be refused with at load.

What the case got is :func:`outcome`: :func:`~taskwatch.policy.engine.evaluate` at ``now``
(never a second implementation of matching), and grace by the executor's memory. Not judged
here: caps, the kill switch, dry-run and the fence (the executor's and the rehearsal's; a policy
test says what a policy *decides*, ``taskwatch rehearse`` what the daemon then *does*).

Pure: no clock, no I/O. A malformed expectation is a :class:`~.fixtures.FixtureError` naming its
key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from taskwatch.models import Task
from taskwatch.policy.engine import evaluate
from taskwatch.policy.fixtures import FixtureError
from taskwatch.policy.grace import GraceMemory
from taskwatch.policy.rules import Rule

__all__ = ["Expectation", "Outcome", "differences", "outcome", "parse_expectation"]

Names = bool | tuple[str, ...] | None
"""``None``: not said; ``True``: at least one; ``False``: none; a tuple: exactly these."""
KEYS = ("match", "action", "due", "config_error")


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a case expects; every field left ``None`` is not checked."""

    match: Names = None
    action: str | None = None
    due: Names = None
    config_error: str | None = None

    def names(self) -> set[str]:
        """The policy names it mentions."""
        return {n for v in (self.match, self.due) if isinstance(v, tuple) for n in v}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a case got: the policies matching at ``now`` and those due, in rule order; or the
    error its policies were refused with (then nothing was evaluated)."""

    matched: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    due: tuple[str, ...] = ()
    error: str | None = None


def parse_expectation(raw: object) -> Expectation:
    """The expectation written as ``raw`` (the value of a case's ``expect``)."""
    if raw == "match":
        return Expectation(match=True)
    if raw == "no-match":
        return Expectation(match=False)
    if not isinstance(raw, Mapping) or not raw:
        raise FixtureError(
            "expect match, no-match, or a mapping of match, action, due and config_error"
        )
    unknown = [str(k) for k in raw if k not in KEYS]
    if unknown:
        raise FixtureError(f"unknown key (expect keys: {', '.join(KEYS)})", unknown[0])
    error = raw.get("config_error")
    if error is not None and (not isinstance(error, str) or not error):
        raise FixtureError("a piece of the expected error message, as a string", "config_error")
    if error is not None and len(raw) > 1:
        raise FixtureError("a case expecting a config_error expects nothing else", "config_error")
    action = raw.get("action")
    if action is not None and not isinstance(action, str):
        raise FixtureError("an action name (abort, cancel, delete)", "action")
    return Expectation(
        match=_names(raw, "match"), action=action, due=_names(raw, "due"), config_error=error
    )


def _names(raw: Mapping[str, object], key: str) -> Names:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value) if value else False
    raise FixtureError("true, false, a policy name or a list of names", key)


def outcome(rules: Sequence[Rule], task: Task, *, now: float, observed: Sequence[float]) -> Outcome:
    """What the engine decides for ``task`` at ``now``, having seen it at each ``observed``
    instant before (UTC epoch seconds; later ones are ignored)."""
    memory = GraceMemory()
    source = str(task.source)
    for at in sorted(t for t in observed if t < now):
        memory.observe(source, evaluate(rules, task, now=at), at)
    decisions = evaluate(rules, task, now=now)
    graced = memory.observe(source, decisions, now)
    return Outcome(
        matched=tuple(d.policy for d in decisions),
        actions=tuple(dict.fromkeys(d.action for d in decisions)),
        due=tuple(d.policy for d in graced.due),
    )


def differences(expect: Expectation, got: Outcome) -> list[tuple[str, str, str]]:
    """``(key, expected, got)`` for each expectation ``got`` does not meet; empty: passed."""
    if got.error is not None:
        wanted = expect.config_error
        if wanted is not None and wanted in got.error:
            return []
        shown = f"an error containing {wanted!r}" if wanted else _expected_text(expect)
        return [("config_error" if wanted else "load", shown, f"refused: {got.error}")]
    if expect.config_error is not None:
        return [
            ("config_error", f"an error containing {expect.config_error!r}", "the policies loaded")
        ]
    found: list[tuple[str, str, str]] = []
    for key, want, have in (("match", expect.match, got.matched), ("due", expect.due, got.due)):
        if want is not None and not _meets(want, have):
            found.append((key, _show(want), _show(have)))
    if expect.action is not None and got.actions != (expect.action,):
        acts = ", ".join(got.actions) if got.actions else "none (no policy matched)"
        found.append(("action", expect.action, acts))
    return found


def _meets(want: bool | tuple[str, ...], have: tuple[str, ...]) -> bool:
    if isinstance(want, bool):
        return bool(have) == want
    return sorted(want) == sorted(have)


def _show(names: bool | tuple[str, ...]) -> str:
    if names is True:
        return "some policy"
    if not names:
        return "none"
    return ", ".join(names)


def _expected_text(expect: Expectation) -> str:
    parts = [
        f"{key} {_show(value)}"
        for key, value in (("match", expect.match), ("due", expect.due))
        if value is not None
    ]
    if expect.action is not None:
        parts.append(f"action {expect.action}")
    return "; ".join(parts) or "the policies to load"
