"""What policies must know of each product: its status vocabulary, the phases a status can be
in, and when the product's one action is possible at all.

These facts belong to the product adapters (``taskwatch.products``), but policy sits in the same
layer and may not import them, so they are repeated here; ``tests/policy/test_rules.py`` keeps
them equal to their owners.

When an action is possible (reference §5.3, §6.2, §7.2):

- MPS ``ManageTask Abort``: a ``LiveStreamProcessTask`` while WAITING or PROCESSING, every other
  type only while WAITING. A FINISH task has nothing left to abort.
- DLC ``CancelTask``: while queued, init, running or writing; succeeded, failed and cancelled tasks
  have ended.
- Live ``DeleteLivePullStreamTask``: always (a pull task has no terminal status and lives until
  deleted, even past its EndTime).

Not guaranteed: a status the product adds later is not known here, and a task in it is never
acted on (:func:`actionable` is false) until this table learns it.
"""

from __future__ import annotations

from collections.abc import Mapping

from taskwatch.models import Phase, Task

LIVE_STREAM = "LiveStreamProcessTask"
"""The one MPS type that can be aborted while PROCESSING (the detail's spelling)."""
TYPE_SPELLINGS: Mapping[str, Mapping[str, str]] = {"mps": {"LiveProcessTask": LIVE_STREAM}}
"""Other spellings of a type → the spelling ``Task.type`` holds (MPS lists say
``LiveProcessTask``, its details ``LiveStreamProcessTask``)."""
TITLES: Mapping[str, str] = {"mps": "MPS", "dlc": "DLC", "live": "Live"}
CALLS: Mapping[str, str] = {
    "mps": "ManageTask OperationType=Abort",
    "dlc": "CancelTask",
    "live": "DeleteLivePullStreamTask",
}
STATUSES: Mapping[str, tuple[str, ...]] = {
    "mps": ("WAITING", "PROCESSING", "FINISH"),
    "dlc": ("queued", "init", "running", "writing", "succeeded", "failed", "cancelled"),
    "live": ("enable", "pause"),
}
"""Each product's own status values, as ``Task.status`` holds them."""
ENDED: Mapping[str, tuple[str, ...]] = {
    "mps": ("FINISH",),
    "dlc": ("succeeded", "failed", "cancelled"),
    "live": (),
}
"""Statuses in which the product's action has nothing left to do."""

_ALL = frozenset(Phase)
PHASES: Mapping[str, Mapping[str, frozenset[Phase]]] = {
    "mps": {
        "WAITING": frozenset({Phase.PENDING}),
        "PROCESSING": frozenset({Phase.RUNNING}),
        "FINISH": frozenset({Phase.DONE}),
    },
    "dlc": {
        "queued": frozenset({Phase.PENDING}),
        "init": frozenset({Phase.PENDING}),
        "running": frozenset({Phase.RUNNING}),
        "writing": frozenset({Phase.RUNNING}),
        "succeeded": frozenset({Phase.DONE}),
        "failed": frozenset({Phase.DONE}),
        "cancelled": frozenset({Phase.DONE}),
    },
    # A Live task's phase comes from its time window, not its status alone.
    "live": {"enable": _ALL, "pause": frozenset({Phase.PENDING, Phase.DONE})},
}
"""The phases a task of each status can be in."""


def possible(product: str, status: str, task_type: str) -> bool:
    """Whether the product's action can succeed on a task of this status and type."""
    if status not in STATUSES.get(product, ()) or status in ENDED.get(product, ()):
        return False
    return product != "mps" or status == "WAITING" or task_type == LIVE_STREAM


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
    return f"MPS aborts a PROCESSING task only if it is a {LIVE_STREAM} (this is a {task.type})"
