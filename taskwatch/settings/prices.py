"""``prices``: the price table cost estimates are computed from.

Shape (every key optional)::

    prices:
      enabled: true            # false: no estimates at all
      shipped: true            # false: only the prices written here, none of the shipped ones
      currency: CNY
      specs: {SD: [null, 480], HD: [null, 720], FHD: [1920, 1080]}   # [long edge, short edge]
      mps:
        LiveStreamProcessTask: {per_hour: 1.2}
        WorkflowTask:
          per_output_minute: {H.264: {SD: 0.016, HD: 0.0325}, H.265: {SD: 0.08}}
          per_audio_minute: 0.0056
      dlc: {per_gb_scanned: 0.03, per_cu_hour: 0.35, public_engines: [public-engine],
            cu_per_size: {small: 1, medium: 2, large: 4, xlarge: 8}}
      live: {per_hour: 0.12}

The block is **deep-merged** over the shipped table (:mod:`taskwatch.catalog.prices`): a mapping
given here is merged key by key into the shipped one, any other value (a number, a list) replaces
it, and ``null`` removes the shipped entry (a removed price leaves its tasks unpriced). An
operator overriding one price keeps every other. ``shipped: false`` starts from a table without
prices (the spec bounds, the shared engine's name and the Spark sizes, which are definitions
rather than prices, stay). A currency other than the shipped table's needs ``shipped: false``, so
that no figure of another currency slips in.

Codec names are accepted as the API writes them (``h264``, ``h265``, ``av1``) and as people do
(``H.264``, ``HEVC``, ``AV1``) and kept in the API's spelling. Spec names are free (``SD``,
``8K``) but every priced spec must have bounds in ``specs``.

Not guaranteed: any figure is a bill; they are list prices for estimates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from taskwatch.catalog import mps as mps_catalog
from taskwatch.catalog import prices as facts
from taskwatch.settings.base import Section
from taskwatch.settings.values import _FLOAT, _INT, _Invalid

__all__ = ["DlcPrices", "LivePrices", "MpsTypePrice", "Prices", "shipped_table"]

_Price = Annotated[float, Field(ge=0), _FLOAT]
_Edge = Annotated[int, _INT]
_MAX_EDGE = 100_000
_Cu = Annotated[float, Field(gt=0), _FLOAT]


def _bounds(value: tuple[int | None, int]) -> tuple[int | None, int]:
    long, short = value
    for i, edge in enumerate(value):
        if edge is not None and not 0 < edge <= _MAX_EDGE:
            raise _Invalid(f"must be a number of pixels, 1 to {_MAX_EDGE}", i)
    if long is not None and long < short:
        raise ValueError("the long edge must be at least the short edge: write [long, short]")
    return value


SpecBounds = Annotated[tuple[_Edge | None, _Edge], AfterValidator(_bounds)]
"""``[long edge, short edge]`` in pixels, the largest an output of the spec has; ``null``: no
bound on the long edge."""


def _codecs(value: object, *at: str | int) -> object:
    """``value`` with its codec keys in the API's spelling; two keys naming one codec are an
    error naming the second."""
    if not isinstance(value, Mapping):
        return value
    out: dict[object, object] = {}
    written: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            return value  # pydantic reports the key's type
        codec = facts.normalise_codec(key)
        if not codec:
            raise _Invalid("is not a codec name (e.g. H.264, h265, AV1)", *at, key)
        if codec in written:
            raise _Invalid(f"names the same codec as {written[codec]!r}", *at, key)
        written[codec] = key
        out[codec] = item
    return out


class MpsTypePrice(Section):
    """How one MPS task type is billed: by running time, or by the minutes of its outputs."""

    per_hour: _Price | None = None
    """Per hour a task of this type runs (live stream processing)."""
    per_output_minute: Mapping[str, Mapping[str, _Price]] | None = None
    """Codec (``H.264``/``h264``, ``H.265``, ``AV1``) → output spec (a name of ``specs``) → price
    per minute of a video output."""
    per_audio_minute: _Price | None = None
    """Price per minute of an audio-only output."""

    @field_validator("per_output_minute", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        return _codecs(value)

    @model_validator(mode="after")
    def _one_way(self) -> MpsTypePrice:
        if self.per_hour is not None and (
            self.per_output_minute is not None or self.per_audio_minute is not None
        ):
            raise _Invalid(
                "give per_hour or output-minute prices, not both (null removes a shipped one)",
                "per_hour",
            )
        return self


class DlcPrices(Section):
    """DLC: data scanned on the shared (public) engine, CU time on a private one."""

    per_gb_scanned: _Price | None = None
    """Per GB (1024³ bytes) scanned by a task on a public engine."""
    per_cu_hour: _Price | None = None
    """Per CU-hour of a task on a private (pay-as-you-go) engine."""
    public_engines: tuple[str, ...] = facts.DLC_PUBLIC_ENGINES
    """``DataEngineName`` values billed by data scanned; any other engine is private."""
    cu_per_size: Mapping[str, _Cu] = dict(facts.DLC_CU_PER_SIZE)
    """CU of a Spark job's ``DriverSize``/``ExecutorSize`` (``m.`` sizes count as their plain
    size)."""


class LivePrices(Section):
    """Live pull-stream tasks: per running hour."""

    per_hour: _Price | None = None
    """Per hour a pull-stream task runs (inside its window, not paused)."""


class Prices(Section):
    """The whole price table; an absent price leaves those tasks without an estimate."""

    enabled: bool = True
    """``false``: no estimates at all (no cost metric, no cost rule can match)."""
    shipped: bool = True
    """``false``: the table is only what is written here (the shipped prices are not merged)."""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = facts.CURRENCY
    """ISO 4217 code of every price here; a metric label."""
    specs: Mapping[str, SpecBounds] = {
        name: (bound.long, bound.short) for name, bound in facts.MPS_SPECS.items()
    }
    """MPS output spec → ``[long edge, short edge]``: an output is priced at the smallest spec
    whose bounds contain it."""
    mps: Mapping[str, MpsTypePrice] = {}
    """MPS task type (the detail's spelling, e.g. ``WorkflowTask``) → how it is billed."""
    dlc: DlcPrices = DlcPrices()
    live: LivePrices = LivePrices()

    @model_validator(mode="before")
    @classmethod
    def _merge(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        given = _with_codecs(data)
        keep = given.get("shipped", True) is not False
        if keep and given.get("currency", facts.CURRENCY) != facts.CURRENCY:
            raise _Invalid(
                f"the shipped prices are in {facts.CURRENCY}: with another currency, set "
                "shipped: false and give every price",
                "currency",
            )
        return _merged(shipped_table(prices=keep), given)

    @model_validator(mode="after")
    def _check(self) -> Prices:
        for task_type, price in self.mps.items():
            if task_type not in mps_catalog.SPEC.types:
                known = ", ".join(mps_catalog.SPEC.types)
                raise _Invalid(f"is not an MPS task type (known: {known})", "mps", task_type)
            for codec, by_spec in (price.per_output_minute or {}).items():
                for spec in by_spec:
                    if spec not in self.specs:
                        raise _Invalid(
                            f"has no bounds in prices.specs (known: {', '.join(self.specs)})",
                            *("mps", task_type, "per_output_minute", codec, spec),
                        )
        return self


def _with_codecs(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with the codec keys of ``mps.*.per_output_minute`` normalised (before merging,
    so ``H.264`` given overrides the shipped ``h264``)."""
    out = dict(data)
    mps = out.get("mps")
    if isinstance(mps, Mapping):
        out["mps"] = {
            name: (
                {**entry, "per_output_minute": _codecs(minutes, "mps", name, "per_output_minute")}
                if isinstance(entry, Mapping)
                and isinstance(minutes := entry.get("per_output_minute"), Mapping)
                else entry
            )
            for name, entry in mps.items()
        }
    return out


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged into ``base``: mappings key by key, other values replace, ``None``
    removes."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def shipped_table(*, prices: bool = True) -> dict[str, Any]:
    """The shipped table in the configuration's shape (plain values); ``prices=False``: its
    definitions only (spec bounds, DLC engine names and sizes)."""
    table: dict[str, Any] = {
        "currency": facts.CURRENCY,
        "specs": {name: [b.long, b.short] for name, b in facts.MPS_SPECS.items()},
        "dlc": {
            "public_engines": list(facts.DLC_PUBLIC_ENGINES),
            "cu_per_size": dict(facts.DLC_CU_PER_SIZE),
        },
    }
    if not prices:
        return table
    mps: dict[str, dict[str, Any]] = {
        t: {"per_hour": f.value} for t, f in facts.MPS_PER_HOUR.items()
    }
    for task_type in facts.MPS_TRANSCODE_TYPES:
        mps[task_type] = {
            "per_output_minute": {
                codec: {spec: fact.value for spec, fact in by_spec.items()}
                for codec, by_spec in facts.MPS_PER_OUTPUT_MINUTE.items()
            },
            "per_audio_minute": facts.MPS_PER_AUDIO_MINUTE.value,
        }
    table["mps"] = mps
    for key, fact in (
        ("per_gb_scanned", facts.DLC_PER_GB_SCANNED),
        ("per_cu_hour", facts.DLC_PER_CU_HOUR),
    ):
        if fact is not None:
            table["dlc"][key] = fact.value
    if facts.LIVE_PER_HOUR is not None:
        table["live"] = {"per_hour": facts.LIVE_PER_HOUR.value}
    return table
