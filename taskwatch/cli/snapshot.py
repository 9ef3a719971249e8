"""``taskwatch snapshot -c CONFIG -o world.yaml``: every source's current tasks, as an emulator
scenario a colleague can open, replay (``taskwatch emulator --scenario``) and rehearse against.

Why it reads the way the daemon does: the sources are built by :func:`taskwatch.runtime.
build_runtime` from the same configuration, so each account's calls go through its own client,
limiter and budget, to the same endpoints, with the same paging guards. A snapshot is read-only:
it lists every task of every source (the finished ones too: a sweep) and describes the MPS ones
(``DescribeTaskDetail``); DLC and Live carry everything in their list records. No policy is
loaded and no journal opened, so nothing can be aborted, cancelled or deleted.

What is written (:mod:`taskwatch.cli.snapshot_entries` per task, :func:`taskwatch.emulator.
scenario.dumps_scenario` for the text): a header comment (when, from which configuration file,
how many tasks per source, what was left out), the account's APPID, a placeholder key pair for
the emulator (never the account's keys: they stay in the configuration), and one entry per task
with its id, status, times as offsets from the snapshot's moment and product fields, every
string scrubbed of secrets (:func:`taskwatch.logs.scrub`). Entries are sorted, so a snapshot of a
snapshot is the same file. The file is written next to its target and renamed over it: a failed
snapshot leaves an existing file as it was.

Not guaranteed: that a world with several accounts or regions replays as one (an emulator serves
one account, and DLC and Live tasks of every region from one list: the header says so), nor what
the API does not show (generators, a waiting task's remaining wait, faults, rate limits). Tasks
are what the daemon's adapters report: MPS tasks created within DescribeTasks' 7 days, Live tasks
whose EndTime passed only while created within 13 days (:mod:`taskwatch.products.live`). An
emulator built from the file at the snapshot's moment answers every list and detail call as the
source did when its clock stood still (:mod:`taskwatch.cli.snapshot_times`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from taskwatch.cli.snapshot_entries import Skip, dlc_entry, live_entry, mps_entry
from taskwatch.clock import Clock, SystemClock
from taskwatch.durations import parse_duration
from taskwatch.emulator.scenario import DEFAULT_CREDENTIAL, dumps_scenario
from taskwatch.errors import ConfigError, TaskwatchError
from taskwatch.leader.election import StandaloneElector
from taskwatch.logs import scrub
from taskwatch.metrics.registry import Metrics
from taskwatch.models import Task
from taskwatch.products.base import GLOBAL, CallCounter
from taskwatch.runtime import build_runtime, load_config
from taskwatch.services import build_services
from taskwatch.settings import Settings
from taskwatch.tencent.transport import Transport

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Snapshot", "add_parser", "run", "take_snapshot"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ENTRY: Mapping[str, Callable[[Task, float], dict[str, Any]]] = {
    "mps": mps_entry,
    "dlc": dlc_entry,
    "live": live_entry,
}
DETAILED = frozenset({"mps"})
"""Products whose detail call carries fields the list does not (DLC and Live: none)."""
_APPID = re.compile(r"^(\d+)-")
"""An MPS task id starts with the account's APPID (``1250000000-WorkflowTask-…``)."""


class OutputError(TaskwatchError):
    """The output file cannot be written (exit 2: nothing was read)."""


def add_parser(sub: Any) -> None:
    """``snapshot`` on the CLI's subparsers."""
    cmd = sub.add_parser(
        "snapshot",
        help="write every source's current tasks as an emulator scenario (read-only)",
        description=(
            "Lists (and, for MPS, describes) every task of every source of the configuration, "
            "under its limiter and budget, and writes them as an emulator scenario: ids, "
            "statuses, times as offsets from now, product fields, secrets removed. Never aborts, "
            "cancels or deletes anything."
        ),
    )
    cmd.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    cmd.add_argument("--output", "-o", required=True, help="scenario file to write ('-': stdout)")


