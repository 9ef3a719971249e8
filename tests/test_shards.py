"""taskwatch.leader.shards: rendezvous assignment of accounts to shards, lease names, and the
fair-share plan each replica follows. Pure functions: no clock, no store."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter

import pytest

from taskwatch.leader.shards import (
    Plan,
    by_shard,
    fair_share,
    lease_name,
    member_lease,
    plan,
    preferred,
    shard_of,
    weight,
)
from tests.processes import child_env

NAMES = [f"account-{i:04d}-{hashlib.sha256(str(i).encode()).hexdigest()[:6]}" for i in range(1000)]


def test_the_weight_is_the_first_eight_bytes_of_sha256_of_key_nul_bucket() -> None:
    digest = hashlib.sha256(b"main\x003").digest()
    assert weight("main", 3) == int.from_bytes(digest[:8], "big")
    assert shard_of("main", 8) == max(range(8), key=lambda i: weight("main", i))


def test_assignments_are_pinned_and_the_same_in_a_process_with_another_hash_seed() -> None:
    """Python's hash() is salted per process; the assignment must not be."""
    pinned = [shard_of(a, 8) for a in ("main", "acct-1", "acct-2", "prod")]
    assert pinned == [3, 2, 2, 3]
    code = (
        "from taskwatch.leader.shards import shard_of; "
        "print([shard_of(a, 8) for a in ('main', 'acct-1', 'acct-2', 'prod')])"
    )
    env = {**child_env(), "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(pinned)


def test_one_shard_holds_every_account_and_zero_shards_is_an_error() -> None:
    assert {shard_of(n, 1) for n in NAMES[:50]} == {0}
    with pytest.raises(ValueError, match="at least 1"):
        shard_of("main", 0)


def test_adding_or_removing_an_account_moves_no_other_account() -> None:
    before = {n: shard_of(n, 8) for n in NAMES}
    grown = by_shard([*NAMES, "newcomer"], 8)
    shrunk = by_shard(NAMES[1:], 8)
    for shard, accounts in grown.items():
        assert all(before[a] == shard for a in accounts if a != "newcomer")
    for shard, accounts in shrunk.items():
        assert all(before[a] == shard for a in accounts)
    assert sum(len(a) for a in shrunk.values()) == len(NAMES) - 1


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 16])
def test_going_from_n_to_n_plus_one_shards_moves_about_one_in_n_plus_one_to_the_new_shard(
    n: int,
) -> None:
    moved = [a for a in NAMES if shard_of(a, n) != shard_of(a, n + 1)]
    assert all(shard_of(a, n + 1) == n for a in moved)  # only to the new shard, never between
    share = len(moved) / len(NAMES)
    # 1,000 names: the binomial standard deviation is at most 0.016; 3 of them.
    assert abs(share - 1 / (n + 1)) < 0.048, (n, share)


def test_accounts_spread_evenly_and_by_shard_lists_every_shard_even_empty() -> None:
    sizes = Counter(shard_of(n, 8) for n in NAMES)
    assert set(sizes) == set(range(8))
    assert max(sizes.values()) - min(sizes.values()) < 80  # 125 each, give or take
    assert by_shard([], 4) == {0: (), 1: (), 2: (), 3: ()}
    assert by_shard(["main", "prod"], 8)[3] == ("main", "prod")


def test_fair_share_is_the_ceiling_and_counts_no_member_as_one() -> None:
    assert [fair_share(6, m) for m in (0, 1, 2, 3, 4, 5, 6, 7)] == [6, 6, 3, 2, 2, 2, 1, 1]
    assert fair_share(8, 3) == 3


def test_lease_names_keep_todays_name_for_one_shard() -> None:
    assert lease_name("taskwatch", 0, 1) == "taskwatch"
    assert lease_name("taskwatch", 5, 8) == "taskwatch-5"
    assert member_lease("taskwatch", 2) == "taskwatch-member-2"


