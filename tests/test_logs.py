"""Log redaction: secrets are removed by key name and by value, wherever they appear."""

from __future__ import annotations

import io
import json

import structlog

from taskwatch import logs
from taskwatch.tencent.credentials import Credentials

CANARY = "CANARY-SK-logs-0123456789abcdef"


def _render(**event: object) -> dict[str, object]:
    stream = io.StringIO()
    logs.configure(level="debug", json=True, stream=stream)
    try:
        structlog.get_logger("t").info("evt", **event)
    finally:
        structlog.reset_defaults()
    out: dict[str, object] = json.loads(stream.getvalue())
    return out


def test_values_of_secret_named_keys_are_replaced() -> None:
    out = _render(secret_key="whatever-value-1", token="t" * 20, Authorization="TC3 x")
    assert out["secret_key"] == logs.REDACTED
    assert out["token"] == logs.REDACTED
    assert out["Authorization"] == logs.REDACTED


def test_a_loaded_secret_is_scrubbed_from_any_text_that_echoes_it() -> None:
    Credentials("AKIDlogs000000000000000000000000001", CANARY)
    out = _render(error=f"server said: bad key {CANARY}!", nested={"list": [CANARY]})
    text = json.dumps(out)
    assert CANARY not in text
    assert "server said: bad key [redacted]!" in text


def test_json_output_is_one_object_per_line_with_level_and_utc_timestamp() -> None:
    out = _render(product="mps")
    assert out["event"] == "evt"
    assert out["level"] == "info"
    assert str(out["timestamp"]).endswith("Z")
    assert out["product"] == "mps"


def test_short_values_are_not_registered_because_they_would_collide_with_text() -> None:
    logs.register_secret("abc")
    assert logs.scrub("abcdef") == "abcdef"
