"""What a product is, as data: the frozen :class:`ProductSpec` every product module fills in.

A spec holds the facts that more than one layer needs (settings validate product and action names,
metrics know which types and statuses are documented, policies know when an action is possible,
the wire knows versions and rate limits, the emulator serves the same vocabulary) and nothing that
needs the wire: how a product's records are read stays in its adapter (``taskwatch.products``).
This module sits in the bottom layer and imports nothing of taskwatch, so every layer may ask it.

:class:`Phase` lives here because it is the one vocabulary every product's statuses map onto;
``taskwatch.models`` re-exports it, and that is where the rest of the code takes it from.

Not guaranteed: a spec describes what the vendor documents (reference §5-7); a status, type or
action a product adds later is unknown until its module here learns it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Phase(enum.StrEnum):
    """Where a task is in its life, whatever its product calls it."""

    PENDING = "pending"
    """Created, not started (MPS WAITING; DLC queued/init; Live before StartTime or paused)."""
    RUNNING = "running"
    """Consuming resources (MPS PROCESSING; DLC running/writing; Live inside its time window)."""
    DONE = "done"
    """Ended (MPS FINISH; DLC succeeded/failed/cancelled; Live past its EndTime)."""


ANY_PHASE = frozenset(Phase)
"""The phases of a status that alone does not say (Live's phase comes from its time window)."""


@dataclass(frozen=True, slots=True)
class ApiAction:
    """One API action of a product."""

    name: str
    """The action as the API spells it (``DescribeTasks``)."""
    limit: float | None = None
    """Documented calls per second per account; ``None`` when the vendor documents none."""
    destructive: bool = False
    """Whether it changes a task (never retried blindly)."""


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """Everything taskwatch's layers need to know of one product, apart from its wire records."""

    name: str
    """The service name: config key, metric label, host prefix, credential scope (``mps``)."""
    title: str
    """How people write it (``MPS``)."""
    version: str
    """The API version (``X-TC-Version``)."""
    regional: bool
    """Whether task ids (and ``X-TC-Region``) are per region; ``False``: one ``global`` source."""
    window: float
    """Seconds the list API remembers a task."""
    max_page_size: int
    """The largest page its list API accepts."""
    actions: tuple[ApiAction, ...]
    """Every API action taskwatch calls, the destructive one included."""
    verb: str
    """The one destructive action as a policy names it (``abort``)."""
    call: str
    """The API action that performs :attr:`verb` (``ManageTask``)."""
    call_title: str
    """How messages name that call (``ManageTask OperationType=Abort``)."""
    phases: Mapping[str, frozenset[Phase]]
    """Each documented status, in the product's order, → the phases a task in it can be in."""
    acts_on: Mapping[str, frozenset[str] | None]
    """Statuses in which :attr:`verb` can succeed → the only types it succeeds on (``None``: any
    type). A documented status not listed here has ended: the action has nothing left to do."""
    types: tuple[str, ...]
    """Documented task types, as ``Task.type`` holds them, in the vendor's documented order."""
    type_spellings: Mapping[str, str] = field(default_factory=dict)
    """Other spellings of a type (a list's) → the spelling ``Task.type`` holds (the detail's)."""
    standing: bool = False
    """Whether ended tasks stay listed and can still be acted on (Live: until deleted)."""
    operator: bool = False
    """Whether :attr:`call` names who acts (Live's ``Operator``): policies of this product may set
    ``operator``."""
    scheduled: bool = False
    """Whether a pending task waits for its start time rather than in a queue (Live): its wait
    says nothing about a backlog."""
    outlives: float | None = None
    """Seconds an active task the API stops showing (past its list and detail windows) is still
    presumed active (MPS: a live stream can run for weeks); ``None``: such a task is gone."""

    def __post_init__(self) -> None:
        names = [a.name for a in self.actions]
        if self.call not in names or not self.action(self.call).destructive:
            raise ValueError(f"{self.name}: {self.call} must be one of its destructive actions")
        unknown = set(self.acts_on) - set(self.phases)
        if unknown:
            raise ValueError(f"{self.name}: acts_on names unknown statuses {sorted(unknown)}")

    @property
    def statuses(self) -> tuple[str, ...]:
        """The documented statuses, in the product's order."""
        return tuple(self.phases)

    @property
    def ended(self) -> tuple[str, ...]:
        """Statuses in which the action has nothing left to do."""
        return tuple(s for s in self.phases if s not in self.acts_on)

    @property
    def action_names(self) -> frozenset[str]:
        return frozenset(a.name for a in self.actions)

    @property
    def destructive(self) -> frozenset[str]:
        return frozenset(a.name for a in self.actions if a.destructive)

    def action(self, name: str) -> ApiAction:
        """The API action called ``name``; ``KeyError`` when the product has none."""
        for candidate in self.actions:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no action {name!r}")

    def fixed_phases(self) -> dict[str, Phase]:
        """Status → phase, for the statuses whose phase the status alone decides."""
        return {s: next(iter(p)) for s, p in self.phases.items() if len(p) == 1}

    def restricted_types(self) -> frozenset[str]:
        """The types the action's precondition singles out in some status (MPS: the live
        stream type, abortable while PROCESSING); empty when no status restricts types."""
        return frozenset(t for types in self.acts_on.values() if types for t in types)

    def possible(self, status: str, task_type: str) -> bool:
        """Whether :attr:`verb` can succeed on a task of this status and type."""
        if status not in self.acts_on:
            return False
        types = self.acts_on[status]
        return types is None or task_type in types
