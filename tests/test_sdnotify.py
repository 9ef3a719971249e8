"""The sd_notify sender against real AF_UNIX datagram sockets, and the watchdog loop."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from taskwatch.web.sdnotify import SystemdNotifier, status_summary, watchdog_loop


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "notify")
    sock.bind(address)
    sock.settimeout(5)
    yield sock, address
    sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"taskwatch-test-{uuid.uuid4().hex}"
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield sock, "@" + name
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_messages_reach_a_path_socket_one_datagram_each(
    path_socket: tuple[socket.socket, str],
) -> None:
    sock, address = path_socket
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready("1 source ok")
    assert received(sock) == ["READY=1", "STATUS=1 source ok"]
    assert notifier.status("polling")
    assert received(sock) == ["STATUS=polling"]
    assert notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    assert notifier.stopping()
    assert received(sock) == ["STOPPING=1"]


def test_an_at_sign_names_an_abstract_socket(
    abstract_socket: tuple[socket.socket, str],
) -> None:
    sock, address = abstract_socket
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    assert "@taskwatch-test-" in repr(notifier)


def test_reloading_carries_the_monotonic_clock_in_microseconds(
    path_socket: tuple[socket.socket, str],
) -> None:
    sock, address = path_socket
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": address})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    reloading, stamp = received(sock)
    assert reloading == "RELOADING=1"
    key, _, value = stamp.partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_a_status_is_kept_on_one_line(path_socket: tuple[socket.socket, str]) -> None:
    sock, address = path_socket
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": address})
    notifier.status("two\nlines\nREADY=1")
    assert received(sock) == ["STATUS=two lines READY=1"]


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    notifier = SystemdNotifier.from_env({"WATCHDOG_USEC": "2000000"})
    assert not notifier.enabled
    with structlog.testing.capture_logs() as logs:
        sent = [
            notifier.ready("x"),
            notifier.status("x"),
            notifier.watchdog(),
            notifier.reloading(),
            notifier.stopping(),
        ]
    assert sent == [False] * 5
    assert logs == []
    assert notifier.watchdog_interval() is None


def test_a_relative_or_unsupported_socket_address_disables_the_notifier() -> None:
    for raw in ("relative/path", "vsock:2:1234", "@"):
        with structlog.testing.capture_logs() as logs:
            notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": raw})
        assert not notifier.enabled
        assert not notifier.watchdog()
        assert [e["event"] for e in logs] == ["sdnotify.unsupported_socket"]


def test_a_vanished_socket_is_logged_once_at_warning_and_never_raises(tmp_path: Path) -> None:
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with structlog.testing.capture_logs() as logs:
        assert not notifier.watchdog()
        assert not notifier.watchdog()
        assert not notifier.stopping()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("sdnotify.send_failed", "warning"),
        ("sdnotify.send_failed", "debug"),
        ("sdnotify.send_failed", "debug"),
    ]
    assert logs[0]["fields"] == ["WATCHDOG"]
    assert logs[2]["fields"] == ["STOPPING"]


def test_a_full_receive_queue_drops_the_message_instead_of_blocking(
    path_socket: tuple[socket.socket, str],
) -> None:
    sock, address = path_socket
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": address})
    started = time.monotonic()
    with structlog.testing.capture_logs():
        sent = [notifier.status("x" * 1000) for _ in range(1000)]
    assert time.monotonic() - started < 5
    assert sent[0]
    assert not all(sent)


def test_watchdog_interval_is_watchdog_usec_in_seconds(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "s"), "WATCHDOG_USEC": "60000000"}
    assert SystemdNotifier.from_env(env).watchdog_interval() == 60.0
    env["WATCHDOG_USEC"] = "2500000"
    assert SystemdNotifier.from_env(env).watchdog_interval() == 2.5


def test_watchdog_pid_must_be_ours_for_the_watchdog_to_count(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "s"), "WATCHDOG_USEC": "2000000"}
    ours = SystemdNotifier.from_env({**env, "WATCHDOG_PID": str(os.getpid())})
    assert ours.watchdog_interval() == 2.0
    theirs = SystemdNotifier.from_env({**env, "WATCHDOG_PID": str(os.getpid() + 1)})
    assert theirs.watchdog_interval() is None
    assert theirs.enabled  # the other messages still go out
    assert SystemdNotifier.from_env({**env, "WATCHDOG_PID": "41"}, pid=41).watchdog_interval()


@pytest.mark.parametrize("raw", ["", "0", "-5", "soon", "1.5"])
def test_an_absent_or_malformed_watchdog_usec_means_no_watchdog(tmp_path: Path, raw: str) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "s"), "WATCHDOG_USEC": raw}
    with structlog.testing.capture_logs():
        assert SystemdNotifier.from_env(env).watchdog_interval() is None
    bad_pid = {**env, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "me"}
    with structlog.testing.capture_logs():
        assert SystemdNotifier.from_env(bad_pid).watchdog_interval() is None


class Recorder(SystemdNotifier):
    """Records what it would send."""

    def __init__(self) -> None:
        super().__init__("/nonexistent")
        self.sent: list[str] = []

    def send(self, *fields: str) -> bool:
        self.sent.extend(fields)
        return True


class Stop(Exception):
    pass


async def test_the_watchdog_pings_every_interval_only_while_healthy() -> None:
    notifier = Recorder()
    health = iter([True, True, False, False, False, True, True])
    pinged: list[bool] = []  # per round: was WATCHDOG=1 sent before the sleep?
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        pinged.append(notifier.sent == ["WATCHDOG=1"])
        notifier.sent.clear()
        if len(pinged) == 7:
            raise Stop

    with structlog.testing.capture_logs() as logs, pytest.raises(Stop):
        await watchdog_loop(notifier, healthy=lambda: next(health), interval=30.0, sleep=sleep)
    assert pinged == [True, True, False, False, False, True, True]
    assert set(sleeps) == {30.0}
    assert [e["event"] for e in logs] == ["sdnotify.watchdog_withheld", "sdnotify.watchdog_resumed"]


async def test_a_health_check_that_raises_withholds_the_ping() -> None:
    notifier = Recorder()
    rounds = 0

    def healthy() -> bool:
        raise RuntimeError("bug in the health check")

    async def sleep(_seconds: float) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            raise Stop

    with structlog.testing.capture_logs() as logs, pytest.raises(Stop):
        await watchdog_loop(notifier, healthy=healthy, interval=1.0, sleep=sleep)
    assert notifier.sent == []
    assert "sdnotify.health_check_crashed" in [e["event"] for e in logs]


async def test_the_watchdog_sends_real_datagrams(path_socket: tuple[socket.socket, str]) -> None:
    sock, address = path_socket
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": address})
    rounds = 0

    async def sleep(_seconds: float) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            raise Stop

    with pytest.raises(Stop):
        await watchdog_loop(notifier, healthy=lambda: True, interval=1.0, sleep=sleep)
    assert [received(sock), received(sock)] == [["WATCHDOG=1"], ["WATCHDOG=1"]]


async def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        await watchdog_loop(Recorder(), healthy=lambda: True, interval=0)


def test_the_status_summary_is_one_readable_line() -> None:
    assert (
        status_summary(ok=3, failing=1, active_tasks=1234, actions=2)
        == "3 sources ok, 1 failing; 1,234 active tasks; 2 actions in the last cycle"
    )
    assert (
        status_summary(ok=1, failing=0, active_tasks=1, actions=1)
        == "1 source ok, 0 failing; 1 active task; 1 action in the last cycle"
    )
