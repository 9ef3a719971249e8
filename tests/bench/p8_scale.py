"""P8: the cost curve of one process: one daemon watching 1 to 500 accounts.

One ``python -m taskwatch run`` subprocess (its CPU and memory are its own: ``/proc/<pid>/stat``
and ``/proc/<pid>/status``) watches ``N`` accounts, only MPS, at a 30 s interval (``jitter: 0``:
every account ticks at once, the harsher case for lateness), with one dry-run policy evaluated on
every task. Each account has a key of its own and a world of its own (``Emulator(worlds=...)``):
``config/emulator/large.yaml`` scaled to 1,000 tasks (12 % active, about 1 % of the tasks
changing per minute), a different seed per account. The emulator's rate limits are lifted: this
figure is about CPU, not rates.

The emulators run in a **second subprocess** (``python -m tests.bench.p8_scale --accounts N``),
not in the benchmark process: in this process every API answer it serves would delay the
``/metrics`` scrapes this process times (their latency would be partly the benchmark's, not the
daemon's), and its CPU is read apart (``/proc``), so that an emulator-bound point would show (it
is about a quarter of the daemon's). On two cores the daemon and the emulator each have one.

Per point, after the warm-up (the first cycle of every account: the FINISH sweep and a describe of
every active task), over ``MEASURED`` intervals whose edges fall half-way between ticks: daemon
CPU seconds per account-cycle (per interval: the spread), CPU seconds per wall second, RSS per
account, ``/metrics`` scrape latency (p50/p99 of ``SCRAPES`` scrapes about a second apart,
taken before the measured intervals so as not to inflate their CPU; during them one scrape per
interval, as a Prometheus scraping at the interval would), scan duration (mean from
``taskwatch_scan_duration_seconds``; p99 and max from the daemon's ``cycle`` log lines), skipped
cycles (``taskwatch_scan_cycles_total{result="skipped"}``) and how late cycles start against
their own grid (the daemon's ``cycle`` lines: start = time - seconds; a start's phase is
start - k·interval, against the earliest phase of that source). A line fitted to CPU per wall
second over ``N`` gives the saturation point (≥ 0.9 of one core) where no measured point
reaches it.

Not measured: the periodic FINISH sweep (every ``finish_sweep``, 10 min by default) after the
first, DLC and Live sources, notifications.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from taskwatch.clock import SystemClock
from taskwatch.emulator.scenario import EmulatorCredential, loads_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.world import World
from tests.bench.common import Row, child_server, percentile
from tests.bench.p2_calls import large_scenario
from tests.components import free_port
from tests.processes import spawn


@dataclass(frozen=True, slots=True)
class Plan:
    accounts: tuple[int, ...]
    tasks: int
    interval: float


FULL = Plan(accounts=(1, 10, 100, 500), tasks=1000, interval=30.0)
QUICK = Plan(accounts=(1, 10, 50), tasks=200, interval=10.0)
"""Quick: a 10 s interval so that three points fit in about two minutes."""
MEASURED = 2
"""Intervals measured per point after the warm-up."""
WARM_UP = 2
"""Cycles every account has done before measuring: the first (the FINISH sweep, a describe of
every active task) and the one after it (what changed while the first ran: long at 500)."""
SCRAPES = 15
"""Scrapes timed per point, about a second apart, before the measured intervals."""
SATURATED = 0.9
LIFTED = {("mps", a): 1e6 for a in ("DescribeTasks", "DescribeTaskDetail", "ManageTask")}
TICK = os.sysconf("SC_CLK_TCK")
CONFIG = """accounts:
%(accounts)s
products:
  mps: {interval: %(interval)gs, jitter: 0}
  dlc: {enabled: false}
  live: {enabled: false}
http: {listen: "127.0.0.1:%(port)d"}
state: {path: %(state)s}
logging: {format: json}
policies:
  - {name: abort-stuck-live, product: mps, action: abort, enforce: false,
     filters: [{type: LiveStreamProcessTask}, {status: PROCESSING}, {running_longer_than: 30d}]}
