"""``--log-level``: a global option that works before or after the command, and that is obeyed
when it says ``warning`` (it used to be dropped: ``warning`` was also the default, so an explicit
``--log-level warning`` on ``run`` fell back to the configuration's level)."""

from __future__ import annotations

import pytest
import structlog

from taskwatch.cli.common import configure_logs as _configure_logs
from taskwatch.cli.main import _parser
from taskwatch.settings import parse_settings

ACCOUNTS = [{"name": "main", "credentials": {"from": "env"}, "regions": ["ap-guangzhou"]}]


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "error", "check-config", "-c", "x.yaml"],
        ["check-config", "-c", "x.yaml", "--log-level", "error"],
        ["run", "--log-level", "error", "-c", "x.yaml"],
    ],
)
def test_the_level_is_taken_before_or_after_the_command(argv: list[str]) -> None:
    assert _parser().parse_args(argv).log_level == "error"


def test_without_the_option_the_level_is_left_to_the_configuration() -> None:
    assert _parser().parse_args(["run", "-c", "x.yaml"]).log_level is None


def test_an_unknown_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["run", "-c", "x.yaml", "--log-level", "loud"])
    assert exit_.value.code == 2
    assert "invalid choice: 'loud'" in capsys.readouterr().err


def test_an_explicit_warning_overrides_a_configured_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = parse_settings(
        {"accounts": ACCOUNTS, "logging": {"level": "debug", "format": "json"}}, source="t.yaml"
    )
    try:
        _configure_logs(settings, "warning")
        log = structlog.get_logger("test")
        log.info("quiet.please")
        log.warning("loud.enough")
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    assert "loud.enough" in err
    assert "quiet.please" not in err
