"""The ``metrics`` section: the buckets of taskwatch's histograms, per histogram.

Today's buckets (:data:`taskwatch.metrics.registry.DEFAULT_BUCKETS`) suit transcodes of minutes
and queries of hours; a site whose tasks all take seconds, or whose API answers from far away,
may want finer ones where its values fall. Only taskwatch's own histograms can be named (a typo
is an error, not a silently ignored key); each list is positive, strictly increasing and at most
:data:`MAX_BUCKETS` long (each bucket is one more series per label set). ``+Inf`` is always added
by the client library and must not be given.

The buckets are fixed when the registry is built, at start: a change needs a restart (a reload
logs ``config.restart_needed`` with ``key=metrics``), since Prometheus cannot mix two bucket
layouts of one series anyway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated

from pydantic import model_validator

from taskwatch.settings.base import Section
from taskwatch.settings.values import _FLOAT, _Invalid

__all__ = ["HISTOGRAMS", "MAX_BUCKETS", "MetricsSettings"]

HISTOGRAMS = frozenset(
    {
        "taskwatch_task_duration_seconds",
        "taskwatch_task_queue_wait_seconds",
        "taskwatch_api_request_duration_seconds",
        "taskwatch_ratelimit_wait_seconds",
        "taskwatch_scan_duration_seconds",
    }
)
"""The histograms whose buckets may be set (the registry checks it builds exactly these)."""
MAX_BUCKETS = 30


class MetricsSettings(Section):
    """``metrics``: histogram buckets by histogram name; an absent name keeps its defaults."""

    buckets: Mapping[str, tuple[Annotated[float, _FLOAT], ...]] = {}

    @model_validator(mode="after")
    def _valid_buckets(self) -> MetricsSettings:
        for name, bounds in self.buckets.items():
            if name not in HISTOGRAMS:
                raise _Invalid(f"unknown histogram; one of {sorted(HISTOGRAMS)}", "buckets", name)
            if not bounds:
                raise _Invalid("must list at least one bucket", "buckets", name)
            if len(bounds) > MAX_BUCKETS:
                raise _Invalid(f"at most {MAX_BUCKETS} buckets", "buckets", name)
            for i, bound in enumerate(bounds):
                if not math.isfinite(bound) or bound <= 0:
                    raise _Invalid("must be a positive finite number", "buckets", name, i)
                if i and bound <= bounds[i - 1]:
                    raise _Invalid("must be above the bucket before it", "buckets", name, i)
        return self