"""


def key(i: int) -> EmulatorCredential:
    return EmulatorCredential(f"AKIDBENCHP8{i:025d}", f"p8-bench-secret-{i:024d}")


# --- the emulator child -----------------------------------------------------------------------


def emulator(accounts: int, tasks: int) -> Emulator:
    """Every account its own world: the large scenario scaled to ``tasks``, seeded per account."""
    scenario = loads_scenario(large_scenario(tasks / 10_000), source="large.yaml")
    clock = SystemClock()
    worlds = {}
    for i in range(accounts):
        worlds[key(i).secret_id] = world = World(clock, seed=1000 + i, appid=scenario.appid)
        scenario.populate(world)
    keys = [key(i) for i in range(accounts)]
    return Emulator(world=World(clock), credentials=keys, limits=LIFTED, worlds=worlds)


async def _serve(accounts: int, tasks: int) -> None:
    async with emulator(accounts, tasks).serve() as url:
        print(f"serving {url}#{os.getpid()}", flush=True)  # its pid: for its CPU
        await asyncio.Event().wait()


# --- reading the daemon -----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid``: ``/proc/<pid>/schedstat`` of each live thread (nanoseconds), or
    utime + stime from ``/proc/<pid>/stat`` (10 ms ticks, every thread, even gone ones) when the
    ticks say more (a thread that ended took its schedstat with it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / TICK
    ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            ns += int((task / "schedstat").read_text().split()[0])
    return ns / 1e9 if ns / 1e9 > ticks - 0.05 else ticks


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid``, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


@dataclass
class Scrape:
    seconds: float
    cycles: dict[str, float]  # result → sum over sources
    duration_sum: float
    duration_count: float
    done: dict[str, float]  # account → its cycles done (ok + failed)
    size: int  # bytes of the exposition
    series: int


async def scrape(http: aiohttp.ClientSession, url: str) -> Scrape:
    started = time.perf_counter()
    async with http.get(url + "/metrics") as r:
        text = await r.text()
    seconds = time.perf_counter() - started
    cycles: dict[str, float] = {"ok": 0.0, "failed": 0.0, "skipped": 0.0}
    total = {"_sum": 0.0, "_count": 0.0}
    done: dict[str, float] = {}
    series = 0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            series += 1
            if s.name == "taskwatch_scan_cycles_total":
                cycles[s.labels["result"]] = cycles.get(s.labels["result"], 0.0) + s.value
                if s.labels["result"] != "skipped":
                    account = s.labels["account"]
                    done[account] = done.get(account, 0.0) + s.value
            elif s.name.startswith("taskwatch_scan_duration_seconds_"):
                suffix = s.name.removeprefix("taskwatch_scan_duration_seconds")
                if suffix in total:
                    total[suffix] += s.value
    return Scrape(seconds, cycles, total["_sum"], total["_count"], done, len(text), series)


def cycle_lines(log: Path) -> dict[str, list[tuple[float, float]]]:
    """Per source: (start, seconds) of each cycle, from the daemon's ``cycle`` log lines."""
    out: dict[str, list[tuple[float, float]]] = {}
    for line in log.read_text(errors="replace").splitlines():
        entry = json.loads(line) if '"cycle"' in line else {}
        if entry.get("event") != "cycle":
            continue
        end = datetime.fromisoformat(entry["timestamp"]).timestamp()
        took = float(entry["seconds"])
        out.setdefault(entry["source"], []).append((end - took, took))
    return out


# --- one point --------------------------------------------------------------------------------


