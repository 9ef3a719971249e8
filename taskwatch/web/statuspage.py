"""The status page at ``/``: what taskwatch sees and does, for a person, on one HTML page.

Server-rendered from a :class:`~taskwatch.web.statusmodel.StatusSnapshot` (no JavaScript, no
front-end build): the sources and their last cycle, task counts per product and status, the top
spenders now (estimates), the oldest running and the oldest waiting tasks, the policies with their
mode (the effective one: ``--dry-run`` shows as a badge, and on each policy it overrides) and
caps, what enforced actions saved in the last day (estimates) and the recent actions from the
journal. :mod:`taskwatch.web.statusmodel` builds the snapshot (and says which numbers it shows);
its names are re-exported here. The HTML pieces and the stylesheet are in
:mod:`taskwatch.web.statushtml`, the cost sections in :mod:`taskwatch.web.statuscost`. The
stylesheet is served separately (:data:`STYLESHEET` at ``status.css``), so a strict
``Content-Security-Policy: default-src 'self'`` from the web config still styles the page.

Everything that came from an API or the configuration (task ids, types, error messages, policy and
account names) is HTML-escaped: a task id is attacker-controlled text as far as a browser is
concerned. An error message is cut to :data:`MAX_MESSAGE` characters (an endpoint once answered
an error code of 200 KB). The snapshot holds no credentials, and the journal records hold none.

Not guaranteed: one consistent instant across sources. Each source is read as it stands between
its cycles; the page says when it was rendered and refreshes itself every 30 seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from taskwatch.durations import format_duration
from taskwatch.logs import cap
from taskwatch.models import ActionGroup
from taskwatch.web.statuscost import saved_section, spenders_section
from taskwatch.web.statushtml import STYLESHEET
from taskwatch.web.statushtml import badge as _badge
from taskwatch.web.statushtml import empty as _empty
from taskwatch.web.statushtml import escape as _e
from taskwatch.web.statushtml import section as _section
from taskwatch.web.statushtml import span as _span
from taskwatch.web.statushtml import table as _table
from taskwatch.web.statushtml import when as _when
from taskwatch.web.statusmodel import (
    LastCycle,
    PolicyStatus,
    RunningTask,
    SavedRow,
    SourceStatus,
    Spender,
    StatusSnapshot,
    StatusView,
    TaskCount,
    WaitingTask,
    snapshot_from,
)

__all__ = [
    "MAX_MESSAGE",
    "STYLESHEET",
    "LastCycle",
    "PolicyStatus",
    "RunningTask",
    "SavedRow",
    "SourceStatus",
    "Spender",
    "StatusSnapshot",
    "StatusView",
    "TaskCount",
    "WaitingTask",
    "render",
    "snapshot_from",
]

MAX_MESSAGE = 300
"""Characters of an error message shown in the Sources table; the rest is cut (the log has it)."""


def _sources(snap: StatusSnapshot) -> str:
    if not snap.sources:
        return _empty("No sources are configured: taskwatch has nothing to watch.")
    rows = []
    for s in snap.sources:
        if not s.cycled:
            state = _badge("waiting", "idle")
        else:
            state = _badge("ok", "ok") if s.ok else _badge("failing", "bad")
        error = ""
        if s.error:
            error = f"<code>{_e(s.error)}</code>"
            if s.message:
                error += f' <span class="msg">{_e(cap(s.message, MAX_MESSAGE))}</span>'
        counts: tuple[object, ...] = ("",) * 5
        if s.cycled:  # a source that never succeeded holds no task count yet: none is shown
            held = s.active if s.ok or s.last_success is not None else ""
            counts = (held, s.new, s.changed, s.gone, s.finished)
        rows.append(
            [
                f'<code class="name">{_e(s.name)}</code>',
                state,
                f"{s.seconds:.2f} s" if s.cycled else "",
                _e(s.calls) if s.cycled else "",
                *(_e(c) for c in counts),
                _when(s.last_success, snap.now),
                error,
            ]
        )
    headers = ["Source", "State", "Last cycle", "Calls", "Tasks", "New", "Changed", "Gone"]
    headers += ["Finished", "Last success", "Error"]
    return _table(headers, rows, numeric={2, 3, 4, 5, 6, 7, 8})


def _tasks(snap: StatusSnapshot) -> str:
    if not snap.tasks:
        return _empty("No active task right now.")
    rows = [[_e(t.product), f"<code>{_e(t.status)}</code>", _e(t.count)] for t in snap.tasks]
    return _table(["Product", "Status", "Tasks"], rows, numeric={2}, narrow=True)


def _aged(tasks: Sequence[tuple[RunningTask | WaitingTask, float]], age: str, empty: str) -> str:
    """The oldest running or waiting tasks: one row each, ``age`` heading their age column."""
    if not tasks:
        return _empty(empty)
    rows = [
        [
            _e(t.product),
            f"{_e(t.account)} / {_e(t.region)}",
            f'<code class="id">{_e(t.id)}</code>',
            _e(t.type),
            f"<code>{_e(t.status)}</code>",
            _e(_span(seconds)),
        ]
        for t, seconds in tasks
    ]
    headers = ["Product", "Account / region", "Task", "Type", "Status", age]
    return _table(headers, rows, numeric={5})


def _oldest(snap: StatusSnapshot) -> str:
    running = [(t, t.running_for) for t in snap.oldest_running]
    return _aged(running, "Running for", "No task is running.")


def _waiting(snap: StatusSnapshot) -> str:
    waiting = [(t, t.waiting_for) for t in snap.oldest_waiting]
    return _aged(waiting, "Waiting for", "No MPS or DLC task is waiting to start.")


def _caps(p: PolicyStatus) -> str:
    caps = []
    if p.per_cycle is not None:
        caps.append(f"{p.per_cycle} per cycle")
    if p.per_hour is not None:
        caps.append(f"{p.per_hour} per hour")
    if p.percent is not None:
        caps.append(f"{p.percent:g} % per cycle")
    return _e(", ".join(caps)) if caps else '<span class="muted">none</span>'


def _mode(p: PolicyStatus) -> str:
    """The effective mode; a policy ``--dry-run`` overrides says so."""
    if p.overridden:
        return _badge("dry-run", "warn") + ' <span class="muted">enforce: true, --dry-run</span>'
    return _badge("enforce", "bad") if p.enforce else _badge("dry-run", "info")


def _policies(snap: StatusSnapshot) -> str:
    if not snap.policies:
        return _empty("No policies: taskwatch only watches and reports.")
    rows = [
        [
            f'<strong class="name">{_e(p.name)}</strong>',
            _e(p.product),
            _e(p.action),
            _mode(p),
            _e(format_duration(p.grace)) if p.grace else '<span class="muted">none</span>',
            _caps(p),
        ]
        for p in snap.policies
    ]
    return _table(["Policy", "Product", "Action", "Mode", "Grace", "Caps"], rows, numeric=set())


_RESULT_KIND = {
    "done": "bad",
    "would": "info",
    "failed": "bad",
    "unknown": "warn",
    "skipped_cap": "warn",
    "intent": "warn",
    "fenced": "idle",
    "already_done": "idle",
}
"""Badge colour per journal result: red for what was (or failed to be) done, blue for dry-run."""


def _actions(snap: StatusSnapshot) -> str:
    if not snap.actions:
        since = (
            ""
            if snap.actions_since is None
            else f" in the last {_span(snap.now - snap.actions_since)}"
        )
        return _empty(f"No action recorded{since}.")
    rows = []
    for a in snap.actions:
        detail = " ".join(
            part
            for part in (
                f"<code>{_e(a.code)}</code>" if a.code else "",
                f'<span class="msg">{_e(a.message)}</span>' if a.message else "",
            )
            if part
        )
        mode = _badge(a.mode, "bad" if a.mode == "enforce" else "info")
        when, result = _when(a.time, snap.now), _badge(a.result, _RESULT_KIND.get(a.result, "idle"))
        if isinstance(a, ActionGroup) and a.count > 1:  # a failure streak: one row, its count
            when += f'<br><span class="muted">first {_when(a.first_time, snap.now)}</span>'
            result += f' <span class="count">&times;{_e(a.count)}</span>'
        rows.append(
            [
                when,
                f'<strong class="name">{_e(a.policy)}</strong>',
                f'<span class="name">{_e(a.action)} {mode}</span>',
                result,
                f'<div class="task"><code class="id">{_e(a.task_id)}</code><br>'
                f'<span class="muted">{_e(a.product)} · {_e(a.account)} / {_e(a.region)}</span>'
                "</div>",
                detail,
            ]
        )
    headers = ["Time", "Policy", "Action", "Result", "Task", "Detail"]
    return _table(headers, rows, numeric=set())


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>taskwatch status</title>
<link rel="stylesheet" href="status.css">
</head>
<body>
<header>
<h1>taskwatch <span class="version">{version}</span></h1>
<p class="badges">{badges}</p>
<p class="muted">Rendered {rendered}{uptime} ·
<a href="metrics">metrics</a> · <a href="healthz">healthz</a> · <a href="readyz">readyz</a></p>
</header>
<main>
{sections}
</main>
</body>
</html>
"""


