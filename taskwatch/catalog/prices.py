"""The shipped price table: Tencent Cloud's public list prices, with where and when each was read.

Every figure is an **estimate input, not a bill**: pay-as-you-go list prices of the mainland
China site (CNY) before discounts, resource packs, contracts and free tiers. The configuration's
``prices:`` block is merged over them (:mod:`taskwatch.settings.prices`); ``config/prices/``
holds the same table as YAML, generated from this module (a test keeps them equal).

Where the price pages say nothing, the table says nothing: those tasks have no estimate
("unpriced") until an operator writes a price (MPS ``LiveStreamProcessTask`` and
``EditMediaTask``, AV1 outputs, outputs above 4K). The few figures that are not a vendor's price
but a reading of the API are marked ``[inferred]`` in their note.

Not guaranteed: that a price is current. Each :class:`PriceFact` says the page, the date the page
itself gives (when it shows one) and the date it was read; prices change without notice, and a
stored copy of a page may be older than the live page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CURRENCY",
    "DLC_CU_PER_SIZE",
    "DLC_PER_CU_HOUR",
    "DLC_PER_GB_SCANNED",
    "DLC_PUBLIC_ENGINES",
    "LIVE_PER_HOUR",
    "MPS_PER_AUDIO_MINUTE",
    "MPS_PER_HOUR",
    "MPS_PER_OUTPUT_MINUTE",
    "MPS_SPECS",
    "MPS_TRANSCODE_TYPES",
    "READ_ON",
    "PriceFact",
    "SpecBound",
    "normalise_codec",
]

CURRENCY = "CNY"
"""The currency of the shipped table (the mainland China site's list prices)."""
READ_ON = "2026-12-04"
"""When the research for this table read its sources."""


@dataclass(frozen=True, slots=True)
class PriceFact:
    """One list price: its value in :data:`CURRENCY` per ``unit``, and its provenance."""

    value: float
    unit: str
    source: str
    """The public page the value was read from."""
    read_on: str
    """The date (``YYYY-MM-DD``) it was read."""
    note: str = ""
    page_updated: str | None = None
    """The page's own "last updated" date, when it shows one."""


@dataclass(frozen=True, slots=True)
class SpecBound:
    """An output spec: the largest (long edge, short edge) it covers; ``None``: no bound."""

    long: int | None
    short: int
    note: str = ""


# --- MPS ---------------------------------------------------------------------------------------

MPS_PRICE_PAGE = "https://cloud.tencent.com/document/product/862/36180"
_MPS_UPDATED = "2022-05-25"
_MPS_NOTE = "普通转码 (standard transcoding), per minute of output; the page lists no AV1 and no 8K"


def _mps(value: float, quote: str) -> PriceFact:
    return PriceFact(
        value, "per output minute", MPS_PRICE_PAGE, READ_ON, f'{_MPS_NOTE}: "{quote}"', _MPS_UPDATED
    )


MPS_SPECS: Mapping[str, SpecBound] = MappingProxyType(
    {
        name: SpecBound(None, short, "MPS defines its specs by the short edge only (862/36180)")
        for name, short in (("SD", 480), ("HD", 720), ("FHD", 1080), ("2K", 1440), ("4K", 2160))
    }
)
"""Output spec → its bounds, smallest first: SD ≤ 480 px short edge, HD ≤ 720, FHD ≤ 1080,
2K ≤ 1440, 4K ≤ 2160 (862/36180; no long-edge bound on any MPS page read)."""

MPS_PER_OUTPUT_MINUTE: Mapping[str, Mapping[str, PriceFact]] = MappingProxyType(
    {
        "h264": MappingProxyType(
            {
                "SD": _mps(0.016, "H.264 标清 SD(短边 ≤ 480px) 0.016"),
                "HD": _mps(0.0325, "H.264 高清 HD(短边 ≤ 720px) 0.0325"),
                "FHD": _mps(0.063, "H.264 全高清 FHD(短边 ≤ 1080px) 0.063"),
                "2K": _mps(0.136, "H.264 2K(短边 ≤ 1440px) 0.136"),
                "4K": _mps(0.278, "H.264 4K(短边 ≤ 2160px) 0.278"),
            }
        ),
        "h265": MappingProxyType(
            {
                "SD": _mps(0.08, "H.265 标清 SD(短边 ≤ 480px) 0.08"),
                "HD": _mps(0.156, "H.265 高清 HD(短边 ≤ 720px) 0.156"),
                "FHD": _mps(0.3112, "H.265 全高清 FHD(短边 ≤ 1080px) 0.3112"),
                "2K": _mps(0.6703, "H.265 2K(短边 ≤ 1440px) 0.6703"),
                "4K": _mps(1.3406, "H.265 4K(短边 ≤ 2160px) 1.3406"),
            }
        ),
    }
)
"""Standard transcoding: codec (as :func:`normalise_codec` spells it) → spec → price per output
minute. Top-speed codec (极速高清, TSC) outputs cost 3 to 4 times as much and are not told apart
by the task's fields: they are estimated at these prices."""

MPS_PER_AUDIO_MINUTE = _mps(0.0056, "音频转码 - 0.0056")
"""An audio-only output, per output minute."""

MPS_TRANSCODE_TYPES: tuple[str, ...] = ("WorkflowTask", "ScheduleTask")
"""The MPS types whose transcoding outputs the shipped table prices (a scheme's transcode
activities are transcoding outputs too). ``EditMediaTask`` is left out: no page read lists a
price for editing."""

MPS_PER_HOUR: Mapping[str, PriceFact] = MappingProxyType({})
"""MPS types billed by running time. Empty: no MPS billing page read lists live stream
processing (``LiveStreamProcessTask``: recognition or review of a live stream); such tasks are
unpriced until the configuration gives ``mps.LiveStreamProcessTask.per_hour``."""


# --- DLC ---------------------------------------------------------------------------------------

DLC_PRICE_PAGE = "https://cloud.tencent.com/document/product/1342/50371"
_DLC_SOURCE = (
    "read in its doc source, github.com/tencentyun/qcloud-documents "
    "product/大数据与AI/数据湖计算/计费概述.md at commit 319644d05e01c3040d682feecd105245ebd558c8"
)

DLC_PER_GB_SCANNED: PriceFact | None = PriceFact(
    0.03,
    "per GB scanned",
    DLC_PRICE_PAGE,
    READ_ON,
    f'共享引擎 public-engine: "按数据扫描量计费 0.03" (元/GB); {_DLC_SOURCE}. Failed queries are '
    "not billed; a query scanning under 34 MB is billed as 34 MB (the estimate ignores that "
    "minimum). GB read as 1024³ bytes [inferred].",
)
DLC_PER_CU_HOUR: PriceFact | None = PriceFact(
    0.35,
    "per CU-hour",
    DLC_PRICE_PAGE,
    READ_ON,
    f'独享引擎 pay-as-you-go: "北京 150 0.35" (元/CU/时; same in 南京, 广州, 上海); {_DLC_SOURCE}. '
    "The engine is billed, not the task: a task's share is its CU time [inferred].",
)
DLC_PUBLIC_ENGINES: tuple[str, ...] = ("public-engine",)
"""``DataEngineName`` of the shared engine [inferred: the name the billing page gives it]."""
DLC_CU_PER_SIZE: Mapping[str, float] = MappingProxyType(
    {"small": 1.0, "medium": 2.0, "large": 4.0, "xlarge": 8.0}
)
"""CU of a Spark job's ``DriverSize``/``ExecutorSize`` [inferred: no page read gives them; the
memory types ``m.small`` … count as their plain size]."""


# --- Live --------------------------------------------------------------------------------------

LIVE_PER_HOUR: PriceFact | None = PriceFact(
    0.12,
    "per running hour",
    "https://github.com/tencentyun/qcloud-documents/blob/3e2f7be8f218f816dd0c3631c38d05ea8bd6c51f/"
    "product/视频服务/直播/购买指南/增值服务/拉流转推.md",
    READ_ON,
    '拉流转推任务时长 (pull-stream relay task time): "拉流转推任务时长 0.002" (元/分钟) x 60; the '
    "doc source of the China site (its page address was not found); the international page "
    "267/41059 gives 0.00032 USD/min. Paused or expired tasks are not billed; bandwidth to "
    "third-party addresses is billed apart and not estimated.",
)


# --- codec names -------------------------------------------------------------------------------

_ALIASES = {"avc": "h264", "x264": "h264", "hevc": "h265", "x265": "h265", "vvc": "h266"}
_NOT_NAME = re.compile(r"[^a-z0-9]")


def normalise_codec(name: str) -> str:
    """One spelling per codec, the API's: ``H.264``, ``h264``, ``AVC`` → ``h264``; ``H.265``,
    ``HEVC`` → ``h265``; ``AV1`` → ``av1``. Other names: lower case without punctuation."""
    plain = _NOT_NAME.sub("", name.strip().lower())
    return _ALIASES.get(plain, plain)
