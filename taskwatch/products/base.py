"""What every product adapter offers the watcher, and the call accounting they share.

An adapter knows one product's list and detail APIs and how to normalise their records into
:class:`taskwatch.models.Task`. It never decides what to fetch: the watcher asks it to ``scan``
(list the active tasks, and sometimes sweep the finished ones) and to ``refresh`` exactly the tasks
the tracker found new, changed or gone. Every API call goes through :meth:`Adapter.call`, which
counts it against the cycle so the cost of watching is visible.

Paging is guarded: a repeated token or offset, or a page that makes no progress, raises
:class:`PagingError` instead of looping forever.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from taskwatch.errors import TaskwatchError
from taskwatch.models import SourceKey, Task


class PagingError(TaskwatchError):
    """A listing did not converge: repeated token, no progress, or too many pages."""


@dataclass(slots=True)
class CallCounter:
    """API calls made during one cycle, by action."""

    by_action: collections.Counter[str] = field(default_factory=collections.Counter)

    def add(self, action: str) -> None:
        self.by_action[action] += 1

    @property
    def total(self) -> int:
        return sum(self.by_action.values())


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one scan saw: active tasks by id and, on a sweep, finished tasks by id."""

    active: Mapping[str, Task]
    finished: Mapping[str, Task] = field(default_factory=dict)
    swept: bool = False


class Caller(Protocol):
    """The part of :class:`taskwatch.tencent.client.TencentClient` adapters use."""

    async def call(
        self,
        product: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        region: str | None = None,
    ) -> dict[str, Any]: ...


class Adapter(Protocol):
    """A product, as the watcher sees it."""

    source: SourceKey
    window: float
    """Seconds the list API remembers a task; the tracker forgets tasks older than this."""

    async def scan(self, *, sweep: bool, calls: CallCounter) -> ScanResult:
        """List every active task (and every finished one when ``sweep``), to the last page."""
        ...

    async def refresh(self, tasks: Sequence[Task], calls: CallCounter) -> list[Task]:
        """Newer observations (with detail) of ``tasks``; tasks the API no longer knows are
        left out."""
        ...

    async def describe(self, task_id: str, calls: CallCounter) -> Task | None:
        """One fresh observation with detail, for fencing; ``None`` if the API does not know
        the task."""
        ...

    def action_params(self, task_id: str, *, operator: str) -> dict[str, Any]:
        """The parameters of the product's destructive call for ``task_id``."""
        ...

    async def act(self, task_id: str, *, operator: str, calls: CallCounter) -> dict[str, Any]:
        """Send the product's destructive call (abort, cancel, delete) exactly once."""
        ...