def _shards(snap: StatusSnapshot) -> str:
    """Every shard of the accounts: held here or elsewhere, and its accounts."""
    rows = [
        [
            str(r.shard),
            _badge("held here", "ok") if r.held else _badge("elsewhere", "idle"),
            _e(", ".join(r.accounts)) if r.accounts else '<span class="muted">none</span>',
        ]
        for r in snap.shards
    ]
    return _table(["Shard", "Here", "Accounts"], rows, numeric={0})


def render(snap: StatusSnapshot) -> str:
    """The page for ``snap``, as a complete HTML document."""
    badges = [
        _badge("leader", "ok") if snap.leader else _badge("standby", "idle"),
        _badge(f"actions paused {snap.paused_by}".rstrip(), "warn")
        if snap.actions_paused
        else _badge("actions on", "ok"),
    ]
    enforcing = sum(p.enforce for p in snap.policies)
    badges.append(_badge(f"{enforcing} of {len(snap.policies)} policies enforcing", "info"))
    if snap.dry_run:
        overridden = sum(p.overridden for p in snap.policies)
        badges.append(_badge(f"--dry-run: {overridden} enforcing overridden", "warn"))
    moment = datetime.fromtimestamp(snap.now, UTC)
    uptime = "" if snap.started is None else f" · up {_e(_span(snap.now - snap.started))}"
    sections = [
        _section("sources", "Sources", _sources(snap)),
        _section(
            "tasks",
            "Tasks",
            _tasks(snap),
            "active tasks and every listed Live task, per product and status",
        ),
        spenders_section(snap),
        _section("oldest", "Oldest running tasks", _oldest(snap)),
        _section("waiting", "Oldest waiting tasks", _waiting(snap)),
        _section("policies", "Policies", _policies(snap)),
        saved_section(snap),
        _section("actions", "Recent actions", _actions(snap), "newest first"),
    ]
    if snap.shards:
        held = sum(r.held for r in snap.shards)
        note = f"this replica holds {held} of {len(snap.shards)}"
        sections.insert(1, _section("shards", "Shards", _shards(snap), note))
    return _PAGE.format(
        version=_e(snap.version),
        badges=" ".join(badges),
        rendered=f"{moment:%Y-%m-%d %H:%M:%S} UTC",
        uptime=uptime,
        sections="\n".join(sections),
    )
