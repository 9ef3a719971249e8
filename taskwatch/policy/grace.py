"""Grace: a rule acts on a task only once it has matched for the rule's ``grace``, without a break.

Why here: "has this task matched long enough?" is part of the decision, not of the action. The
engine (:func:`~taskwatch.policy.engine.evaluate`) answers "does it match now?" for one
observation; :class:`GraceMemory` remembers, between cycles, since when each (policy, source, task)
has matched, and says which of this cycle's :class:`~taskwatch.models.Decision`\\ s are due. The
executor only acts on what it is given.

A *match streak* begins the first cycle a rule matches a task and ends the first cycle of the same
source in which it does not (the task stopped matching, or ended and left the listing). When a
streak ends its grace starts over: a task that matches again must wait its whole grace again.

Like the rest of :mod:`taskwatch.policy` it knows no clock (``now`` is passed in, UTC epoch
seconds) and never calls an API.

The memory lives in the process; the executor keeps a copy of each source's streaks in the journal
and :meth:`GraceMemory.restore`\\ s them at its first cycle of the source, so a restart or a
failover resumes every grace where it stood.

Not guaranteed: a wall clock stepped backwards lengthens a grace by the step, one stepped forwards
shortens it. Streaks of a source that
is no longer polled are kept until the process ends (one small entry each).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from taskwatch.models import Decision

StreakKey = tuple[str, str, str]
"""(policy, source, task id): one rule matching one task of one source."""


def streak_key(source: str, decision: Decision) -> StreakKey:
    return (decision.policy, source, decision.task.id)


@dataclass(frozen=True, slots=True)
class Graced:
    """What one cycle of one source's decisions means, grace considered."""

    due: list[Decision]
    """Decisions whose streak has lasted at least their ``grace``, in the order given."""
    started: list[Decision]
    """Decisions whose streak began this cycle (whether or not they are due)."""
    ended: list[StreakKey]
    """Streaks of this source that did not match this cycle: over, their grace starts over."""


@dataclass(slots=True)
class GraceMemory:
    """Since when each (policy, source, task) has matched; see the module docstring."""

    _since: dict[StreakKey, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._since)

    def since(self, key: StreakKey) -> float | None:
        """When the streak ``key`` began (UTC epoch seconds), or ``None`` if it is not open."""
        return self._since.get(key)

    def restore(self, source: str, streaks: Mapping[tuple[str, str], float]) -> None:
        """Streaks of ``source`` kept elsewhere ((policy, task id) → since): each one starts at
        the earlier of what it says and what this memory says."""
        for (policy, task_id), since in streaks.items():
            key = (policy, source, task_id)
            known = self._since.get(key)
            self._since[key] = since if known is None else min(known, since)

    def observe(
        self,
        source: str,
        decisions: Iterable[Decision],
        now: float,
        *,
        only: Collection[str] | None = None,
    ) -> Graced:
        """Take this cycle's ``decisions`` for ``source`` (every one the engine made for the
        source's listed tasks): open streaks for new ones, end the streaks of ``source`` that got
        no decision, and say which decisions are due. Streaks of other sources are untouched.
        ``only``: the decisions are about these task ids alone (a deadline timer or a hint
        re-evaluated a few tasks between cycles), so only their streaks may end."""
        due: list[Decision] = []
        started: list[Decision] = []
        seen: set[StreakKey] = set()
        for decision in decisions:
            key = streak_key(source, decision)
            seen.add(key)
            first = self._since.get(key)
            if first is None:
                first = self._since[key] = now
                started.append(decision)
            if now - first >= decision.grace:
                due.append(decision)
        ended = [
            k
            for k in self._since
            if k[1] == source and k not in seen and (only is None or k[2] in only)
        ]
        for key in ended:
            del self._since[key]
        return Graced(due=due, started=started, ended=ended)
