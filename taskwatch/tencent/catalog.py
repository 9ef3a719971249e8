"""The products and actions taskwatch speaks, as data.

One table answers: which API version a product has, whether it needs ``X-TC-Region``, and which
actions change the world (and so are never retried blindly). It is read from
:mod:`taskwatch.catalog`, where each product is described once (with its documented rate limits,
which :mod:`taskwatch.limiter` takes from there).
"""

from __future__ import annotations

from dataclasses import dataclass

from taskwatch import catalog


@dataclass(frozen=True, slots=True)
class Product:
    """One Tencent Cloud service as taskwatch uses it."""

    name: str
    """The service name: host prefix and credential-scope service (``mps``)."""
    version: str
    region_required: bool
    actions: frozenset[str]
    destructive: frozenset[str]


PRODUCTS: dict[str, Product] = {
    name: Product(
        name=name,
        version=spec.version,
        region_required=spec.regional,
        actions=spec.action_names,
        destructive=spec.destructive,
    )
    for name, spec in catalog.PRODUCTS.items()
}
"""The wire's view of :data:`taskwatch.catalog.PRODUCTS`."""


def product(name: str) -> Product:
    """The product called ``name``; ``KeyError`` names the known ones."""
    try:
        return PRODUCTS[name]
    except KeyError:
        known = ", ".join(sorted(PRODUCTS))
        raise KeyError(f"unknown product {name!r} (known: {known})") from None


def is_destructive(product_name: str, action: str) -> bool:
    """Whether ``action`` changes a task. Unknown products/actions count as destructive."""
    p = PRODUCTS.get(product_name)
    return p is None or action in p.destructive or action not in p.actions


def action_names() -> dict[str, frozenset[str]]:
    """Every product's actions by name: what ``api.limits`` keys in a config may name."""
    return {name: p.actions for name, p in PRODUCTS.items()}
