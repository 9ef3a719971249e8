"""The blast radius of one cycle: how many decisions the caps let through, and which cap held.

Why a cycle's budget: a policy written too broadly (or a listing that suddenly shows every task as
a runaway) must not abort a whole account in one go. Caps hold in dry-run too, so a dry run shows
exactly what enforcing would do. They are checked in this order, the first that holds wins:

1. the kill switch (``actions.paused``, or ``taskwatch`` paused at run time);
2. ``actions.max_per_cycle``: decisions of every rule of the source in this cycle;
3. the rule's ``per_cycle``;
4. the rule's ``percent`` of the source's active tasks (at least one);
5. the rule's ``per_hour``, counted in the journal (the only cap that reads it, and only when the
   cheaper ones did not hold).

Caps count tasks, not attempts: only a first round's ``done``, ``would``, ``unknown`` and
``failed`` use up the budget (:data:`COUNTED`); a task's later rounds in the same cycle do not use
it up again (only the kill switch stops them), and ``already_done``, ``fenced`` and
``skipped_cap`` never do.

Not guaranteed: ``per_hour`` counts what the journal holds; a per-hour count that cannot be read
raises (the guard's :class:`~taskwatch.errors.StoreError`) instead of letting the task through.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from taskwatch.models import Outcome
from taskwatch.policy.rules import Rule

HOUR = 3600.0
COUNTED = frozenset({Outcome.DONE, Outcome.WOULD, Outcome.UNKNOWN, Outcome.FAILED})
"""Results that use up a cap: what may have acted (or, in dry-run, would have)."""
PAUSED = "paused"


@dataclass(slots=True)
class Budget:
    """What the caps have let through so far in one cycle of one source."""

    max_per_cycle: int
    """``actions.max_per_cycle``: every rule's decisions together."""
    active: int
    """The source's active tasks this cycle: the base of ``percent``."""
    per_rule: Counter[str] = field(default_factory=Counter)
    """Decisions that used up the budget, by rule name."""

    @property
    def total(self) -> int:
        return sum(self.per_rule.values())

    async def cap(
        self, rule: Rule, *, paused: bool, per_hour: Callable[[Rule], Awaitable[int]]
    ) -> str | None:
        """The cap that holds ``rule``'s next decision back (a reason for logs and the report),
        or ``None``. ``per_hour(rule)`` counts the rule's recent actions (a journal read); it is
        awaited last and only if the rule has a ``per_hour`` cap."""
        if paused:
            return PAUSED
        if self.total >= self.max_per_cycle:
            return f"global cap of {self.max_per_cycle} per cycle"
        caps = rule.caps
        done = self.per_rule[rule.name]
        if caps.per_cycle is not None and done >= caps.per_cycle:
            return f"per_cycle {caps.per_cycle}"
        if caps.percent is not None:
            allowed = max(1, math.floor(caps.percent / 100 * self.active))
            if done >= allowed:
                return f"percent {caps.percent:g}% of {self.active} active = {allowed}"
        if caps.per_hour is not None and await per_hour(rule) >= caps.per_hour:
            return f"per_hour {caps.per_hour}"
        return None

    def spend(self, rule: Rule, result: Outcome) -> None:
        """A first round's decision of ``rule`` ended with ``result``: count it if it uses up the
        budget."""
        if result in COUNTED:
            self.per_rule[rule.name] += 1
