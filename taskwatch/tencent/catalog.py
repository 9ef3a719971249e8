"""The products and actions taskwatch speaks, as data.

One table answers: which API version a product has, whether it needs ``X-TC-Region``, and which
actions change the world (and so are never retried blindly). The documented rate limits live in
:mod:`taskwatch.limiter`, which is the only thing that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    "mps": Product(
        name="mps",
        version="2019-06-12",
        region_required=False,
        actions=frozenset({"DescribeTasks", "DescribeTaskDetail", "ManageTask"}),
        destructive=frozenset({"ManageTask"}),
    ),
    "dlc": Product(
        name="dlc",
        version="2021-01-25",
        region_required=True,
        actions=frozenset({"DescribeTasks", "CancelTask"}),
        destructive=frozenset({"CancelTask"}),
    ),
    "live": Product(
        name="live",
        version="2018-08-01",
        region_required=True,
        actions=frozenset(
            {
                "DescribeLivePullStreamTasks",
                "DescribeLivePullStreamTaskStatus",
                "DeleteLivePullStreamTask",
            }
        ),
        destructive=frozenset({"DeleteLivePullStreamTask"}),
    ),
}


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