def test_each_shard_prefers_one_member_and_the_preference_survives_unrelated_leavers() -> None:
    members = [f"pod-{i}" for i in range(4)]
    prefs = [preferred(s, members) for s in range(64)]
    assert set(prefs) == set(members)  # every member is preferred by some shard
    assert preferred(3, []) is None
    # pod-3 leaves: only the shards that preferred pod-3 change their preference.
    after = [preferred(s, members[:3]) for s in range(64)]
    assert all(b == a for a, b in zip(prefs, after, strict=True) if a != "pod-3")
    assert all(after[s] != "pod-3" for s in range(64))


def test_a_replica_without_a_member_slot_hands_everything_back_highest_first() -> None:
    got = plan(me="a", shards=6, members={"b", "c"}, mine={1, 4}, others={})
    assert got == Plan(hand_back=(4, 1))


def test_above_the_ceiling_the_excess_goes_back_highest_index_first() -> None:
    got = plan(me="a", shards=6, members={"a", "b", "c"}, mine={0, 1, 2, 5}, others={3: "b"})
    assert got == Plan(hand_back=(5, 2))


def test_below_the_floor_free_shards_are_claimed_preferred_ones_first() -> None:
    members = {"a", "b", "c"}
    got = plan(me="a", shards=6, members=members, mine=set(), others={})
    assert got.want == 2
    assert sorted(got.claim) == list(range(6))
    ours = [s for s in range(6) if preferred(s, members) == "a"]
    assert list(got.claim[: len(ours)]) == ours  # preferred first, then lowest index


def test_at_the_floor_one_more_is_claimed_only_from_shards_no_one_below_the_floor_needs() -> None:
    members = {"a", "b", "c"}  # 7 shards: floor 2, ceiling 3
    spare = plan(me="a", shards=7, members=members, mine={0, 1}, others={2: "b", 3: "b"})
    assert spare.want == 1  # c needs 2 of the 3 free; one is spare
    tight = plan(me="a", shards=7, members=members, mine={0, 1}, others={2: "b", 3: "b", 4: "b"})
    assert tight.want == 0  # c needs both free ones: nothing spare
    orphan = plan(
        me="a",
        shards=7,
        members=members,
        mine={0, 1},
        others={2: "b", 3: "b", 4: "b"},
        orphaned={5},
    )
    assert orphan.want == 1  # a shard free too long goes to whoever may hold one more


def test_at_the_ceiling_the_first_members_in_identity_order_give_way_to_a_newcomer() -> None:
    members = {"a", "b", "c", "d"}  # 6 shards: floor 1, ceiling 2; d just joined with none
    others_of = {
        "a": {2: "b", 3: "b", 4: "c", 5: "c"},
        "b": {0: "a", 1: "a", 4: "c", 5: "c"},
        "c": {0: "a", 1: "a", 2: "b", 3: "b"},
    }
    mine_of = {"a": {0, 1}, "b": {2, 3}, "c": {4, 5}}
    plans = {
        m: plan(me=m, shards=6, members=members, mine=mine_of[m], others=others_of[m])
        for m in mine_of
    }
    assert plans["a"] == Plan(hand_back=(1,))
    assert plans["b"] == Plan() == plans["c"]
    # Once a's shard 1 is back, d claims it and nothing more; a does not take it again.
    after = {0: "a", 2: "b", 3: "b", 4: "c", 5: "c"}
    assert plan(me="d", shards=6, members=members, mine=set(), others=after) == Plan(
        claim=(1,), want=1
    )
    a_after = {s: h for s, h in after.items() if h != "a"}
    assert plan(me="a", shards=6, members=members, mine={0}, others=a_after).want == 0


def test_an_even_share_moves_nothing() -> None:
    members = {"a", "b", "c"}
    others = {2: "b", 3: "b", 4: "c", 5: "c"}
    assert plan(me="a", shards=6, members=members, mine={0, 1}, others=others) == Plan()
