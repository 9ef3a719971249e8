"""The systemd notification protocol (``Type=notify``): readiness, status, watchdog, reload, stop.

Why our own sender: the protocol is one datagram of ``KEY=value`` lines sent to the AF_UNIX socket
named by ``$NOTIFY_SOCKET`` (an ``@`` prefix names an abstract socket). The stdlib does it in a few
lines, and unlike the ``sdnotify`` package we report failures instead of swallowing them silently.

What the daemon tells the service manager:

* ``READY=1`` (with a ``STATUS=``) once it does its job, i.e. after the first cycle where every
  source succeeded; again after a reload has finished.
* ``STATUS=`` a one-line summary after each round (:func:`status_summary` formats one).
* ``WATCHDOG=1`` from :func:`watchdog_loop`, every half of ``$WATCHDOG_USEC``, but only while the
  scheduler's own heartbeats are on time. A wedged loop, or a blocked event loop, stops the pings
  and systemd restarts the service (``WatchdogSec=``); a merely slow API does not, as the
  heartbeats allow a cycle its full timeout.
* ``RELOADING=1`` with ``MONOTONIC_USEC=`` (systemd >= 253 requires it for ``Type=notify-reload``;
  older versions ignore the extra field), followed by ``READY=1`` when the reload is done.
* ``STOPPING=1`` when a stop begins.

Without ``$NOTIFY_SOCKET`` (not under systemd, or ``Type=simple``) every call is a no-op.

Not guaranteed:

* Delivery. Sending never raises and never blocks the event loop: a failure (the socket vanished,
  the manager's queue is full) is logged once at warning, later ones at debug, and the message is
  lost. A lost ``WATCHDOG=1`` is resent on the next ping; a lost ``READY=1`` leaves the unit
  "activating" until ``TimeoutStartSec=``.
* That systemd acts on anything: ``NotifyAccess=``, ``WatchdogSec=`` and the unit type decide.
* ``vsock:`` notify addresses (systemd >= 254, virtual machines) are not supported: the notifier
  logs that once and stays silent.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import anyio
import structlog

log = structlog.get_logger(__name__)

ENV_SOCKET: Final = "NOTIFY_SOCKET"
ENV_WATCHDOG_USEC: Final = "WATCHDOG_USEC"
ENV_WATCHDOG_PID: Final = "WATCHDOG_PID"


def _one_line(text: str) -> str:
    """``STATUS=`` is one line: a newline would start another (possibly meaningful) field."""
    return " ".join(text.split())


def _address(raw: str) -> str | None:
    """The ``sendto`` address of ``$NOTIFY_SOCKET``, or None when it is not one we can use."""
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None


def _watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    """``$WATCHDOG_USEC`` as a positive integer, if it is meant for process ``pid``."""
    raw = environ.get(ENV_WATCHDOG_USEC, "").strip()
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("sdnotify.bad_watchdog_usec", value=raw)
        return None
    if usec <= 0:
        return None
    owner = environ.get(ENV_WATCHDOG_PID, "").strip()
    if owner:
        try:
            if int(owner) != pid:
                return None  # the watchdog is another process's business (e.g. our parent's)
        except ValueError:
            log.warning("sdnotify.bad_watchdog_pid", value=owner)
            return None
    return usec


class SystemdNotifier:
    """Sends ``sd_notify`` messages to one socket; does nothing when it has none.

    Build it with :meth:`from_env`. Every method returns whether the datagram was handed to the
    kernel (always False for the no-op notifier) and never raises.
    """

    __slots__ = ("_address", "_warned", "_watchdog_usec")

    def __init__(self, address: str | None = None, *, watchdog_usec: int | None = None) -> None:
        """``address``: a filesystem path, an abstract name starting with NUL, or None (no-op).
        ``watchdog_usec``: the watchdog timeout systemd announced, if it is meant for us."""
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._warned = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] = os.environ, *, pid: int | None = None
    ) -> SystemdNotifier:
        """A notifier bound to ``$NOTIFY_SOCKET`` (``@name`` is abstract), or a no-op one.

        ``$WATCHDOG_USEC`` counts only if ``$WATCHDOG_PID`` is unset or equals ``pid`` (default:
        this process): a child of a notified process must not take its parent's watchdog.
        """
        raw = environ.get(ENV_SOCKET, "")
        address = _address(raw) if raw else None
        if raw and address is None:
            log.warning("sdnotify.unsupported_socket", notify_socket=raw)
        usec = _watchdog_usec(environ, os.getpid() if pid is None else pid)
        return cls(address, watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to notify."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds systemd waits for a ``WATCHDOG=1`` before it gives up on us, or None when no
        watchdog is enabled for this process. Ping at half of it (see :func:`watchdog_loop`)."""
        if self._watchdog_usec is None or not self.enabled:
            return None
        return self._watchdog_usec / 1_000_000

    # --- the messages -------------------------------------------------------------------------

    def ready(self, status: str) -> bool:
        """Startup (or a reload) is complete; ``status`` is the one-line summary to show."""
        return self.send("READY=1", f"STATUS={_one_line(status)}")

    def status(self, text: str) -> bool:
        """Replace the status line ``systemctl status`` shows."""
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """Still alive: resets systemd's watchdog timer."""
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        """A reload begins; send :meth:`ready` when it is done (failed or not)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """A stop begins."""
        return self.send("STOPPING=1")

    def send(self, *fields: str) -> bool:
        """Send one datagram of ``KEY=value`` lines. Never raises, never blocks."""
        if self._address is None:
            return False
        payload = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)  # a full receive queue must not stall the event loop
                sock.sendto(payload, self._address)
        except OSError as exc:
            self._failed(exc, fields)
            return False
        return True

    def _failed(self, exc: OSError, fields: tuple[str, ...]) -> None:
        where = self._address.replace("\0", "@") if self._address else None
        keys = [f.partition("=")[0] for f in fields]
        if self._warned:
            log.debug("sdnotify.send_failed", socket=where, fields=keys, error=str(exc))
            return
        self._warned = True
        log.warning(
            "sdnotify.send_failed",
            socket=where,
            fields=keys,
            error=str(exc),
            note="further failures are logged at debug",
        )

    def __repr__(self) -> str:
        where = self._address.replace("\0", "@") if self._address else None
        return f"SystemdNotifier(socket={where!r}, watchdog_usec={self._watchdog_usec})"


async def watchdog_loop(
    notifier: SystemdNotifier,
    *,
    healthy: Callable[[], bool],
    interval: float,
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
) -> None:
    """Send ``WATCHDOG=1`` every ``interval`` seconds, but only while ``healthy()`` is true.

    Run it for the whole life of the daemon (from start-up, not from readiness), with
    ``interval = notifier.watchdog_interval() / 2`` and ``healthy`` the supervisor's liveness
    check. While unhealthy, pings are withheld, so systemd restarts the service once its
    ``WatchdogSec=`` has passed since the last ping; if health comes back in time, pings resume
    and nothing happens. A ``healthy`` that raises counts as unhealthy (and is logged).
    Never returns; cancel it.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    withholding = False
    while True:
        try:
            ok = healthy()
        except Exception:
            log.exception("sdnotify.health_check_crashed")
            ok = False
        if ok:
            if withholding:
                log.info("sdnotify.watchdog_resumed")
            withholding = False
            notifier.watchdog()
        elif not withholding:
            withholding = True
            log.warning("sdnotify.watchdog_withheld", reason="a loop missed its heartbeat")
        await sleep(interval)


def status_summary(*, ok: int, failing: int, active_tasks: int, actions: int) -> str:
    """The ``STATUS=`` line: ``3 sources ok, 1 failing; 1,234 active tasks; 2 actions in the
    last cycle``."""

    def plural(n: int, word: str) -> str:
        return f"{n:,} {word}{'' if n == 1 else 's'}"

    return (
        f"{plural(ok, 'source')} ok, {failing:,} failing; {plural(active_tasks, 'active task')}; "
        f"{plural(actions, 'action')} in the last cycle"
    )
