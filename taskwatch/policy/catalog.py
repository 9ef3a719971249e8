"""What policies must know of each product, as policies ask it: its status vocabulary, the phases
a status can be in, and when the product's one action is possible at all.

Every fact comes from :mod:`taskwatch.catalog` (the one place products are described); this
module only shapes it the way rules, syntax and the engine read it, by product name.

When an action is possible (reference §5.3, §6.2, §7.2; ``ProductSpec.acts_on``):

- MPS ``ManageTask Abort``: a ``LiveStreamProcessTask`` while WAITING or PROCESSING, every other
  type only while WAITING. A FINISH task has nothing left to abort.
- DLC ``CancelTask``: while queued, init, running or writing; succeeded, failed and cancelled tasks
  have ended.
- Live ``DeleteLivePullStreamTask``: always (a pull task has no terminal status and lives until
  deleted, even past its EndTime).

Not guaranteed: a status the product adds later is not known here, and a task in it is never
acted on (:func:`actionable` is false) until the catalog learns it.
"""

from __future__ import annotations

from collections.abc import Mapping

from taskwatch import catalog
from taskwatch.catalog.mps import LIVE_STREAM as LIVE_STREAM
from taskwatch.models import Phase, Task

TYPE_SPELLINGS: Mapping[str, Mapping[str, str]] = {
    name: spec.type_spellings for name, spec in catalog.PRODUCTS.items() if spec.type_spellings
}
"""Other spellings of a type → the spelling ``Task.type`` holds (MPS lists say
``LiveProcessTask``, its details ``LiveStreamProcessTask``)."""
TITLES: Mapping[str, str] = {name: spec.title for name, spec in catalog.PRODUCTS.items()}
CALLS: Mapping[str, str] = {name: spec.call_title for name, spec in catalog.PRODUCTS.items()}
STATUSES: Mapping[str, tuple[str, ...]] = {
    name: spec.statuses for name, spec in catalog.PRODUCTS.items()
}
"""Each product's own status values, as ``Task.status`` holds them."""
ENDED: Mapping[str, tuple[str, ...]] = {name: spec.ended for name, spec in catalog.PRODUCTS.items()}
"""Statuses in which the product's action has nothing left to do."""
PHASES: Mapping[str, Mapping[str, frozenset[Phase]]] = {
    name: spec.phases for name, spec in catalog.PRODUCTS.items()
}
"""The phases a task of each status can be in."""


def possible(product: str, status: str, task_type: str) -> bool:
    """Whether the product's action can succeed on a task of this status and type."""
    spec = catalog.PRODUCTS.get(product)
    return spec is not None and spec.possible(status, task_type)


def actionable(task: Task) -> bool:
    """Whether the product's action can succeed on ``task`` as observed."""
    return possible(task.product, task.status, task.type)


def why_not(task: Task) -> str:
    """Why :func:`actionable` is false for ``task`` (an empty string when it is true)."""
    if actionable(task):
        return ""
    title = TITLES.get(task.product, task.product)
    if task.status in ENDED.get(task.product, ()):
        return f"{title} task has ended (status {task.status})"
    if task.status not in STATUSES.get(task.product, ()):
        return f"status {task.status!r} is not a known {title} status"
    spec = catalog.get(task.product)
    types = " or ".join(sorted(spec.acts_on[task.status] or ()))
    return (
        f"{title} {spec.verb}s a {task.status} task only if it is a {types} (this is a {task.type})"
    )
