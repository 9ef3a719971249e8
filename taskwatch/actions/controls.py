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
began. With accounts sharded across replicas, each shard (one Lease each) has a term of its own:
shard 0 is the one term of an unsharded deployment, a shard's first term is 1, and a new term of
one shard ends no other's. Writers are ordered by locks: a flip waits for every intent in flight
to commit, a new term of a shard for that shard's intents in flight (a lock per shard: on
PostgreSQL, intents of other shards go on; SQLite serialises every writer anyway), and every
later intent sees it.

The grace streaks (since when each rule has matched each task, :mod:`taskwatch.policy.grace`) are
kept too, so a new leader (or a restarted process) resumes each grace where it stood instead of
starting it over: with failovers more frequent than a rule's grace, it would otherwise never act.

Not guaranteed: that a call whose intent was written before the pause (or the new term) is
stopped: it is already in flight and finishes. A streak that broke while no process was watching
(the task stopped matching and matched again during a failover) is taken as unbroken. That a
replica of the previous version, still connected while its successor migrates the journal, reads
the right term once a shard other than 0 began one (its queries know one row): upgrade every
replica before sharding.
"""

from __future__ import annotations

from typing import Final

from taskwatch.actions.backend import Backend, Connection
from taskwatch.models import Switch

__all__ = ["REASON_LIMIT", "SharedControls", "term_lock", "valid_shard", "who"]

REASON_LIMIT: Final = 1000
ACTOR_LIMIT: Final = 200
_NEWEST = "SELECT paused, actor, time, reason FROM switch_events ORDER BY id DESC LIMIT ?"
_TERM = "SELECT term, holder FROM leadership WHERE shard = ?"


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

    def begin_term(self, holder: str, shard: int = 0) -> int:
        """A new leadership term of ``shard`` for ``holder``; every intent of an earlier term of
        that shard is refused from now on (other shards' terms are untouched). Its number."""
        shard = valid_shard(shard)
        with self._transaction("begin a leadership term") as conn:
            # after every intent of the shard's old term commits; other shards' do not wait
            self._lock(conn, term_lock(shard), shared=False)
            row = conn.execute(
                "INSERT INTO leadership (shard, term, holder, since) VALUES (?, 1, ?, ?)"
                " ON CONFLICT (shard) DO UPDATE SET term = leadership.term + 1,"
                " holder = excluded.holder, since = excluded.since RETURNING term",
                (shard, holder[:ACTOR_LIMIT], self._now()),
            ).fetchone()
            return int(row[0])

    def term(self, shard: int = 0) -> tuple[int, str | None]:
        """The current leadership term of ``shard`` and its holder (0, None before any)."""
        shard = valid_shard(shard)
        with self._reading("read the leadership term") as conn:
            if not self.shard_terms:  # a read-only journal of one term: shard 0's
                row = conn.execute("SELECT term, holder FROM leadership").fetchone()
                return (int(row[0]), row[1]) if shard == 0 else (0, None)
            row = conn.execute(_TERM, (shard,)).fetchone()
        return (0, None) if row is None else (int(row[0]), row[1])

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

    def _term(self, conn: Connection, shard: int) -> int:
        row = conn.execute(_TERM, (shard,)).fetchone()
        return 0 if row is None else int(row[0])


def _event(row: tuple[object, ...]) -> Switch:
    paused, actor, time, reason = row
    return Switch(bool(paused), str(actor), float(time), str(reason))  # type: ignore[arg-type]


def term_lock(shard: int) -> str:
    """The lock that orders a shard's intents after its new terms: shard 0's keeps the name of
    the one term before shards (a replica of the previous version, still running while the
    database migrates, takes the same lock)."""
    return "term" if shard == 0 else f"term:{shard}"


def valid_shard(shard: int) -> int:
    """``shard``, checked: an integer from 0 (a ValueError otherwise, before any write)."""
    if isinstance(shard, bool) or not isinstance(shard, int) or shard < 0:
        raise ValueError(f"a shard is an integer from 0, not {shard!r}")
    return shard


def who(switch: Switch) -> str:
    """ "by ACTOR: REASON", for messages."""
    said = f": {switch.reason}" if switch.reason else ""
    return f"by {switch.actor}{said}"
