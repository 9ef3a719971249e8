"""``python -m taskwatch`` as a child process, started the way an operator starts it.

The child imports this checkout (``PYTHONPATH``) and never sees the Tencent Cloud credentials of
whoever runs the tests (every ``TENCENTCLOUD_*`` variable is dropped), so each test states the
credentials it means to use. One place for this, so that a rule about the child's environment is
written once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def child_env(*, drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """This process's environment without ``TENCENTCLOUD_*`` (and the ``drop`` prefixes), with
    this checkout importable and ``extra`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", *drop))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


async def spawn(
    *args: str, env: Mapping[str, str] | None = None, **kwargs: Any
) -> asyncio.subprocess.Process:
    """Start ``python -m taskwatch ARGS`` (``kwargs`` go to ``create_subprocess_exec``)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "taskwatch",
        *args,
        env=dict(env) if env is not None else child_env(),
        **kwargs,
    )
