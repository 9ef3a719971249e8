"""What every product adapter offers the watcher, and the call accounting they share.

An adapter knows one product's list and detail APIs and how to normalise their records into
:class:`taskwatch.models.Task`. It never decides what to fetch: the watcher asks it to ``scan``
(list the active tasks, and sometimes sweep the finished ones) and to ``refresh`` exactly the tasks
the tracker found new, changed or gone. Every API call goes through :meth:`Adapter.call`, which
counts it against the cycle so the cost of watching is visible.

Paging is guarded (:mod:`taskwatch.products.paging`): a repeated token, a page that makes no
progress, a listing that outgrows what its first page announced or :data:`MAX_LISTED` raises
:class:`PagingError` instead of looping forever.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from taskwatch.catalog import ProductSpec
from taskwatch.clock import Clock
from taskwatch.errors import TaskwatchError
from taskwatch.logs import bounded
from taskwatch.models import SourceKey, Task

MESSAGE_LIMIT = 1500
"""Characters of a paging error's text (it may quote a token the server sent)."""
MAX_LISTED = 100_000
"""The most tasks one listing may bring (one MPS status, one DLC filter, the Live list); past it
the listing fails as a :class:`PagingError`. No product documents how many tasks an account can
hold in its list window, so the bound is what taskwatch is built to watch: 100,000 tasks, the
scale its memory is measured at (docs/performance.md, P5), about 70 MB of listed MPS records. A
pager that never ends (a fresh token or a growing total with new tasks on every page) stops
there, after ``MAX_LISTED / page_size`` calls, instead of growing until the cycle's timeout."""


class PagingError(TaskwatchError):
    """A listing did not converge: repeated token, no progress, or too many pages or tasks.

    Its text quotes what the server sent (a token), so it is scrubbed and capped like an API
    error's (:func:`taskwatch.logs.bounded`)."""

    def __init__(self, message: str) -> None:
        super().__init__(bounded(message, MESSAGE_LIMIT))


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


GLOBAL = "global"
"""The region label of a source whose task ids are global per account (MPS)."""


class AdapterBase:
    """What every adapter shares: its bounds, its source key and the counted call.

    A product names its catalog entry in the class statement, e.g.
    ``class DlcAdapter(AdapterBase, spec=SPEC)`` (:mod:`taskwatch.catalog`), which gives its name,
    list window and largest page; a product whose task ids are global (MPS, not
    ``spec.regional``) is keyed to the region ``global`` unless it is given one.
    """

    spec: ClassVar[ProductSpec]
    product: ClassVar[str]
    max_page_size: ClassVar[int]
    regional: ClassVar[bool]
    _window: ClassVar[float]

    def __init_subclass__(cls, *, spec: ProductSpec) -> None:
        super().__init_subclass__()
        cls.spec, cls.product, cls._window = spec, spec.name, spec.window
        cls.max_page_size, cls.regional = spec.max_page_size, spec.regional

    def __init__(
        self,
        *,
        client: Caller,
        account: str,
        region: str | None = None,
        clock: Clock,
        page_size: int | None = None,
        detail_concurrency: int = 8,
        max_pages: int = 10_000,
        max_tasks: int = MAX_LISTED,
    ) -> None:
        product = self.product
        if self.regional and not region:
            raise ValueError(f"{product} needs a region")
        page_size = self.max_page_size if page_size is None else page_size
        if not 1 <= page_size <= self.max_page_size:
            raise ValueError(f"{product} page_size must be between 1 and {self.max_page_size}")
        if detail_concurrency < 1 or max_pages < 1 or max_tasks < 1:
            raise ValueError("detail_concurrency, max_pages and max_tasks must be at least 1")
        self.client = client
        self.clock = clock
        self.region = region or None
        self.page_size = page_size
        self.detail_concurrency = detail_concurrency
        self.max_pages = max_pages
        self.max_tasks = max_tasks
        """The most tasks one listing may bring (:data:`MAX_LISTED`)."""
        self.source = SourceKey(account, product, region or GLOBAL)
        self.window = self._window

    async def call(
        self, action: str, params: Mapping[str, Any], calls: CallCounter
    ) -> dict[str, Any]:
        """One API call, counted against the cycle (counted even when it fails)."""
        calls.add(action)
        return await self.client.call(self.product, action, params, region=self.region)
