"""One shard of a :class:`~taskwatch.leader.sharding.ShardElector` seen as an
:class:`~taskwatch.leader.election.Elector`: what :class:`~taskwatch.leading.Leading` waits on to
run a shard's loops, and what the executor asks right before acting on a task of that shard.

The view runs nothing: :meth:`ShardView.run` returns once started (the ShardElector's own ``run``
campaigns and renews for every shard), and :meth:`ShardView.release` hands this one shard back
(the fair share may claim it again later). Transitions are logged as ``leader.acquired`` and
``leader.lost`` with the shard; an acquisition is a warning only when it took over another
replica's expired lease (``taken_from``).

Not guaranteed: anything :meth:`ShardElector.holds` does not guarantee (a pause between the check
and the act).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from taskwatch.leader.election import _Leadership

if TYPE_CHECKING:
    from taskwatch.leader.sharding import ShardElector

__all__ = ["ShardView"]


class ShardView(_Leadership):
    """Leadership of one shard (see the module docstring)."""

    def __init__(
        self,
        owner: ShardElector,
        shard: int,
        on_change: Callable[[int, bool], None] | None = None,
    ) -> None:
        super().__init__(owner.identity, None if on_change is None else partial(on_change, shard))
        self.shard = shard
        self._owner = owner

    def is_leader(self) -> bool:
        return self._owner.holds(self.shard)

    @property
    def holder(self) -> str | None:
        return self._owner.holder_of(self.shard)

    def set(self, leading: bool, **why: object) -> None:
        """Record a gain or a loss (the ShardElector's call)."""
        self._set(leading, shard=self.shard, **why)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def release(self) -> None:
        await self._owner.hand_back(self.shard)
