"""The product catalog: each product described once, consistent with itself, and the one source
the settings, metrics, policy, wire and adapters read their product facts from."""

from __future__ import annotations

import dataclasses

import pytest

from taskwatch import catalog
from taskwatch.catalog import ApiAction, Phase, ProductSpec
from taskwatch.clock import ManualClock
from taskwatch.limiter import DEFAULT_LIMIT, Limiter
from taskwatch.metrics.vocabulary import LabelGuard
from taskwatch.policy import catalog as policy_catalog
from taskwatch.products import ADAPTERS
from taskwatch.products.mps import canonical_type
from taskwatch.settings import ACTION_NAMES, PRODUCT_NAMES
from taskwatch.tencent import catalog as wire_catalog

SPECS = list(catalog.PRODUCTS.values())


def _spec(**changes: object) -> ProductSpec:
    return dataclasses.replace(catalog.get("dlc"), **changes)  # type: ignore[arg-type]


def test_every_product_is_registered_under_its_own_name() -> None:
    assert [spec.name for spec in SPECS] == list(catalog.PRODUCTS) == list(catalog.NAMES)
    assert len({spec.title for spec in SPECS}) == len(SPECS)


def test_an_unknown_product_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown product 'ecs' \(known: dlc, live, mps\)"):
        catalog.get("ecs")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_each_products_action_is_one_of_its_destructive_api_actions(spec: ProductSpec) -> None:
    assert spec.action(spec.call).destructive
    assert spec.destructive <= spec.action_names
    assert all(a.limit is None or a.limit > 0 for a in spec.actions)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_each_status_has_a_phase_and_the_action_is_possible_only_in_a_documented_one(
    spec: ProductSpec,
) -> None:
    assert all(spec.phases[s] for s in spec.statuses)
    assert set(spec.acts_on) | set(spec.ended) == set(spec.statuses)
    assert not any(spec.possible(s, t) for s in spec.ended for t in spec.types)
    assert not any(spec.possible("no-such-status", t) for t in spec.types)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_spellings_and_singled_out_types_name_documented_types(spec: ProductSpec) -> None:
    assert set(spec.type_spellings.values()) <= set(spec.types)
    assert spec.restricted_types() <= set(spec.types)
    assert not set(spec.type_spellings) & set(spec.types)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_product_is_standing_exactly_when_no_status_ends_its_tasks(spec: ProductSpec) -> None:
    assert spec.standing == (not spec.ended)
    assert (spec.name in catalog.standing()) == spec.standing


def test_mps_aborts_a_processing_task_only_if_it_is_a_live_stream_task() -> None:
    mps = catalog.get("mps")
    assert mps.possible("WAITING", "WorkflowTask")
    assert mps.possible("PROCESSING", "LiveStreamProcessTask")
    assert not mps.possible("PROCESSING", "WorkflowTask")
    assert mps.restricted_types() == {"LiveStreamProcessTask"}
    assert canonical_type("LiveProcessTask") == "LiveStreamProcessTask"


def test_a_spec_whose_call_is_not_a_destructive_action_is_refused() -> None:
    with pytest.raises(ValueError, match="dlc: DescribeTasks must be one of its destructive"):
        _spec(call="DescribeTasks")
    with pytest.raises(ValueError, match="dlc: CancelTask must be one of its destructive"):
        _spec(actions=(ApiAction("DescribeTasks"), ApiAction("CancelTask")))


def test_a_spec_acting_in_an_undocumented_status_is_refused() -> None:
    with pytest.raises(ValueError, match=r"acts_on names unknown statuses \['paused'\]"):
        _spec(acts_on={"running": None, "paused": None})


def test_a_new_product_is_described_by_its_spec_alone() -> None:
    spec = ProductSpec(
        name="ecs",
        title="ECS",
        version="2017-03-12",
        regional=True,
        window=86400.0,
        max_page_size=50,
        actions=(ApiAction("DescribeJobs", 10.0), ApiAction("StopJob", 5.0, destructive=True)),
        verb="stop",
        call="StopJob",
        call_title="StopJob",
        phases={"up": frozenset({Phase.RUNNING}), "down": frozenset({Phase.DONE})},
        acts_on={"up": None},
        types=("Job",),
    )
    assert spec.ended == ("down",)
    assert spec.fixed_phases() == {"up": Phase.RUNNING, "down": Phase.DONE}
    assert spec.possible("up", "Job")
    assert not spec.possible("down", "Job")
    assert spec.destructive == {"StopJob"}


# --- every layer reads the catalog --------------------------------------------------------------


def test_settings_accept_exactly_the_catalogs_products_and_actions() -> None:
    assert PRODUCT_NAMES == catalog.NAMES
    assert set(ACTION_NAMES) == {spec.verb for spec in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_wire_knows_each_products_version_region_and_destructive_actions(
    spec: ProductSpec,
) -> None:
    wire = wire_catalog.product(spec.name)
    assert (wire.version, wire.region_required) == (spec.version, spec.regional)
    assert wire.actions == spec.action_names
    assert all(wire_catalog.is_destructive(spec.name, a) for a in spec.destructive)
    assert not any(
        wire_catalog.is_destructive(spec.name, a) for a in spec.action_names - spec.destructive
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_limiter_uses_each_documented_limit_and_the_default_for_the_others(
    spec: ProductSpec,
) -> None:
    limiter = Limiter(clock=ManualClock(), budget=1.0)
    for action in spec.actions:
        expected = DEFAULT_LIMIT if action.limit is None else action.limit
        assert limiter.limit(spec.name, action.name) == expected


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_documented_type_and_status_passes_the_label_guard_without_a_budget(
    spec: ProductSpec,
) -> None:
    guard = LabelGuard(budgets={"type": 0, "status": 0})
    assert [guard.admit("type", spec.name, t) for t in spec.types] == list(spec.types)
    assert [guard.admit("status", spec.name, s) for s in spec.statuses] == list(spec.statuses)
    assert guard.admit("type", spec.name, "UndocumentedTask") == "other"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_policies_judge_actions_by_the_catalog(spec: ProductSpec) -> None:
    assert policy_catalog.STATUSES[spec.name] == spec.statuses
    for status in spec.statuses:
        for task_type in spec.types:
            assert policy_catalog.possible(spec.name, status, task_type) == spec.possible(
                status, task_type
            )


def test_every_catalog_product_has_one_adapter_registered_in_catalog_order() -> None:
    assert tuple(ADAPTERS) == catalog.NAMES
    assert all(ADAPTERS[name].spec is spec for name, spec in catalog.PRODUCTS.items())


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_each_adapter_takes_its_bounds_from_the_catalog(spec: ProductSpec) -> None:
    adapter_class = ADAPTERS[spec.name]
    region = "ap-guangzhou" if spec.regional else None
    adapter = adapter_class(client=None, account="a", region=region, clock=ManualClock())  # type: ignore[arg-type]
    assert (adapter.window, adapter.page_size, adapter.source.product) == (
        spec.window,
        spec.max_page_size,
        spec.name,
    )
    with pytest.raises(ValueError, match=f"page_size must be between 1 and {spec.max_page_size}"):
        adapter_class(
            client=None,  # type: ignore[arg-type]
            account="a",
            region=region,
            clock=ManualClock(),
            page_size=spec.max_page_size + 1,
        )
