"""deploy/systemd: the unit passes systemd's own checks, and the daemon speaks sd_notify.

* ``systemd-analyze verify`` must print nothing on stderr: an unknown key or a typo gives rc 0 and
  only a warning there. The unit's ``ExecStart=`` binary must exist on the machine running verify,
  so the test verifies a copy whose ``ExecStart=`` runs this interpreter.
* ``systemd-analyze security --offline=yes`` must rate the unit at most :data:`EXPOSURE_THRESHOLD`
  (measured 1.1 "OK" on systemd 252). Both checks also run on the unit with its commented
  PostgreSQL hints (``Wants=``/``After=postgresql.service``, the password's ``LoadCredential=``)
  switched on.
* The example configuration loads as systemd runs it; its PostgreSQL variant is checked in
  test_systemd_postgresql.py.
* The notify harness runs ``taskwatch run`` with the shipped configuration against the emulator,
  with the environment systemd would give it (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``,
  ``CREDENTIALS_DIRECTORY``, ``STATE_DIRECTORY``), reads the datagrams on an AF_UNIX socket and
  expects ``READY=1``, then ``WATCHDOG=1``, then ``STOPPING=1`` after SIGTERM. It needs no
  systemd at all.

A missing ``systemd-analyze`` fails under ``CI=true`` and skips elsewhere (tests.components).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from taskwatch.settings import load_settings
from tests.components import require_binary
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.emulator.harness import SECRET_ID, SECRET_KEY, running_emulator
from tests.processes import child_env, spawn

ROOT = Path(__file__).parent.parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "taskwatch.service"
CONFIG = SYSTEMD / "taskwatch.yaml.example"
ENV_FILE = SYSTEMD / "taskwatch.env.example"

EXPOSURE_THRESHOLD = 1.5
"""``systemd-analyze security`` rates 0 (locked down) to 10 (exposed); <= 2.0 reads "OK". Its
``--threshold=`` counts tenths (an integer, 0 to 100): 1.5 is ``--threshold=15``."""

READY_TIMEOUT = 60.0
"""Seconds for the first cycle of every source: up to 6 s of start jitter with the shipped
intervals, plus the interpreter's start-up."""
WATCHDOG_USEC = 2_000_000
"""What the harness announces: the daemon should then ping about every second."""


