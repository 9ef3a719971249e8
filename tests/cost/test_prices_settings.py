"""The ``prices:`` block: merged over the shipped table, codecs normalised, errors name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from taskwatch.catalog.prices import normalise_codec
from taskwatch.errors import ConfigError
from taskwatch.settings import parse_settings
from taskwatch.settings.model import Settings
from taskwatch.settings.prices import Prices, shipped_table


def load(prices: Any) -> Prices:
    data = {"accounts": [{"name": "main", "credentials": {"from": "env"}}], "prices": prices}
    settings: Settings = parse_settings(data, source="test.yaml", environ={})
    return settings.prices


def problem(prices: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(prices)
    text = str(info.value)
    assert "pydantic" not in text
    assert "input_value" not in text
    return text


def test_no_block_is_the_shipped_table() -> None:
    assert Prices() == Prices.model_validate(shipped_table())
    assert load({}) == Prices()
    assert Prices().mps["WorkflowTask"].per_output_minute == {
        "h264": {"SD": 0.016, "HD": 0.0325, "FHD": 0.063, "2K": 0.136, "4K": 0.278},
        "h265": {"SD": 0.08, "HD": 0.156, "FHD": 0.3112, "2K": 0.6703, "4K": 1.3406},
    }


def test_one_price_overridden_keeps_every_other() -> None:
    prices = load(
        {
            "mps": {"WorkflowTask": {"per_output_minute": {"H.264": {"HD": 0.025}}}},
            "dlc": {"per_cu_hour": 0.3},
        }
    )
    table = prices.mps["WorkflowTask"].per_output_minute or {}
    assert table["h264"] == {"SD": 0.016, "HD": 0.025, "FHD": 0.063, "2K": 0.136, "4K": 0.278}
    assert table["h265"]["4K"] == 1.3406
    assert prices.mps["WorkflowTask"].per_audio_minute == 0.0056
    assert prices.mps["ScheduleTask"] == Prices().mps["ScheduleTask"]
    assert (prices.dlc.per_gb_scanned, prices.dlc.per_cu_hour) == (0.03, 0.3)
    assert prices.live.per_hour == 0.12


def test_null_removes_a_shipped_price_and_lists_replace() -> None:
    prices = load(
        {
            "dlc": {"per_cu_hour": None, "public_engines": ["shared-a", "shared-b"]},
            "live": {"per_hour": None},
        }
    )
    assert prices.dlc.per_cu_hour is None
    assert prices.dlc.per_gb_scanned == 0.03
    assert prices.dlc.public_engines == ("shared-a", "shared-b")
    assert prices.live.per_hour is None


def test_a_type_can_change_how_it_is_billed_once_the_shipped_way_is_removed() -> None:
    prices = load(
        {
            "mps": {
                "WorkflowTask": {"per_hour": 2, "per_output_minute": None, "per_audio_minute": None}
            }
        }
    )
    assert prices.mps["WorkflowTask"].per_hour == 2
    assert "give per_hour or output-minute prices, not both" in problem(
        {"mps": {"WorkflowTask": {"per_hour": 2}}}
    )


def test_shipped_false_is_only_what_is_written() -> None:
    prices = load({"shipped": False, "live": {"per_hour": 0.5}})
    assert prices.mps == {}
    assert (prices.dlc.per_gb_scanned, prices.dlc.per_cu_hour, prices.live.per_hour) == (
        None,
        None,
        0.5,
    )
    assert prices.specs == Prices().specs  # definitions stay
    assert prices.dlc.public_engines == ("public-engine",)


def test_another_currency_needs_shipped_false() -> None:
    assert "prices.currency: the shipped prices are in CNY" in problem({"currency": "USD"})
    assert load({"currency": "USD", "shipped": False}).currency == "USD"
    assert "prices.currency" in problem({"currency": "usd", "shipped": False})


@pytest.mark.parametrize(
    ("written", "api"),
    [
        ("H.264", "h264"),
        ("h264", "h264"),
        ("H264", "h264"),
        ("AVC", "h264"),
        ("H.265", "h265"),
        ("hevc", "h265"),
        ("AV1", "av1"),
        ("av1", "av1"),
        (" VP9 ", "vp9"),
    ],
)
def test_codec_names_as_people_and_the_api_write_them(written: str, api: str) -> None:
    assert normalise_codec(written) == api
    prices = load({"mps": {"WorkflowTask": {"per_output_minute": {written: {"SD": 0.5}}}}})
    assert (prices.mps["WorkflowTask"].per_output_minute or {})[api]["SD"] == 0.5


def test_two_names_of_one_codec_are_an_error_naming_the_second() -> None:
    text = problem(
        {"mps": {"WorkflowTask": {"per_output_minute": {"h264": {"SD": 1}, "H.264": {"SD": 2}}}}}
    )
    assert "prices.mps.WorkflowTask.per_output_minute.H.264: names the same codec as 'h264'" in text


@pytest.mark.parametrize(
    ("prices", "key", "reason"),
    [
        (
            {"mps": {"WorkfowTask": {"per_hour": 1}}},
            "prices.mps.WorkfowTask",
            "is not an MPS task type",
        ),
        (
            {"mps": {"WorkflowTask": {"per_output_minute": {"H.264": {"8K": 1}}}}},
            "prices.mps.WorkflowTask.per_output_minute.h264.8K",
            "has no bounds in prices.specs",
        ),
        (
            {"mps": {"WorkflowTask": {"per_output_minute": {"H.264": {"SD": -1}}}}},
            "prices.mps.WorkflowTask.per_output_minute.h264.SD",
            "must be >= 0",
        ),
        (
            {"dlc": {"per_gb_scanned": True}},
            "prices.dlc.per_gb_scanned",
            "must be a number, not true or false",
        ),
        ({"live": {"per_hour": "cheap"}}, "prices.live.per_hour", "must be a number"),
        (
            {"specs": {"HD": [720, 1280]}},
            "prices.specs.HD",
            "the long edge must be at least the short edge",
        ),
        ({"specs": {"HD": [1280, 0]}}, "prices.specs.HD[1]", "must be a number of pixels"),
        ({"dlc": {"cu_per_size": {"small": 0}}}, "prices.dlc.cu_per_size.small", "must be > 0"),
        ({"live": {"per_hour": 1, "per_day": 2}}, "prices.live.per_day", "unknown key"),
        ({"enabled": "yes please"}, "prices.enabled", "must be true or false"),
    ],
)
def test_errors_name_the_key(prices: Any, key: str, reason: str) -> None:
    text = problem(prices)
    assert f"{key}: {reason}" in text


def test_configured_spec_bounds_and_new_specs() -> None:
    prices = load(
        {
            "specs": {"8K": [None, 4320], "SD": [854, 480]},
            "mps": {"WorkflowTask": {"per_output_minute": {"H.265": {"8K": 2.5}}}},
        }
    )
    assert prices.specs["8K"] == (None, 4320)
    assert prices.specs["SD"] == (854, 480)
    assert prices.specs["HD"] == (None, 720)
    assert (prices.mps["WorkflowTask"].per_output_minute or {})["h265"]["8K"] == 2.5


def test_enabled_false_is_kept_with_the_table() -> None:
    prices = load({"enabled": False})
    assert prices.enabled is False
    assert prices.live.per_hour == 0.12


def test_a_dump_validates_back_to_the_same_table() -> None:
    prices = load(
        {"mps": {"LiveStreamProcessTask": {"per_hour": 1.2}}, "dlc": {"per_cu_hour": None}}
    )
    assert Prices.model_validate(prices.model_dump()) == prices
    assert Prices.model_validate_json(prices.model_dump_json()) == prices


def test_the_readme_s_override_example_is_valid() -> None:
    readme = (Path(__file__).resolve().parent.parent.parent / "README.md").read_text()
    section = readme.split("## Cost estimates", 1)[1].split("\n## ", 1)[0]
    example = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    prices = load(example["prices"])
    assert prices.specs["8K"] == (None, 4320)
    assert (prices.mps["WorkflowTask"].per_output_minute or {})["h265"]["8K"] == 2.5
    assert prices.mps["LiveStreamProcessTask"].per_hour == 1.2
    assert prices.dlc.per_cu_hour is None
