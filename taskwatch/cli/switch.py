"""``taskwatch pause``, ``taskwatch resume`` and ``taskwatch switch``: the kill switch from a shell.

Why beside ``POST /-/pause``: in an incident the HTTP endpoints may be off (``http.lifecycle`` is
false by default), unreachable, or behind credentials nobody has at hand, while a shell on the host
(``systemctl``) or in the pod (``kubectl exec``) is there. These commands write the same switch to
the same journal the daemon reads (the configuration's ``state``: SQLite or PostgreSQL), so every
daemon sharing the journal holds at its next intent and shows it at its next cycle, and the switch
survives restarts until resumed. Who: ``cli:<user>@<host>`` unless ``--by`` says otherwise.

A SQLite journal is written without the daemon's process lock (it is held by the running daemon):
these commands never act, and SQLite serialises their one write with the daemon's.

Not guaranteed: that a daemon using another journal (another ``state``) sees the switch.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
from typing import Any

from taskwatch.actions.controls import who
from taskwatch.actions.opening import journal_for
from taskwatch.cli.audit import iso
from taskwatch.clock import Clock
from taskwatch.models import Switch
from taskwatch.settings import State

__all__ = ["add_parsers", "default_actor", "describe", "run_switch"]

HISTORY = 10


def add_parsers(sub: Any) -> None:
    """The three subcommands, on the CLI's subparsers."""
    for name, text in (
        ("pause", "hold every action back, in every daemon sharing the journal, until resume"),
        ("resume", "let actions through again (the journal's kill switch)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
        cmd.add_argument("--reason", default="", help="why (kept in the journal, shown on /)")
        cmd.add_argument("--by", help="who (default: cli:<user>@<host>)")
        cmd.add_argument("--json", action="store_true", help="print the switch as JSON")
    show = sub.add_parser("switch", help="show the journal's kill switch and its last changes")
    show.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    show.add_argument("--json", action="store_true", help="print it as JSON")


def default_actor() -> str:
    """``cli:<user>@<host>``: who ran the command, as the journal records it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def run_switch(
    state: State,
    *,
    command: str,
    clock: Clock,
    reason: str = "",
    actor: str | None = None,
    as_json: bool = False,
) -> str:
    """Flip (``pause``, ``resume``) or show (``switch``) the kill switch of ``state``'s journal;
    the text to print. Raises :class:`~taskwatch.errors.StoreError` when the journal cannot be
    opened or written."""
    with journal_for(state, clock=clock, exclusive=False) as journal:
        if command == "switch":
            history = journal.switch_history(HISTORY)
            current = history[0] if history else Switch()
        else:
            current = journal.set_switch(
                paused=command == "pause", actor=actor or default_actor(), reason=reason
            )
            history = []
    if as_json:
        return json.dumps({**_object(current), "history": [_object(h) for h in history]})
    lines = [describe(current)]
    lines += [f"  {describe(h)}" for h in history[1:]]
    return "\n".join(lines)


def describe(switch: Switch) -> str:
    """One line: the state, who, when (UTC) and why."""
    if switch.time is None:
        return "actions on (the kill switch was never used)"
    state = "actions paused" if switch.paused else "actions on"
    return f"{state} since {iso(switch.time)} {who(switch)}"


def _object(switch: Switch) -> dict[str, Any]:
    return {
        "actions_paused": switch.paused,
        "by": switch.actor,
        "at": None if switch.time is None else iso(switch.time),
        "reason": switch.reason,
    }


def parse(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`run_switch` for parsed ``args`` (but the state)."""
    return {
        "command": args.command,
        "reason": getattr(args, "reason", ""),
        "actor": getattr(args, "by", None),
        "as_json": args.json,
    }