def unit_directives(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file, in order per key (sections are not told apart)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def verifiable_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit under its own name in ``tmp_path``, with ``ExecStart=`` running this Python
    (``/usr/local/bin/taskwatch`` does not exist here); every other line is unchanged."""
    text = UNIT.read_text() if text is None else text
    exec_start = (
        f"ExecStart={sys.executable} -m taskwatch run --config /etc/taskwatch/taskwatch.yaml"
    )
    rewritten, count = re.subn(r"(?m)^ExecStart=.*$", lambda _: exec_start, text)
    assert count == 1
    path = tmp_path / "taskwatch.service"
    path.write_text(rewritten)
    return path


def with_postgresql_hints(text: str) -> str:
    """The unit with its commented PostgreSQL lines switched on, as README.md tells one to."""
    on, count = re.subn(
        r"(?m)^#((?:Wants|After)=postgresql\.service|LoadCredential=postgres_password:.*)$",
        r"\1",
        text,
    )
    assert count == 3, "the unit's PostgreSQL hints changed: update README.md and this test"
    return on


UNITS = {"as shipped": lambda text: text, "with the postgresql hints": with_postgresql_hints}


def systemd_analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary("systemd-analyze", "systemd")
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


# --- the unit file -------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_systemd_analyze_verify_accepts_the_unit_without_a_word_on_stderr(
    tmp_path: Path, unit: str
) -> None:
    text = UNITS[unit](UNIT.read_text())
    done = systemd_analyze("verify", str(verifiable_copy(tmp_path, text)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_the_verify_check_catches_a_typo_that_systemd_only_warns_about(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("Restart=on-failure", "Restrat=on-failure")
    done = systemd_analyze("verify", str(verifiable_copy(tmp_path, text)), cwd=tmp_path)
    assert done.returncode == 0  # why rc alone is not enough
    assert "Unknown key 'Restrat'" in done.stderr


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_systemd_analyze_security_rates_the_unit_under_the_threshold(
    tmp_path: Path, unit: str
) -> None:
    done = systemd_analyze(
        "security",
        "--offline=yes",
        f"--threshold={round(EXPOSURE_THRESHOLD * 10)}",
        "--no-pager",
        str(verifiable_copy(tmp_path, UNITS[unit](UNIT.read_text()))),
        cwd=tmp_path,
    )
    overall = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", done.stdout)
    assert overall is not None, done.stdout + done.stderr
    exposure = float(overall.group(1))
    exposed = [line for line in done.stdout.splitlines() if line.startswith("✗")]
    assert done.returncode == 0, f"exposure {exposure} > {EXPOSURE_THRESHOLD}:\n" + "\n".join(
        exposed
    )
    assert exposure <= EXPOSURE_THRESHOLD
    assert overall.group(2) == "OK"


def test_the_unit_asks_systemd_for_what_the_daemon_relies_on() -> None:
    unit = unit_directives(UNIT.read_text())
    single = {key: values[-1] for key, values in unit.items()}
    assert single["Type"] == "notify"
    assert single["Restart"] == "on-failure"
    assert single["WatchdogSec"] == "60s"
    assert single["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert single["DynamicUser"] == "yes"
    assert single["CapabilityBoundingSet"] == ""
    assert single["EnvironmentFile"] == "-/etc/default/taskwatch"
    # The daemon exits 2 on a bad configuration: restarting cannot fix that.
    assert single["RestartPreventExitStatus"] == "2"
    # ExecStart reads its config from the ConfigurationDirectory.
    argv = shlex.split(single["ExecStart"])
    assert argv[:2] == ["/usr/local/bin/taskwatch", "run"]
    assert (
        Path(argv[argv.index("--config") + 1]).parent
        == Path("/etc") / single["ConfigurationDirectory"]
    )


def test_credentials_are_loaded_under_the_names_the_directory_reader_expects() -> None:
    unit = unit_directives(UNIT.read_text())
    loaded = dict(value.split(":", 1) for value in unit["LoadCredential"])
    assert set(loaded) == {"secret_id", "secret_key"}
    for name, source in loaded.items():
        assert source == f"/etc/taskwatch/credentials/{name}"


def test_the_example_config_is_valid_and_keeps_its_state_in_the_state_directory() -> None:
    unit = unit_directives(UNIT.read_text())
    state_dir = Path("/var/lib") / unit["StateDirectory"][-1]
    # As systemd runs it: STATE_DIRECTORY set, CREDENTIALS_DIRECTORY set, no env file.
    environ = {"STATE_DIRECTORY": str(state_dir), "CREDENTIALS_DIRECTORY": "/run/credentials/x"}
    settings = load_settings(CONFIG, environ=environ)
    assert Path(settings.state.path) == state_dir / "state.db"
    assert unit["WorkingDirectory"][-1] == str(state_dir)
    assert settings.accounts[0].credentials.to_spec() == {"from": "directory"}
    assert settings.accounts[0].endpoint is None
    assert settings.http.listen == "127.0.0.1:10911"
    assert not settings.actions.paused
    # And without STATE_DIRECTORY (taskwatch run by hand as root), the same file.
    assert Path(load_settings(CONFIG, environ={}).state.path) == state_dir / "state.db"


def test_every_variable_of_the_env_file_example_is_used_by_a_config() -> None:
    """As ``${NAME...}``, or named by ``password_env:`` (read when the journal connects)."""
    names = set(re.findall(r"(?m)^#?\s*(TASKWATCH_[A-Z_]+)=", ENV_FILE.read_text()))
    assert names
    configs = CONFIG.read_text() + (ROOT / "config" / "taskwatch.example.yaml").read_text()
    named = set(re.findall(r"password_env: ([A-Z_]+)", configs))
    assert {n for n in names if "${" + n not in configs and n not in named} == set()


def test_the_env_file_example_overrides_the_example_config() -> None:
    environ = {
        "TASKWATCH_ENDPOINT": "http://127.0.0.1:9460",
        "TASKWATCH_LOG_LEVEL": "debug",
        "TASKWATCH_LISTEN": "0.0.0.0:10911",
        "TASKWATCH_PAUSED": "true",
    }
    settings = load_settings(CONFIG, environ=environ)
    assert settings.accounts[0].endpoint == "http://127.0.0.1:9460"
    assert settings.logging.level == "debug"
    assert settings.http.listen == "0.0.0.0:10911"
    assert settings.actions.paused


# --- the notify protocol, end to end -------------------------------------------------------------


@dataclass
class NotifyListener:
    """The service manager's side: an AF_UNIX datagram socket collecting every line sent."""

    sock: socket.socket
    lines: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, 65536)
            self.lines.extend(data.decode().splitlines())
            self.arrived.set()

    def drain(self) -> None:
        """What is still queued, once the daemon has exited."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            self.lines.extend(data.decode().splitlines())


@dataclass
class Daemon:
    process: asyncio.subprocess.Process
    notify: NotifyListener
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def wait_until(
        self,
        what: str,
        condition: Callable[[list[str]], bool],
        timeout: float,  # noqa: ASYNC109 - a bound on another process's progress
    ) -> None:
        """Until ``condition(lines)`` holds; fails with what arrived and the daemon's log tail
        when the daemon exits or ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        exited = asyncio.ensure_future(self.process.wait())
        try:
            while not condition(self.notify.lines):
                remaining = deadline - loop.time()
                if exited.done() or remaining <= 0:
                    state = f"exited {self.process.returncode}" if exited.done() else "running"
                    raise AssertionError(
                        f"no {what} within {timeout} s (daemon {state}); "
                        f"notifications: {self.notify.lines}\nlog:\n{self.log_tail()}"
                    )
                self.notify.arrived.clear()
                arrived = asyncio.ensure_future(self.notify.arrived.wait())
                await asyncio.wait(
                    {arrived, exited}, timeout=remaining, return_when="FIRST_COMPLETED"
                )
                arrived.cancel()
        finally:
            if not exited.done():
                exited.cancel()

    async def stop(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no exit {timeout} s after SIGTERM:\n{self.log_tail()}") from None


@contextlib.asynccontextmanager
async def daemon_under_notify(tmp_path: Path) -> AsyncIterator[Daemon]:
    """``taskwatch run`` with the shipped config, against an emulator, as systemd would start
    it: notify socket, watchdog, credentials directory, state directory."""
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "secret_id").write_text(SECRET_ID)
    (credentials / "secret_key").write_text(SECRET_KEY)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    listener = NotifyListener(sock)
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        env = child_env(drop=("TASKWATCH_",))
        env.pop("WATCHDOG_PID", None)
        env.update(
            PYTHONFAULTHANDLER="1",
            NOTIFY_SOCKET=str(tmp_path / "notify"),
            WATCHDOG_USEC=str(WATCHDOG_USEC),
            CREDENTIALS_DIRECTORY=str(credentials),
            STATE_DIRECTORY=str(state),
            TASKWATCH_ENDPOINT=emu.url,
            TASKWATCH_LISTEN="127.0.0.1:0",
            TASKWATCH_LOG_LEVEL="info",
        )
        log_path = tmp_path / "daemon.log"
        with log_path.open("wb") as log:
            process = await spawn(
                "run",
                "--config",
                str(CONFIG),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=state,
            )
        listen = asyncio.ensure_future(listener.run())
        try:
            yield Daemon(process, listener, log_path)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            listen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listen
            listener.drain()
            sock.close()


