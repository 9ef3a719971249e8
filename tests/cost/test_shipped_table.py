"""The shipped table: config/prices/tencent-cloud-cn.yaml is what its generator writes from the
catalog, reads back as the default ``prices``, and every figure says where and when it was read."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import yaml

from taskwatch.catalog import prices as facts
from taskwatch.settings.prices import Prices, shipped_table

ROOT = Path(__file__).resolve().parent.parent.parent
GENERATOR = ROOT / "config" / "prices" / "generate.py"
TABLE = ROOT / "config" / "prices" / "tencent-cloud-cn.yaml"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_prices", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_yaml_file_is_what_the_generator_writes() -> None:
    assert TABLE.read_text(encoding="utf-8") == generator().render()
    assert generator().main(["--check"]) == 0


def test_the_yaml_file_is_the_default_table() -> None:
    loaded = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    assert loaded["prices"] == shipped_table()
    assert Prices.model_validate(loaded["prices"]) == Prices()


def test_the_file_says_it_is_an_estimate_and_shows_an_override() -> None:
    text = TABLE.read_text(encoding="utf-8")
    assert "estimate, not a bill" in text
    example = "\n".join(
        line.removeprefix("# ") for line in text.split("# --- Overriding")[1].splitlines()[1:]
    )
    override = yaml.safe_load(example[example.index("\nprices:") : example.index("`shipped")])
    prices = Prices.model_validate(override["prices"])
    assert prices.mps["LiveStreamProcessTask"].per_hour == 1.2
    assert (prices.mps["WorkflowTask"].per_output_minute or {})["h264"]["HD"] == 0.025
    assert prices.dlc.per_cu_hour is None


def test_every_figure_has_a_source_and_dates() -> None:
    found = [
        *facts.MPS_PER_HOUR.values(),
        *(f for by_spec in facts.MPS_PER_OUTPUT_MINUTE.values() for f in by_spec.values()),
        facts.MPS_PER_AUDIO_MINUTE,
        facts.DLC_PER_GB_SCANNED,
        facts.DLC_PER_CU_HOUR,
        facts.LIVE_PER_HOUR,
    ]
    for fact in found:
        assert fact is not None
        assert fact.source.startswith("https://"), fact
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", fact.read_on), fact
        assert fact.page_updated is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", fact.page_updated)
        assert '"' in fact.note, f"{fact}: no quote of the page"
        assert fact.value > 0
