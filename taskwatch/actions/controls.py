"""The journal's shared controls: the kill switch, the leadership term, the grace streaks.

Why in the journal: a kill switch in one process's memory is not a stop when two replicas run or
one restarts (``POST /-/pause`` through a Service reaches one random pod; the next failover
forgets it). Kept as events in the journal, it holds for every process that shares the journal,
across restarts, until someone resumes it, and says who flipped it, when and why. Every intent
reads it in its own transaction (:meth:`Journal.intent <taskwatch.actions.journal.Journal.
intent>`), so a pause holds at the next intent anywhere, not only at the next cycle.

The leadership term is the fence beyond the Lease: a replica that becomes leader begins a new
term (:meth:`SharedControls.begin_term`), and an intent carrying an older term is refused, so a
deposed leader that still believes it leads (paused, partitioned) cannot act after its successor
began. Writers are ordered by locks: a flip or a new term waits for the intents in flight to
commit, and every later intent sees it.

The grace streaks (since when each rule has matched each task, :mod:`taskwatch.policy.grace`) are
kept too, so a new leader (or a restarted process) resumes each grace where it stood instead of
starting it over: with failovers more frequent than a rule's grace, it would otherwise never act.

Not guaranteed: that a call whose intent was written before the pause (or the new term) is
stopped: it is already in flight and finishes. A streak that broke while no process was watching
(the task stopped matching and matched again during a failover) is taken as unbroken.
"""

from __future__ import annotations

from typing import Final

from taskwatch.actions.backend import Backend, Connection
from taskwatch.models import Switch

__all__ = ["REASON_LIMIT", "SharedControls", "who"]

REASON_LIMIT: Final = 1000
ACTOR_LIMIT: Final = 200
_NEWEST = "SELECT paused, actor, time, reason FROM switch_events ORDER BY id DESC LIMIT ?"


class SharedControls(Backend):
    """The kill switch and the leadership term, over a journal backend."""

    def switch(self) -> Switch:
        """The shared kill switch: its newest event (off when there is none)."""
        with self._reading("read the kill switch") as conn:
            return self._switch(conn)

    def set_switch(self, *, paused: bool, actor: str, reason: str = "") -> Switch:
        """Flip the shared kill switch (every process obeys it at its next intent); kept as an
        event (who, when, why) for the audit. The new state."""
        with self._transaction("flip the kill switch") as conn:
            self._lock(conn, "switch", shared=False)  # after every intent in flight commits
            conn.execute(
                "INSERT INTO switch_events (time, paused, actor, reason) VALUES (?, ?, ?, ?)",
                (self._now(), int(paused), actor[:ACTOR_LIMIT], reason[:REASON_LIMIT]),
            )
            return self._switch(conn)

    def switch_history(self, limit: int = 50) -> list[Switch]:
        """The kill switch's newest events, newest first."""
        with self._reading("read the kill switch's history") as conn:
            rows = conn.execute(_NEWEST, (limit,)).fetchall()
        return [_event(tuple(r)) for r in rows]

    def begin_term(self, holder: str) -> int:
        """A new leadership term for ``holder``; every intent of an earlier term is refused from
        now on. Its number."""
        with self._transaction("begin a leadership term") as conn:
            self._lock(conn, "term", shared=False)  # after every intent of the old term commits
            conn.execute(
                "UPDATE leadership SET term = term + 1, holder = ?, since = ?",
                (holder[:ACTOR_LIMIT], self._now()),
            )
            return int(conn.execute("SELECT term FROM leadership").fetchone()[0])

    def term(self) -> tuple[int, str | None]:
        """The current leadership term and its holder (0, None before any)."""
        with self._reading("read the leadership term") as conn:
            row = conn.execute("SELECT term, holder FROM leadership").fetchone()
        return int(row[0]), row[1]

    def grace_streaks(self, source: str) -> dict[tuple[str, str], float]:
        """The open match streaks of ``source``: (policy, task id) → since (UTC epoch)."""
        with self._reading("read the grace streaks") as conn:
            rows = conn.execute(
                "SELECT policy, task_id, since FROM grace_streaks WHERE source = ?", (source,)
            ).fetchall()
        return {(str(r[0]), str(r[1])): float(r[2]) for r in rows}

    def update_grace(
        self,
        source: str,
        started: list[tuple[str, str, float]],
        ended: list[tuple[str, str]],
    ) -> None:
        """Record the streaks of ``source`` that began ((policy, task id, since); an existing
        one keeps its older start) and those that ended ((policy, task id)), in one
        transaction."""
        if not started and not ended:
            return
        with self._transaction("record the grace streaks") as conn:
            for policy, task_id in ended:
                conn.execute(
                    "DELETE FROM grace_streaks WHERE source = ? AND policy = ? AND task_id = ?",
                    (source, policy, task_id),
                )
            for policy, task_id, since in started:
                conn.execute(
                    "INSERT INTO grace_streaks (policy, source, task_id, since)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (source, policy, task_id) DO NOTHING",
                    (policy, source, task_id, since),
                )

    def _switch(self, conn: Connection) -> Switch:
        row = conn.execute(_NEWEST, (1,)).fetchone()
        return Switch() if row is None else _event(tuple(row))

    def _term(self, conn: Connection) -> int:
        return int(conn.execute("SELECT term FROM leadership").fetchone()[0])


def _event(row: tuple[object, ...]) -> Switch:
    paused, actor, time, reason = row
    return Switch(bool(paused), str(actor), float(time), str(reason))  # type: ignore[arg-type]


def who(switch: Switch) -> str:
    """ "by ACTOR: REASON", for messages."""
    said = f": {switch.reason}" if switch.reason else ""
    return f"by {switch.actor}{said}"