def ready_then_watchdog(lines: list[str]) -> bool:
    return "READY=1" in lines and "WATCHDOG=1" in lines[lines.index("READY=1") :]


async def test_the_daemon_reports_ready_then_pings_the_watchdog_then_stopping(
    tmp_path: Path,
) -> None:
    async with daemon_under_notify(tmp_path) as daemon:
        await daemon.wait_until("READY=1 then WATCHDOG=1", ready_then_watchdog, READY_TIMEOUT)
        code = await daemon.stop()
        daemon.notify.drain()
    lines = daemon.notify.lines
    assert code == 0, daemon.log_tail()
    ready = lines.index("READY=1")
    watchdog = lines.index("WATCHDOG=1", ready)
    assert "STOPPING=1" in lines[watchdog:], lines
    stopping = lines.index("STOPPING=1", watchdog)
    assert "READY=1" not in lines[stopping:], lines
    statuses = [line for line in lines if line.startswith("STATUS=")]
    assert statuses, lines
    assert all(len(s) > len("STATUS=") for s in statuses), statuses
    assert SECRET_KEY not in daemon.log.read_text(errors="replace")


async def test_a_reload_is_announced_and_followed_by_ready_again(tmp_path: Path) -> None:
    async with daemon_under_notify(tmp_path) as daemon:
        await daemon.wait_until("READY=1", lambda lines: "READY=1" in lines, READY_TIMEOUT)
        seen = len(daemon.notify.lines)
        daemon.process.send_signal(signal.SIGHUP)  # what ExecReload= does

        def reloaded(lines: list[str]) -> bool:
            after = lines[seen:]
            return "RELOADING=1" in after and "READY=1" in after[after.index("RELOADING=1") :]

        await daemon.wait_until("RELOADING=1 then READY=1", reloaded, 30.0)
        assert daemon.process.returncode is None, daemon.log_tail()
        assert await daemon.stop() == 0, daemon.log_tail()
    after = daemon.notify.lines[seen:]
    reloading = after.index("RELOADING=1")
    assert after[reloading + 1].startswith("MONOTONIC_USEC="), after
