"""Suite-wide: the slow opt-in, and the secret canary's log capture and final check.

Slow tests (``@pytest.mark.slow``: the long forms of tests/reliability) are skipped unless
``--run-slow`` is given or ``TASKWATCH_SLOW=1`` is set; CI runs ``pytest`` as is and gets the short
forms only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import structlog

from tests import canary_check


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run @pytest.mark.slow tests (the long reliability forms); or TASKWATCH_SLOW=1",
    )


def slow_enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--run-slow")) or os.environ.get("TASKWATCH_SLOW") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if slow_enabled(config):
        os.environ["TASKWATCH_SLOW"] = "1"  # the fuzz tests read it for their example counts
    canary_check.install()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if slow_enabled(config):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or TASKWATCH_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        canary_check.add_root(factory.getbasetemp())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    canary_check.scan_sections(report.nodeid, report.sections)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = canary_check.leaks()
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "\n".join(f"  {where}" for where in leaks)
        if reporter is not None:
            reporter.write_line(f"SECRET CANARY LEAKED in:\n{text}", red=True, bold=True)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each test leaves structlog and the root logger as it found them: a test that silences
    logging (tests/bench's ``quiet()``) must not hide the log lines of every later test from
    their own assertions and from the canary check."""
    saved = structlog.get_config()
    level = logging.getLogger().level
    yield
    structlog.configure(**saved)
    logging.getLogger().setLevel(level)
