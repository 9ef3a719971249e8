"""Which tasks a filter can possibly match, judged without any task: the ground on which a
policy is refused at load when its action could meet a task the API will not act on.

The question is asked of a few *kinds* of task: each status of the product, and for MPS, whether
the task is a ``LiveStreamProcessTask`` or of another type (the one distinction ``ManageTask
Abort`` makes). For each kind a filter node may hold and may fail: the virtual keys ``status``,
``product``, ``phase``, ``running_for``, ``waiting_for`` and (for MPS) ``type`` are known, or known
to be missing, for a kind (``running_for`` exists only in a running phase, so
``running_longer_than`` implies PROCESSING); any other key may read anything. ``and``, ``or`` and
``not`` combine the two answers as three-valued logic does.

The answer errs on the side of "may": a kind that cannot really match (``age`` both above and
below 1d) may be reported possible, never the reverse, so a refusal is always justified and an
acceptance is as strict as the filters are explicit. The executor re-checks every task anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from taskwatch import catalog
from taskwatch.models import Phase
from taskwatch.policy.catalog import LIVE_STREAM, PHASES, STATUSES
from taskwatch.policy.filters import MISSING, AllOf, AnyOf, Compare, Filter, Not


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of task: a status, and for MPS whether it is a live stream processing task."""

    status: str
    live: bool | None = None
    """``True``: a LiveStreamProcessTask; ``False``: any other MPS type; ``None``: not MPS."""

    @property
    def type(self) -> str:
        """A type to judge the action's precondition by."""
        return LIVE_STREAM if self.live else "other"


def kinds(product: str) -> list[Kind]:
    """Every kind of task of ``product``: split by type where the catalog says the action's
    precondition singles a type out (``ProductSpec.restricted_types``: MPS's live stream)."""
    spec = catalog.PRODUCTS.get(product)
    splits = spec is not None and bool(spec.restricted_types())
    lives: tuple[bool | None, ...] = (True, False) if splits else (None,)
    return [Kind(status, live) for status in STATUSES.get(product, ()) for live in lives]


def possible(product: str, tree: Filter) -> list[Kind]:
    """The kinds of ``product``'s tasks that ``tree`` may match."""
    return [kind for kind in kinds(product) if _judge(tree, product, kind)[0]]


def _judge(node: Filter, product: str, kind: Kind) -> tuple[bool, bool]:
    """(may hold, may fail) for a task of this kind."""
    if isinstance(node, AllOf):
        answers = [_judge(part, product, kind) for part in node.parts]
        return all(a for a, _ in answers), any(b for _, b in answers)
    if isinstance(node, AnyOf):
        answers = [_judge(part, product, kind) for part in node.parts]
        return any(a for a, _ in answers), all(b for _, b in answers)
    if isinstance(node, Not):
        may_hold, may_fail = _judge(node.part, product, kind)
        return may_fail, may_hold
    return _compare(node, product, kind)


def _compare(node: Compare, product: str, kind: Kind) -> tuple[bool, bool]:
    if node.key.scope != "virtual":
        return True, True
    name = node.key.path[0]
    if name == "type" and kind.live is False:
        return _other_type(node)
    values = _values(name, product, kind)
    if values is None:
        return True, True
    results = {node.test(value) for value in values}
    return True in results, False in results


def _values(name: str, product: str, kind: Kind) -> Iterable[object] | None:
    """What the virtual key ``name`` can read for this kind; ``None``: anything."""
    phases = PHASES.get(product, {}).get(kind.status, frozenset(Phase))
    if name == "status":
        return [kind.status]
    if name == "product":
        return [product]
    if name == "phase":
        return [phase.value for phase in phases]
    if name == "running_for" and Phase.RUNNING not in phases:
        return [MISSING]
    if name == "waiting_for" and Phase.PENDING not in phases:
        return [MISSING]
    if name == "type" and kind.live:
        return [LIVE_STREAM]
    return None


def _other_type(node: Compare) -> tuple[bool, bool]:
    """An MPS type other than LiveStreamProcessTask: only tests naming that type alone are
    decided."""
    options = node.operand if node.op in ("in", "not-in") else (node.operand,)
    if node.op in ("eq", "in", "ne", "not-in") and all(o == LIVE_STREAM for o in options):
        holds = node.op in ("ne", "not-in")
        return holds, not holds
    return True, True
