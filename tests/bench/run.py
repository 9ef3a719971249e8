"""Run the benchmarks, print the table, write ``bench-results.json``.

``python -m tests.bench.run [--quick] [--only P1,P2] [--out bench-results.json]``; ``make bench``
(``QUICK=1`` for the quick suite). See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import structlog

from tests.bench.common import ROOT, Row
from tests.bench.table import render

BENCHMARKS = {
    "P1": "tests.bench.p1_ratelimit",
    "P2": "tests.bench.p2_calls",
    "P3": "tests.bench.p3_reaction",
    "P4": "tests.bench.p4_cpu",
    "P5": "tests.bench.p5_memory",
    "P6": "tests.bench.p6_signing",
    "P7": "tests.bench.p7_journal",
    "P8": "tests.bench.p8_scale",
    "P9": "tests.bench.p9_scrape",
}


def quiet() -> None:
    """The daemon's own log lines would drown the table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    logging.getLogger().setLevel(logging.CRITICAL)


async def run_all(names: Sequence[str], *, quick: bool) -> tuple[list[Row], dict[str, float]]:
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        started = time.perf_counter()
        rows += await module.run(quick)
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"  {name} done in {seconds[name]:.1f} s", file=sys.stderr, flush=True)
    return rows, seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the ≤ 60 s suite")
    parser.add_argument("--only", help="comma-separated ids, e.g. P1,P4")
    parser.add_argument("--out", default=str(ROOT / "bench-results.json"))
    args = parser.parse_args(argv)
    names = [n.strip().upper() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    quiet()
    started = time.perf_counter()
    rows, seconds = asyncio.run(run_all(names, quick=args.quick))
    total = time.perf_counter() - started
    print(render(rows))
    mode = "quick" if args.quick else "full"
    print(f"\n{mode} run: {total:.1f} s ({', '.join(f'{k} {v:g} s' for k, v in seconds.items())})")
    Path(args.out).write_text(
        json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
