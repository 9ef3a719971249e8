"""taskwatch: watches Tencent Cloud MPS, DLC and Live tasks and stops runaway ones, safely."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taskwatch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