async def _wait(url: str, http: aiohttp.ClientSession, proc: Any, n: int, within: float) -> float:
    """Until every account has done ``WARM_UP`` cycles; returns the wall time then."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError("the daemon exited")
        try:
            s = await scrape(http, url)
            if len(s.done) == n and min(s.done.values()) >= WARM_UP:
                return time.time()
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{n} accounts not warm within {within:g} s")


async def point(n: int, tasks: int, interval: float, workdir: Path) -> dict[str, Any]:
    args = [sys.executable, "-m", "tests.bench.p8_scale", "--accounts", str(n),
            "--tasks", str(tasks)]  # fmt: skip
    async with child_server(args, marker="serving ") as served:
        emu_url, emu_pid = served.split("#")[0], int(served.split("#")[1])
        port = free_port()
        accounts = "\n".join(
            f"  - {{name: a{i:04d}, endpoint: {emu_url}, credentials: {{from: static, "
            f"secret_id: {key(i).secret_id}, secret_key: {key(i).secret_key}}}}}"
            for i in range(n)
        )
        config = workdir / f"p8-{n}.yaml"
        config.write_text(CONFIG % {"accounts": accounts, "interval": interval, "port": port,
                                    "state": workdir / f"p8-{n}.db"})  # fmt: skip
        log = workdir / f"p8-{n}.log"
        with log.open("wb") as out:
            proc = await spawn("run", "--config", str(config), stdout=out, stderr=out,
                               stdin=asyncio.subprocess.DEVNULL)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                spawned = time.time()
                warm = await _wait(url, http, proc, n, within=60 + n * 1.0) - spawned
                result = await _measure(n, url, http, proc.pid, emu_pid, log, interval)
                return {**result, "warm_up_s": round(warm, 1)}
        finally:
            proc.terminate()
            await proc.wait()


async def _measure(
    n: int, url: str, http: aiohttp.ClientSession, pid: int, emu_pid: int,
    log: Path, interval: float,
) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(n)  # the scrapes' phases
    latencies: list[float] = []
    scrape_cpu: list[float] = []
    for _ in range(SCRAPES):  # scrapes at random phases of the cycles, timed one by one
        cpu = cpu_seconds(pid)
        exposition = await scrape(http, url)
        scrape_cpu.append(cpu_seconds(pid) - cpu)  # the scrape's, plus any cycle meanwhile
        latencies.append(exposition.seconds)
        await asyncio.sleep(rng.uniform(0.5, 1.5))
    starts = cycle_lines(log)
    origin = min(s for runs in starts.values() for s, _ in runs)
    k0 = int((time.time() - origin + interval / 2) // interval) + 1
    edges = [origin + (k0 + j) * interval - interval / 2 for j in range(MEASURED + 1)]
    samples: list[tuple[float, float, float, Scrape]] = []
    for edge in edges:  # one scrape per interval (a Prometheus scraping at the interval)
        await asyncio.sleep(max(0.0, edge - time.time()))
        samples.append(
            (time.time(), cpu_seconds(pid), cpu_seconds(emu_pid), await scrape(http, url))
        )
    mem = memory(pid)
    rss = mem["VmRSS"]
    per_cycle, per_wall, emu_wall = [], [], []
    for (t0, c0, e0, s0), (t1, c1, e1, s1) in itertools.pairwise(samples):
        done = (s1.cycles["ok"] + s1.cycles["failed"]) - (s0.cycles["ok"] + s0.cycles["failed"])
        per_cycle.append((c1 - c0) / max(1.0, done))
        per_wall.append((c1 - c0) / (t1 - t0))
        emu_wall.append((e1 - e0) / (t1 - t0))
    first, last = samples[0][3], samples[-1][3]
    cycles = (last.cycles["ok"] + last.cycles["failed"]) - (
        first.cycles["ok"] + first.cycles["failed"]
    )
    window = [(s, took) for runs in cycle_lines(log).values() for s, took in runs
              if samples[0][0] <= s + took <= samples[-1][0]]  # fmt: skip
    late = _lateness(cycle_lines(log), interval, samples[0][0], samples[-1][0])
    took = [t for _, t in window] or [float("nan")]
    return {
        "accounts": n,
        "cpu_per_account_cycle_ms": [round(c * 1000, 2) for c in per_cycle],
        "cpu_per_wall_second": [round(c, 3) for c in per_wall],
        "emulator_cpu_per_wall_second": [round(c, 3) for c in emu_wall],
        "rss_mib": round(rss / 2**20, 1),
        "peak_rss_mib": round(mem["VmHWM"] / 2**20, 1),
        "loadavg_1m": os.getloadavg()[0],
        "rss_per_account_kib": round(rss / n / 1024, 1),
        "scrape_ms": {"p50": round(percentile(latencies, 50) * 1000, 1),
                      "p99": round(percentile(latencies, 99) * 1000, 1), "n": len(latencies),
                      "cpu_p50": round(percentile(scrape_cpu, 50) * 1000, 1),
                      "bytes": exposition.size, "series": exposition.series},
        "cycles": cycles,
        "failed": last.cycles["failed"] - first.cycles["failed"],
        "skipped": last.cycles["skipped"] - first.cycles["skipped"],
        "scan_mean_s": round((last.duration_sum - first.duration_sum)
                             / max(1.0, last.duration_count - first.duration_count), 3),
        "scan_p99_s": round(percentile(took, 99), 3),
        "scan_max_s": round(max(took), 3),
        "start_late_s": late,
    }  # fmt: skip


def _lateness(
    runs: dict[str, list[tuple[float, float]]], interval: float, lo: float, hi: float
) -> dict[str, float]:
    """How late cycles in [lo, hi] started against their source's grid: each start's phase
    (start - k·interval from the source's first start) against the earliest phase it had."""
    late = []
    for starts in runs.values():
        s0 = min(s for s, _ in starts)
        phase = {s: s - round((s - s0) / interval) * interval for s, _ in starts}
        base = min(phase.values())
        late += [p - base for s, p in phase.items() if lo <= s <= hi]
    if not late:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"p50": round(percentile(late, 50), 3), "p99": round(percentile(late, 99), 3),
            "max": round(max(late), 3)}  # fmt: skip


