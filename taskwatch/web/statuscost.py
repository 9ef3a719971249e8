"""The status page's cost sections: the top spenders now, and what enforced actions saved.

Both are estimates from list prices, never a bill, and both sections say so. The spenders are the
running tasks the watchers hold, priced by the configuration's price table at the page's instant
(:mod:`taskwatch.web.statusmodel`); the savings come from the record the snapshot names (the
journal, or this process's own counters, which start empty at each start and are not shared
between replicas): the section says which.

Every string that came from an API or the configuration (task ids, types, accounts, policy names)
is escaped, as on the rest of the page.

Not guaranteed: that money is shown to more than the cent (figures are rounded for display only).
"""

from __future__ import annotations

from taskwatch.web.statushtml import empty, escape, section, span, table
from taskwatch.web.statusmodel import StatusSnapshot

__all__ = ["saved_section", "spenders_section"]

ESTIMATE_NOTE = "estimates from list prices, not a bill"
SAVED_FROM = {
    "journal": "from the journal",
    "process": "from this process's counters since it started (not the journal)",
}


def money(amount: float, currency: str, *, per_hour: bool = False) -> str:
    """``1,234.56 CNY`` (``/h`` for a rate); escaped (the currency is configured text)."""
    return escape(f"{amount:,.2f} {currency}" + ("/h" if per_hour else ""))


def spenders_section(snap: StatusSnapshot) -> str:
    """ "Top spenders now": the running tasks with the highest spend per hour."""
    note = f"running tasks, highest spend per hour first; {ESTIMATE_NOTE}"
    if not snap.pricing:
        content = empty("Cost estimates are off (prices.enabled: false).")
    elif not snap.top_spenders:
        content = empty("No running task has a cost estimate.")
    else:
        rows = [
            [
                escape(t.product),
                f"{escape(t.account)} / {escape(t.region)}",
                f'<code class="id">{escape(t.id)}</code>',
                escape(t.type),
                money(t.per_hour, t.currency, per_hour=True),
                money(t.so_far, t.currency),
                f'<span class="muted">{escape(t.basis)}</span>',
            ]
            for t in snap.top_spenders
        ]
        headers = ["Product", "Account / region", "Task", "Type", "Per hour", "So far", "Basis"]
        content = table(headers, rows, numeric={4, 5})
    if snap.pricing and snap.unpriced_running:
        n = snap.unpriced_running
        content += (
            f'\n<p class="muted">{n} running task{"s" if n != 1 else ""} without a price '
            "(counted by taskwatch_tasks_unpriced) not listed.</p>"
        )
    return section("spenders", "Top spenders now", content, escape(note))


def saved_section(snap: StatusSnapshot) -> str:
    """ "Saved in the last 24 h": per policy, what its enforced actions stopped."""
    window = "" if snap.saved_since is None else span(snap.now - snap.saved_since)
    origin = SAVED_FROM.get(snap.saved_from, snap.saved_from)
    note = f"{ESTIMATE_NOTE}; {origin}" if origin else ESTIMATE_NOTE
    if not snap.saved:
        content = empty(f"No enforced action saved spend in the last {window or 'while'}.")
    else:
        rows = [
            [
                f'<strong class="name">{escape(r.policy)}</strong>',
                money(r.saved, r.currency),
                money(r.per_hour, r.currency, per_hour=True)
                if r.per_hour
                else '<span class="muted">none</span>',
                escape(r.actions),
            ]
            for r in snap.saved
        ]
        headers = ["Policy", "Saved", "Stopped per hour (no end known)", "Actions"]
        content = table(headers, rows, numeric={1, 2, 3}, narrow=True)
    return section("saved", "Saved in the last 24 h", content, escape(note))
