"""DLC (``dlc`` 2021-01-25, reference §6): data lake compute tasks, per region.

``CancelTask`` cancels a task while queued, init, running or writing; succeeded, failed and
cancelled tasks have ended. The API reports a state *code*; :data:`STATE_NAMES` names them, and
``Task.status`` holds the name.
"""

from __future__ import annotations

from collections.abc import Mapping

from taskwatch.catalog.spec import ApiAction, Phase, ProductSpec

STATE_NAMES: Mapping[int, str] = {
    0: "init",
    1: "running",
    2: "succeeded",
    3: "writing",
    4: "queued",
    -1: "failed",
    -3: "cancelled",
}
"""``State`` code → the status name taskwatch uses."""

_PENDING, _RUNNING, _DONE = (frozenset({p}) for p in (Phase.PENDING, Phase.RUNNING, Phase.DONE))

SPEC = ProductSpec(
    name="dlc",
    title="DLC",
    version="2021-01-25",
    regional=True,
    window=45 * 86400.0,  # DescribeTasks lists tasks created in the last 45 days (its default)
    max_page_size=100,
    actions=(ApiAction("DescribeTasks", 1000.0), ApiAction("CancelTask", 20.0, destructive=True)),
    verb="cancel",
    call="CancelTask",
    call_title="CancelTask",
    phases={
        "queued": _PENDING,
        "init": _PENDING,
        "running": _RUNNING,
        "writing": _RUNNING,
        "succeeded": _DONE,
        "failed": _DONE,
        "cancelled": _DONE,
    },
    acts_on={"queued": None, "init": None, "running": None, "writing": None},
    types=("SQLTask", "SparkSQLTask", "SparkBatchTask"),
)
