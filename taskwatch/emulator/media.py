"""What an MPS task processes and produces: its input media and its transcode outputs.

These are the facts a cost estimate reads from ``DescribeTaskDetail`` (``MetaData``, and per
Transcode result its ``Progress`` and ``Output``), set per task by the scenario keys ``media`` and
``outputs`` (:mod:`taskwatch.emulator.scenario_media`) and rendered on the wire by
:mod:`taskwatch.emulator.mps_media`. Pure data and arithmetic: no clock, no world.

[inferred] What the reference leaves open, the emulator decides here: codecs are written in lower
case as the media probe reports them (``h264``, ``h265``, ``av1``); bitrates follow the pixel
rate (0.1085 bits per pixel at 25 fps for H.264, so 1280x720 is 2.5 Mbit/s, less for the newer
codecs); the default ``Definition`` of an H.264 output is the MPS preset MP4 template of its
short edge (100010, 100020, 100030, 100040, 100070, 100080 for up to 360, 540, 720, 1080, 1440
lines and above, as the preset template page lists them); MPS has no preset for the other codecs,
so the emulator numbers their (custom) templates as that preset plus 100000 times the codec's
place in :data:`CODECS` (an H.265 1080p output is 200040).

Not modelled: audio-only outputs, frame rates other than 25, containers other than MP4.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AUDIO_BITRATE",
    "CODECS",
    "DEFAULT_MEDIA",
    "DEFAULT_OUTPUT",
    "FPS",
    "Media",
    "Output",
    "bitrate",
    "definition_for",
]

CODECS = ("h264", "h265", "h266", "av1", "vp8", "vp9")
"""The video codecs a scenario may name, spelled as ``VideoStreamSet[].Codec`` reports them."""
FPS = 25
AUDIO_BITRATE = 128_000
_BITS_PER_PIXEL = 0.1085
_CODEC_EFFICIENCY = {"h264": 1.0, "h265": 0.6, "h266": 0.45, "av1": 0.5, "vp8": 1.1, "vp9": 0.65}
_PRESETS = ((360, 100010), (540, 100020), (720, 100030), (1080, 100040), (1440, 100070))
_LARGER_PRESET = 100080


@dataclass(frozen=True, slots=True)
class Media:
    """A video file as the MPS probe reports it: length in seconds, frame size, video codec."""

    duration: float = 120.0
    width: int = 1920
    height: int = 1080
    codec: str = "h264"


@dataclass(frozen=True, slots=True)
class Output:
    """One transcode output: its codec and frame size, its template id (``None``: the preset of
    its short edge) and ``done_at``, the share of the task's processing time after which it is
    written (1: when the task finishes)."""

    codec: str = "h264"
    width: int = 1280
    height: int = 720
    definition: int | None = None
    done_at: float = 1.0

    @property
    def template(self) -> int:
        """The ``Definition`` the API reports for this output."""
        return self.definition if self.definition is not None else definition_for(self)


DEFAULT_MEDIA = Media()
DEFAULT_OUTPUT = Output()
"""One 720p H.264 rendition: what a workflow or schedule task produces unless told otherwise."""


def definition_for(output: Output) -> int:
    """The template id of an output: the H.264 preset of its short edge, offset per codec."""
    short = min(output.width, output.height)
    preset = next((template for lines, template in _PRESETS if short <= lines), _LARGER_PRESET)
    offset = CODECS.index(output.codec) if output.codec in CODECS else 0
    return preset + 100_000 * offset


def bitrate(width: int, height: int, codec: str) -> int:
    """Bits per second of a file (its video and one AAC audio stream), to the kilobit."""
    bits = width * height * FPS * _BITS_PER_PIXEL * _CODEC_EFFICIENCY.get(codec, 1.0)
    return round(bits / 1000) * 1000