def run(args: argparse.Namespace) -> int:
    """The command: 0 written; 1 a call failed (nothing written); 2 bad configuration or output
    path (nothing read). API errors propagate to :func:`taskwatch.cli.main.main`."""
    try:
        target = None if args.output == "-" else check_output(Path(args.output))
        settings, _rules = load_config(args.config)
    except (ConfigError, OutputError) as exc:
        print(f"error: {scrub(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    snap = asyncio.run(take_snapshot(settings, clock=SystemClock(), config_name=args.config))
    text = snap.text()
    if target is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomically(target, text)
        except OutputError as exc:
            print(f"error: {scrub(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{target}: {snap.summary()}", file=sys.stderr)
    return EXIT_OK


def check_output(path: Path) -> Path:
    """``path`` if a file can be written there; else :class:`OutputError` saying why."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; name the scenario file to write")
    if not parent.is_dir():
        raise OutputError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: not writable")
    return path


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it over ``path``."""
    try:
        fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(scratch, path)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc


@dataclass(slots=True)
class SourceCount:
    """What one source gave: tasks listed, written, and left out (by reason)."""

    listed: int = 0
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    undescribed: int = 0


@dataclass(slots=True)
class Snapshot:
    """A taken snapshot: the scenario document and what the header says of it."""

    document: dict[str, Any]
    taken: float
    config: str
    counts: dict[str, SourceCount]

    def summary(self) -> str:
        written = sum(c.written for c in self.counts.values())
        return f"{written} task(s) from {len(self.counts)} source(s)"

    def header(self) -> str:
        at = _iso(self.taken)
        lines = [
            f"taskwatch snapshot of {scrub(self.config)}, taken at {at}.",
            "Times are offsets from that moment. Replay: taskwatch emulator --scenario FILE",
            "(the world is rebuilt at the emulator clock's reading; set `start` to replay that",
            "moment on a virtual clock).",
            "credentials: a placeholder key pair the emulator accepts, NOT the account's keys.",
            "Secrets in task fields (keys, tokens, signatures, credentials in URLs) read",
            "[redacted]. Not carried (the API does not show them): generators, faults, limits,",
            "a waiting task's remaining wait; a running task's end is estimated from its progress.",
            "Tasks per source:",
        ]
        for name, c in self.counts.items():
            extra = [f"{n} skipped: {why}" for why, n in sorted(c.skipped.items())]
            if c.undescribed:
                extra.append(f"{c.undescribed} without detail")
            lines.append(f"  {name}: {c.written}" + (f" ({'; '.join(extra)})" if extra else ""))
        keys = [name.split("/") for name in self.counts]
        regions = {k[2] for k in keys if k[2] != GLOBAL}
        if len({k[0] for k in keys}) > 1 or len(regions) > 1:
            lines.append("Several accounts or regions: the emulator serves them as one account.")
        return "\n".join(lines)

    def text(self) -> str:
        return dumps_scenario(self.document, header=self.header())


async def take_snapshot(
    settings: Settings, *, clock: Clock, config_name: str, transport: Transport | None = None
) -> Snapshot:
    """Read every source of ``settings`` (list and detail calls only) into a scenario."""
    unused = settings.state.model_copy(
        update={"url": None, "path": Path(tempfile.gettempdir()) / "taskwatch-snapshot.db"}
    )  # never opened: nothing here acts or journals
    settings = settings.model_copy(update={"policies": (), "state": unused})
    metrics = Metrics(CollectorRegistry(), clock=clock)
    services = build_services(
        settings,
        [],
        clock=clock,
        metrics=metrics,
        rng=random.Random(0),  # noqa: S311 - no randomness is used
        transport=transport,
        elector=StandaloneElector("taskwatch-snapshot"),
    )
    runtime = build_runtime(settings, [], services=services)
    now = float(math.floor(clock.now().timestamp()))
    entries: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in ENTRY}
    counts: dict[str, SourceCount] = {}
    async with services.transport:
        for source in runtime.sources:
            adapter = source.watcher.adapter
            product = adapter.source.product
            count = counts[str(adapter.source)] = SourceCount()
            calls = CallCounter()
            scan = await adapter.scan(sweep=True, calls=calls)
            tasks = [*scan.active.values(), *scan.finished.values()]
            count.listed = len(tasks)
            if product in DETAILED:
                described = {t.id: t for t in await adapter.refresh(tasks, calls)}
                count.undescribed = sum(1 for t in tasks if t.id not in described)
                tasks = [described.get(t.id, t) for t in tasks]
            for task in tasks:
                try:
                    entry = ENTRY[product](task, now)
                except Skip as why:
                    count.skipped[str(why)] = count.skipped.get(str(why), 0) + 1
                    continue
                if entries[product].setdefault(task.id, entry) is entry:
                    count.written += 1
    return Snapshot(_document(entries, now), now, config_name, counts)


def _document(entries: dict[str, dict[str, dict[str, Any]]], now: float) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "description": f"taskwatch snapshot at {_iso(now)}",
        "seed": 1,
    }
    appid = _appid(entries)
    if appid is not None:
        doc["appid"] = appid
    doc["credentials"] = [
        {"secret_id": DEFAULT_CREDENTIAL.secret_id, "secret_key": DEFAULT_CREDENTIAL.secret_key}
    ]
    for product, found in entries.items():
        ordered = sorted(found.values(), key=lambda e: (_seconds(e["created"]), e["id"]))
        doc[product] = {"tasks": ordered}
    return doc


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(text: str) -> float:
    return parse_duration(text, allow_negative=True)


def _appid(entries: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    """The APPID the MPS ids show (the emulator prints it in ids and DLC result paths)."""
    for task_id in entries["mps"]:
        if m := _APPID.match(task_id):
            return m.group(1)
    return None
