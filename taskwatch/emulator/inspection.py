"""What the emulator shows of itself on its inspection endpoints: one :class:`LogEntry` per API
request (``GET /_emulator/log``) and a compact :func:`snapshot` of every task
(``GET /_emulator/tasks``).

These are for tests and curious users, not a Tencent Cloud API: their shape is taskwatch's own
and may grow fields. A log entry names the SecretId that signed the request, never a secret key
or token. The HTTP side is :mod:`taskwatch.emulator.server`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskwatch.emulator.world import World

__all__ = ["LogEntry", "snapshot", "snapshot_counts"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One API request as the emulator saw it."""

    seq: int
    time: str
    product: str
    action: str
    params: dict[str, Any]
    code: str
    request_id: str
    client: str
    secret_id: str
    region: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "product": self.product,
            "action": self.action,
            "params": self.params,
            "code": self.code,
            "request_id": self.request_id,
            "client": self.client,
            "secret_id": self.secret_id,
            "region": self.region,
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot(world: World) -> dict[str, list[dict[str, Any]]]:
    """Every task, compactly, for tests and curious users."""
    return {
        "mps": [
            {"TaskId": t.task_id, "TaskType": t.task_type, "Status": t.status,
             "CreateTime": _iso(t.created), "BeginProcessTime": _iso(t.started),
             "FinishTime": _iso(t.finished), "Aborted": t.aborted, "ErrCode": t.err_code}
            for t in world.mps.values()
        ],
        "dlc": [
            {"Id": d.task_id, "State": d.state, "CreateTime": _iso(d.created),
             "UpdateTime": _iso(d.updated)}
            for d in world.dlc.values()
        ],
        "live": [
            {"TaskId": t.task_id, "Status": t.status, "StartTime": _iso(t.start_time),
             "EndTime": _iso(t.end_time)}
            for t in world.live.values()
        ],
    }  # fmt: skip


def snapshot_counts(world: World) -> dict[str, int]:
    return {"mps": len(world.mps), "dlc": len(world.dlc), "live": len(world.live)}
