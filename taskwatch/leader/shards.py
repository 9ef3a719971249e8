"""Which shard an account belongs to, how many shards a replica should hold, and which to take or
hand back: pure functions (stdlib only), the same answer in every process.

Accounts go to shards by **rendezvous hashing** (highest random weight): each shard ``i`` gets the
weight ``sha256(f"{account}\\x00{i}")`` (its first 8 bytes, big-endian) and the account belongs to
the heaviest. Adding or removing an account moves no other account; going from ``N`` to ``N + 1``
shards moves only the accounts whose new shard ``N`` outweighs their old one, about ``1/(N + 1)``
of them. Python's ``hash()`` is salted per process, so it is never used. The same weight over
``(shard, replica identity)`` names the replica a shard *prefers* (:func:`preferred`), which keeps
placement stable when replicas come and go.

:func:`plan` is the fair-share rule of :class:`~taskwatch.leader.sharding.ShardElector`: with
``m`` live members, ``floor = shards // m`` and ``ceil = ⌈shards / m⌉``; a member below ``floor``
claims free shards, one at ``floor`` claims one more only if free shards are left over once every
member below ``floor`` has had its share (or a shard has stayed free too long), one above ``ceil``
hands back the excess (highest index first), and one at ``ceil`` hands one back when members below
``floor`` cannot be served from the free shards (the first ones at ``ceil`` in identity order do,
so that the replicas agree on who gives way without talking).

Not guaranteed: replicas plan from their own observations, which may disagree for a round or two
(a lease read just before or after a change), so a shard can move twice before things settle; the
leases' compare-and-swap, not this module, keeps a shard to one holder.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "Plan",
    "by_shard",
    "fair_share",
    "lease_name",
    "member_lease",
    "plan",
    "preferred",
    "shard_of",
    "weight",
]


def weight(key: str, bucket: int | str) -> int:
    """The rendezvous weight of ``key`` in ``bucket``: the first 8 bytes of
    ``sha256(f"{key}\\x00{bucket}")`` as a big-endian integer."""
    digest = hashlib.sha256(f"{key}\x00{bucket}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@functools.lru_cache(maxsize=4096)
def shard_of(account: str, shards: int) -> int:
    """The shard of ``account`` among ``shards`` (0 when there is one). Cached: the executor
    asks it several times per action, and each answer costs ``shards`` hashes."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    if shards == 1:
        return 0
    return max(range(shards), key=lambda i: (weight(account, i), i))


def by_shard(accounts: Iterable[str], shards: int) -> dict[int, tuple[str, ...]]:
    """Every shard (a key even when empty) and its accounts, in the order given."""
    out: dict[int, list[str]] = {i: [] for i in range(shards)}
    for account in accounts:
        out[shard_of(account, shards)].append(account)
    return {i: tuple(names) for i, names in out.items()}


def fair_share(shards: int, members: int) -> int:
    """The most shards one of ``members`` live replicas should hold: ``ceil(shards / members)``."""
    return math.ceil(shards / max(1, members))


def lease_name(base: str, shard: int, shards: int) -> str:
    """The Lease of ``shard``: ``base`` itself when there is one shard (today's name)."""
    return base if shards == 1 else f"{base}-{shard}"


def member_lease(base: str, slot: int) -> str:
    """The member slot Lease ``slot``: a replica holding one counts as alive."""
    return f"{base}-member-{slot}"


def preferred(shard: int, members: Iterable[str]) -> str | None:
    """The member that ``shard`` prefers: the heaviest ``weight(identity, shard)``."""
    return max(members, key=lambda m: (weight(m, shard), m), default=None)


@dataclass(frozen=True, slots=True)
class Plan:
    """One round's decision: try ``claim`` in order until ``want`` succeed; hand back
    ``hand_back`` (in that order)."""

    claim: tuple[int, ...] = ()
    want: int = 0
    hand_back: tuple[int, ...] = ()


def plan(
    *,
    me: str,
    shards: int,
    members: Collection[str],
    mine: Collection[int],
    others: Mapping[int, str],
    orphaned: Collection[int] = (),
) -> Plan:
    """What ``me`` should do, given the live ``members`` (``me`` among them only if it holds a
    member slot), the shards it holds (``mine``), those held live by someone else (``others``:
    shard → holder) and the free shards that have stayed free too long (``orphaned``). Every
    shard in neither ``mine`` nor ``others`` is free."""
    if me not in members:  # standing by: no slot, no share
        return Plan(hand_back=tuple(sorted(mine, reverse=True)))
    floor, ceil = shards // len(members), fair_share(shards, len(members))
    held = len(mine)
    if held > ceil:
        return Plan(hand_back=tuple(sorted(mine, reverse=True)[: held - ceil]))
    counts = Counter(holder for holder in others.values() if holder in members)
    counts[me] = held
    free = [s for s in range(shards) if s not in mine and s not in others]
    short = sum(max(0, floor - counts[m]) for m in members if m != me)
    if held == ceil:
        if ceil > floor and short > len(free):
            at_ceil = sorted(m for m in members if counts[m] == ceil)
            if at_ceil.index(me) < short - len(free):
                return Plan(hand_back=(max(mine),))
        return Plan()
    need = max(0, floor - held)
    spare = len(free) - need - short
    extra = held + need < ceil and (spare > 0 or any(s in orphaned for s in free))
    order = sorted(free, key=lambda s: (preferred(s, members) != me, s))
    return Plan(claim=tuple(order), want=min(len(order), need + int(extra)))
