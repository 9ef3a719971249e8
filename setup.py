"""Build hooks: bake the git commit into the package (everything else is in pyproject.toml).

``build_py`` writes ``taskwatch/_build_info.py`` into the wheel's tree and ``sdist`` into the
sdist's, so ``taskwatch --version`` names the commit whether the wheel is built from the
checkout, from the sdist (no ``.git`` there) or in the container (``TASKWATCH_BUILD_COMMIT``).
The logic lives in ``taskwatch/buildinfo.py``, loaded here by path: building imports none of
taskwatch's dependencies. Nothing is written into the source tree.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent


def _buildinfo() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_taskwatch_buildinfo", ROOT / "taskwatch" / "buildinfo.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {ROOT / 'taskwatch' / 'buildinfo.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(package_dir: Path) -> None:
    info = _buildinfo()
    text = info.render(info.build_commit(ROOT))
    package_dir.mkdir(parents=True, exist_ok=True)
    target = package_dir / info.FILENAME
    target.unlink(missing_ok=True)  # an sdist's tree may hard-link the source's file: never edit it
    target.write_text(text, encoding="utf-8")


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            _write(Path(self.build_lib) / "taskwatch")


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _write(Path(base_dir) / "taskwatch")


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
