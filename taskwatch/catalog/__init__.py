"""The product catalog: every product taskwatch watches, registered once, asked by every layer.

Each product is one module here holding a frozen :class:`ProductSpec` (:mod:`.mps`,
:mod:`.dlc`, :mod:`.live`); :data:`PRODUCTS` registers them, in the order taskwatch lists them
(configuration, metrics, status page). Settings, metrics, policy, the wire, the adapters and the
emulator take product names, actions, statuses, types, windows, page sizes and rate limits from
here instead of repeating them. Adding a product is one module here, its adapter in
``taskwatch.products``, its emulator module, and one line in :data:`PRODUCTS`.

This package is pure data in the bottom layer: it imports nothing of taskwatch but itself.

Not guaranteed: the registry is fixed at import; nothing registers products at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from taskwatch.catalog import dlc, live, mps
from taskwatch.catalog.spec import ANY_PHASE as ANY_PHASE
from taskwatch.catalog.spec import ApiAction as ApiAction
from taskwatch.catalog.spec import Phase as Phase
from taskwatch.catalog.spec import ProductSpec as ProductSpec

PRODUCTS: Mapping[str, ProductSpec] = MappingProxyType(
    {spec.name: spec for spec in (mps.SPEC, dlc.SPEC, live.SPEC)}
)
"""Every product by name, in registration order."""

NAMES: tuple[str, ...] = tuple(PRODUCTS)
"""Every product's name, in registration order."""


def get(name: str) -> ProductSpec:
    """The product called ``name``; ``KeyError`` names the known ones."""
    try:
        return PRODUCTS[name]
    except KeyError:
        raise KeyError(f"unknown product {name!r} (known: {', '.join(sorted(PRODUCTS))})") from None


def verbs() -> dict[str, str]:
    """Each product's one destructive action as policies name it (``{"mps": "abort", ...}``)."""
    return {name: spec.verb for name, spec in PRODUCTS.items()}


def standing() -> frozenset[str]:
    """Products whose ended tasks stay listed and can still be acted on."""
    return frozenset(name for name, spec in PRODUCTS.items() if spec.standing)


def scheduled() -> frozenset[str]:
    """Products whose pending tasks wait for a start time, not in a queue."""
    return frozenset(name for name, spec in PRODUCTS.items() if spec.scheduled)


def regional() -> frozenset[str]:
    """Products watched per region (the others have one ``global`` source per account)."""
    return frozenset(name for name, spec in PRODUCTS.items() if spec.regional)


def documented_limits() -> dict[tuple[str, str], float]:
    """Calls per second per account of every action whose limit the vendor documents."""
    return {
        (name, action.name): action.limit
        for name, spec in PRODUCTS.items()
        for action in spec.actions
        if action.limit is not None
    }
