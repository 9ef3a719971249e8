"""One adapter per Tencent product: list to the end, fetch details, act, normalise into Task.

Each adapter takes its product's facts (name, window, page size, statuses, action) from
:mod:`taskwatch.catalog`; :data:`ADAPTERS` registers the adapter classes by that name
(``tests/catalog`` checks that every catalog product has one, so a product cannot be half added).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from taskwatch.products.base import AdapterBase
from taskwatch.products.dlc import DlcAdapter
from taskwatch.products.live import LiveAdapter
from taskwatch.products.mps import MpsAdapter

ADAPTERS: Mapping[str, type[AdapterBase]] = MappingProxyType(
    {cls.product: cls for cls in (MpsAdapter, DlcAdapter, LiveAdapter)}
)
"""The adapter class of each product of the catalog, by the product's name, in catalog order."""
