"""A small moving world and a configuration for rehearsal tests.

The scenario has generators in all three products, so the world the daemon sees is made while it
runs: live stream processing tasks that run until stopped (an abort policy catches them once they
pass 10 minutes, one per cycle: the cap holds the rest back), SQL queries that never end (a cancel
policy after 5 minutes) and pull-stream relays whose EndTime passes (a delete policy). Generated
ids depend on when the world is ticked, so two runs that agree on the actions also agree on when
they asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.emulator.harness import SECRET_ID, SECRET_KEY

SCENARIO: dict[str, Any] = {
    "seed": 11,
    "start": "2026-11-23T08:00:00Z",
    "credentials": [{"secret_id": SECRET_ID, "secret_key": SECRET_KEY}],
    "mps": {
        "tasks": [
            {"type": "LiveStreamProcessTask", "status": "PROCESSING", "count": 3,
             "created": "-20m", "spread": "15m", "url": "rtmp://live.example.com/live/cam{n}"},
            {"type": "WorkflowTask", "status": "WAITING", "count": 5, "created": "-1m",
             "wait": ["10s", "2m"], "duration": ["1m", "5m"]},
        ],
        "generators": [
            {"type": "LiveStreamProcessTask", "every": "4m", "wait": ["5s", "30s"],
             "url": "rtmp://live.example.com/live/popup"},
            {"type": "WorkflowTask", "every": "40s", "wait": ["0s", "1m"],
             "duration": ["1m", "6m"]},
        ],
    },
    "dlc": {
        "tasks": [{"status": "running", "created": "-2m", "duration": None, "sql": "SELECT 1"}],
        "generators": [{"every": "5m", "wait": ["0s", "1m"], "duration": None}],
    },
    "live": {
        "tasks": [{"count": 2, "created": "-2d", "start": "-1d", "end": "-1h", "stream": "s{n}"}],
        "generators": [{"every": "7m", "wait": "0s", "duration": "10m", "stream": "gen"}],
    },
}  # fmt: skip

POLICIES: list[dict[str, Any]] = [
    {"name": "abort-long-live", "product": "mps",
     "filters": [{"type": "LiveStreamProcessTask"}, {"status": "PROCESSING"},
                 {"running_longer_than": "10m"}],
     "action": "abort", "enforce": False, "max_actions": {"per_cycle": 1}},
    {"name": "cancel-endless-sql", "product": "dlc",
     "filters": [{"status": ["running", "writing"]}, {"age": "5m"}],
     "action": "cancel", "enforce": False},
    {"name": "delete-ended-relays", "product": "live",
     "filters": [{"key": "phase", "op": "eq", "value": "done"}],
     "action": "delete", "enforce": False},
]  # fmt: skip


def config(*, endpoint: str, state: Path, enforce: bool = False, **more: Any) -> dict[str, Any]:
    """A configuration of one account; policies as in :data:`POLICIES` with ``enforce``."""
    raw: dict[str, Any] = {
        "accounts": [
            {
                "name": "main",
                "credentials": {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                "endpoint": endpoint,
                "regions": ["ap-guangzhou"],
            }
        ],
        "products": {
            "mps": {"interval": "15s", "finish_sweep": "5m"},
            "dlc": {"interval": "20s", "finish_sweep": "5m"},
            "live": {"interval": "30s", "finish_sweep": "5m"},
        },
        "http": {"listen": "127.0.0.1:0"},
        "state": {"path": str(state)},
        "policies": [{**p, "enforce": enforce} for p in POLICIES],
    }
    raw.update(more)
    return raw


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
