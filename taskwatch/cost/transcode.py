"""MPS estimates by output minutes: ``WorkflowTask``, ``ScheduleTask``, ``EditMediaTask``.

Each output (:mod:`taskwatch.cost.outputs`) is priced on its own, as MPS bills each output file:
minutes done (duration / 60 x progress / 100) x the price of its codec at its spec, the smallest
spec (``prices.specs``) whose (long edge, short edge) bounds contain the output's; an audio-only
output at ``per_audio_minute``. ``so_far`` is the sum; while the task runs, ``per_hour`` is the
rate it accrued at (``so_far`` / hours since ``BeginProcessTime``) and ``remaining_hours`` is
projected from the mean progress p of its outputs (elapsed x (100 - p) / p, when 0 < p < 100).

A failed output costs nothing [inferred: no output file, nothing billed]. A waiting task has spent
nothing. Anything that cannot be priced (an output's codec or spec absent from the table, a size
above every spec, no duration anywhere) leaves the whole task unpriced, with why: a partial sum
would look like a figure and be too low.

Not guaranteed: MPS rounds each output up to a whole minute (at least one minute is billed); the
estimate counts exact minutes, so it can be lower by up to one minute's price per output. Top
speed codec (TSC) outputs are priced as standard transcoding.
"""

from __future__ import annotations

from collections.abc import Mapping

from taskwatch.cost.figures import HOUR, Estimate, Unpriced
from taskwatch.cost.outputs import Output, outputs_of
from taskwatch.models import Phase, Task
from taskwatch.settings.prices import MpsTypePrice

__all__ = ["spec_of", "transcode"]

Bounds = tuple[int | None, int]


def spec_of(width: int, height: int, specs: Mapping[str, Bounds]) -> str | None:
    """The smallest spec whose bounds contain a ``width`` x ``height`` output (either way up);
    ``None`` when it is above every spec. Specs are ordered by short edge, then long edge."""
    long, short = max(width, height), min(width, height)
    ordered = sorted(specs.items(), key=lambda s: (s[1][1], s[1][0] or float("inf")))
    for name, (long_bound, short_bound) in ordered:
        if short <= short_bound and (long_bound is None or long <= long_bound):
            return name
    return None


def transcode(
    task: Task,
    now: float,
    price: MpsTypePrice,
    specs: Mapping[str, Bounds],
    currency: str,
) -> Estimate | Unpriced:
    """The estimate of an MPS task billed by output minutes."""
    if task.phase is Phase.PENDING:
        return Estimate(0.0, 0.0, currency, "not started")
    if task.detail is None:
        return Unpriced("no detail yet (the outputs are in DescribeTaskDetail)")
    outputs = outputs_of(task.type, task.detail)
    if isinstance(outputs, str):
        return Unpriced(outputs)
    if not outputs:
        return Unpriced("no transcoding output in the detail (only transcoding is priced)")
    parts: list[str] = []
    so_far = 0.0
    for i, output in enumerate(outputs):
        if output.failed:
            parts.append("failed output")
            continue
        priced = _price(output, price, specs)
        if isinstance(priced, str):
            return Unpriced(f"output {i + 1}: {priced}")
        label, unit = priced
        so_far += output.minutes_done * unit
        parts.append(f"{label} {output.minutes_done:.2f} min x {unit:g}")
    assumed = sorted({a for o in outputs for a in o.assumed})
    basis = "; ".join(parts) + (
        f" ({', '.join(assumed)} assumed from the input)" if assumed else ""
    )
    if task.phase is not Phase.RUNNING or task.started is None:
        return Estimate(so_far, 0.0, currency, basis)
    elapsed = max(0.0, now - task.started)
    per_hour = so_far / (elapsed / HOUR) if elapsed > 0 else 0.0
    return Estimate(so_far, per_hour, currency, basis, _remaining(outputs, elapsed))


def _price(
    output: Output, price: MpsTypePrice, specs: Mapping[str, Bounds]
) -> tuple[str, float] | str:
    if output.codec is None:
        if price.per_audio_minute is None:
            return "audio-only, and no per_audio_minute price"
        return "audio", price.per_audio_minute
    size = f"{output.width}x{output.height}"
    spec = spec_of(output.width, output.height, specs)
    if spec is None:
        return f"{size} is above every spec of prices.specs"
    by_spec = (price.per_output_minute or {}).get(output.codec)
    if by_spec is None:
        return f"no price for codec {output.codec}"
    unit = by_spec.get(spec)
    if unit is None:
        return f"no price for {output.codec} {spec} ({size})"
    return f"{output.codec} {spec}", unit


def _remaining(outputs: list[Output], elapsed: float) -> float | None:
    going = [o.progress for o in outputs if not o.failed]
    if not going:
        return None
    progress = sum(going) / len(going)
    if not 0 < progress < 100:
        return None
    return elapsed * (100 - progress) / progress / HOUR