# --- the curve --------------------------------------------------------------------------------


def fit(xs: list[float], ys: list[float]) -> tuple[float, float, list[float]]:
    """Least squares ``y = a + b·x``; returns (a, b, residuals)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    return a, b, [y - (a + b * x) for x, y in zip(xs, ys, strict=True)]


async def run(quick: bool) -> list[Row]:
    plan = QUICK if quick else FULL
    points = []
    with tempfile.TemporaryDirectory(prefix="p8-") as tmp:
        for n in plan.accounts:
            points.append(await point(n, plan.tasks, plan.interval, Path(tmp)))
            print(f"    P8 {n} accounts: {json.dumps(points[-1])}", file=sys.stderr, flush=True)
    xs = [float(p["accounts"]) for p in points]
    wall = [statistics.fmean(p["cpu_per_wall_second"]) for p in points]
    a, b, residuals = fit(xs, wall)
    saturated = [p["accounts"] for p, w in zip(points, wall, strict=True)
                 if w >= SATURATED or p["skipped"] > 0]  # fmt: skip
    at_one_core = (SATURATED - a) / b if b > 0 else None
    marginal_ms = b * plan.interval * 1000  # CPU per extra account-cycle, from the slope
    per_cycle: dict[str, float | None] = {
        f"{p['accounts']} acc": statistics.fmean(p["cpu_per_account_cycle_ms"]) for p in points
    }
    rss_base, rss_slope, rss_residuals = fit(xs, [p["rss_mib"] * 1024 for p in points])
    curve = {
        "interval_s": plan.interval, "tasks_per_account": plan.tasks, "points": points,
        "fit_cpu_per_wall_second": {"intercept": round(a, 4), "per_account": round(b, 6),
                                    "marginal_ms_per_account_cycle": round(marginal_ms, 2),
                                    "residuals": [round(r, 4) for r in residuals]},
        "fit_rss_kib": {"intercept": round(rss_base), "per_account": round(rss_slope, 1),
                        "residuals": [round(r) for r in rss_residuals]},
        "accounts_at_one_core": at_one_core, "saturated_at": saturated,
    }  # fmt: skip
    big = points[-1]
    at = f"at {big['accounts']} accounts"
    return [
        Row("P8.cpu", f"daemon CPU ms per account-cycle ({plan.tasks:,} tasks, "
            f"{plan.interval:g} s; {at})", per_cycle.popitem()[1], per_cycle, None, "reported",
            None, curve),
        Row("P8.marginal", "marginal daemon CPU ms per account-cycle (fitted slope)",
            marginal_ms, {"fixed CPU/s": a}, None, "reported", None),
        Row("P8.core", f"accounts one core watches at {plan.interval:g} s (fitted: CPU/s = 0.9)",
            at_one_core, {"max |residual| CPU/s": max(abs(r) for r in residuals)}, None,
            "reported", None),
        Row("P8.rss", "RSS per account, KiB (slope over accounts; RSS MiB per point)",
            rss_slope, {f"{p['accounts']} acc": p["rss_mib"] for p in points}, None,
            "reported", None),
        Row("P8.scrape", f"/metrics scrape p99, ms ({at})", big["scrape_ms"]["p99"],
            {"p50": big["scrape_ms"]["p50"]}, None, "reported", None),
        Row("P8.late", f"cycle start lateness max, s ({at})", big["start_late_s"]["max"],
            {"skipped": big["skipped"], "scan p99 s": big["scan_p99_s"]}, None,
            "none skipped", big["skipped"] == 0),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="P8's emulator: a world per account")
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(_serve(args.accounts, args.tasks))


if __name__ == "__main__":
    main()
