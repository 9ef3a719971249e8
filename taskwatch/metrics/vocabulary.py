"""The label values an API chooses, bounded: what a misbehaving endpoint can do to ``/metrics``.

Most label values of taskwatch's metrics are chosen by taskwatch or its configuration (account,
product, region, action, policy, result). A few are chosen by Tencent Cloud: a task's type and
status, an API error code, and (through the errors it raises) the reason a scan failed. A product
that gives every task its own type made one ``taskwatch_tasks`` series per task in a real run
(50,469 series and a 4.2 MB exposition in 40 s, and the histograms keep every type for ever), and
an endpoint can answer an error code of 200 KB. So each API-chosen value goes through
:meth:`LabelGuard.admit`, which:

* cuts it to :data:`MAX_LABEL_LENGTH` characters;
* passes it if the product documents it (:data:`KNOWN`: the statuses and task types taskwatch's
  adapters and policies know), however many there are;
* otherwise admits it while its scope has admitted fewer than :data:`BUDGETS` newcomers (a
  product for types and statuses, a (product, action) for error codes, a source for scan error
  reasons), first come, first served;
* and folds every later newcomer into :data:`OTHER`.

The cost metrics (:mod:`taskwatch.metrics.costs`, ``taskwatch_tasks_cost_total``) label by task
type through the same guard and scope as ``taskwatch_tasks``, so a type folded there is folded
here too (its spend is added to ``other``, never dropped); their ``currency`` is the price table's,
a configured value, and the saved-spend counters' ``policy`` a rule name: neither is API-chosen.

Each value cut or folded is reported to ``on_fold`` (``taskwatch_label_values_folded_total``), and
logged once: the first fold of each scope, the first cut of each label and product.

Not guaranteed: the budgets are per process and never reset, so which newcomers get a series of
their own depends on the order they were first seen, and a restart may admit others. Two values
that differ only after :data:`MAX_LABEL_LENGTH` characters share one series. :data:`KNOWN` is
read from :mod:`taskwatch.catalog`, the vocabulary the adapters use too; a value a product adds
later counts against the budget until its catalog module learns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog

from taskwatch import catalog

log = structlog.get_logger(__name__)

MAX_LABEL_LENGTH = 100
"""Characters kept of an API-chosen label value (documented codes and types are under 60)."""

OTHER = "other"
"""The value newcomers beyond their scope's budget are folded into."""

BUDGETS: Mapping[str, int] = {"type": 20, "status": 20, "code": 50, "reason": 50}
"""Newcomers (values not in :data:`KNOWN`) each scope admits, per label."""

KNOWN: Mapping[str, Mapping[str, frozenset[str]]] = {
    "type": {name: frozenset(spec.types) for name, spec in catalog.PRODUCTS.items()},
    "status": {name: frozenset(spec.statuses) for name, spec in catalog.PRODUCTS.items()},
}
"""Values each product documents, per label: they always pass, and use no budget."""

FoldObserver = Callable[[str], None]
"""Called with the label's name each time one of its values is cut or folded."""


class LabelGuard:
    """Admits API-chosen label values per (label, scope); see the module docstring.

    Scopes start with the product, whose :data:`KNOWN` values always pass. Not thread-safe: every
    caller runs on the event loop.
    """

    __slots__ = ("_budgets", "_cut_logged", "_folded", "_known", "_on_fold", "_seen")

    def __init__(
        self,
        on_fold: FoldObserver | None = None,
        *,
        budgets: Mapping[str, int] = BUDGETS,
        known: Mapping[str, Mapping[str, frozenset[str]]] = KNOWN,
    ) -> None:
        self._on_fold = on_fold
        self._budgets = budgets
        self._known = known
        self._seen: dict[tuple[str, tuple[str, ...]], set[str]] = {}
        self._folded: set[tuple[str, tuple[str, ...]]] = set()
        self._cut_logged: set[tuple[str, str]] = set()

    def admit(self, label: str, product: str, value: str, *scope: str) -> str:
        """The value to export for ``value`` of ``label`` in ``(product, *scope)``."""
        if len(value) > MAX_LABEL_LENGTH:
            value = self._cut(label, product, value)
        if value in self._known.get(label, {}).get(product, ()):
            return value
        key = (label, (product, *scope))
        seen = self._seen.setdefault(key, set())
        if value in seen:
            return value
        budget = self._budgets.get(label, 0)
        if len(seen) < budget:
            seen.add(value)
            return value
        if key not in self._folded:
            self._folded.add(key)
            log.warning(
                "metrics.label_folded",
                label=label,
                scope="/".join(key[1]),
                budget=budget,
                example=value,
                note=f"further new values of this label are exported as {OTHER!r}",
            )
        self._count(label)
        return OTHER

    def forget(self, label: str, product: str, *scope: str) -> set[str]:
        """Drop a scope's admissions; returns the values it exported (``other`` if it folded)."""
        key = (label, (product, *scope))
        exported = self._seen.pop(key, set())
        if key in self._folded:
            self._folded.discard(key)
            exported.add(OTHER)
        return exported

    def _cut(self, label: str, product: str, value: str) -> str:
        if (label, product) not in self._cut_logged:
            self._cut_logged.add((label, product))
            log.warning(
                "metrics.label_cut",
                label=label,
                product=product,
                length=len(value),
                kept=MAX_LABEL_LENGTH,
                note="longer values of this label are exported cut to the kept length",
            )
        self._count(label)
        return value[:MAX_LABEL_LENGTH]

    def _count(self, label: str) -> None:
        if self._on_fold is not None:
            self._on_fold(label)
