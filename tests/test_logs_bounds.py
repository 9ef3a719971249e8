"""The one scrubbing function, beyond registered secrets: values that say what they are (a
``NotifyKey=…``, a URL's password), and the cap on what one text, or one log line, may carry.

``tests/test_logs.py`` covers redaction by key name and of registered secrets; this module covers
what an API may echo that taskwatch never loaded, and size.
"""

from __future__ import annotations

import io
import json
import time

import pytest
import structlog

from taskwatch import logs

MiB = 1 << 20


def render(**event: object) -> str:
    stream = io.StringIO()
    logs.configure(level="debug", json=True, stream=stream)
    try:
        structlog.get_logger("t").info("evt", **event)
    finally:
        structlog.reset_defaults()
    return stream.getvalue()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("callback NotifyKey=nk-7f3a9c2e51d8 is invalid", "nk-7f3a9c2e51d8"),
        ('{"NotifyKey": "nk-7f3a9c2e51d8", "NotifyUrl": "http://cb"}', "nk-7f3a9c2e51d8"),
        ("{'token': 'tok-55aa01', 'x': 1}", "tok-55aa01"),
        ("SecretKey = sk-0f9e8d7c6b5a", "sk-0f9e8d7c6b5a"),
        ("X-TC-Token: eyJhbGciOiJIUzI1NiJ9.e30.abc123", "eyJhbGciOiJIUzI1NiJ9.e30.abc123"),
        ("fetch https://ops:hunter2@cos.example.com/a.mp4 failed", "hunter2"),
        ("fetch https://ghp_abcdef123456@git.example.com/r failed", "ghp_abcdef123456"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xx", "693a91f6-7xx"),
        ("https://b.cos.example.com/o?q-sign-time=1;2&q-signature=9f8e7d6c&x=1", "9f8e7d6c"),
        ("https://b.example.com/o?sign=3a4b5c6d7e8f", "3a4b5c6d7e8f"),
        ("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123"),
        ("login with password: s3cret-pa55word", "s3cret-pa55word"),
    ],
)
def test_a_value_that_says_it_is_secret_is_scrubbed_without_being_registered(
    text: str, secret: str
) -> None:
    scrubbed = logs.scrub(text)
    assert secret not in scrubbed
    assert logs.REDACTED in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "taskwatch.yaml: accounts[0].credentials.secret_key: must be a string",
        "InvalidParameterValue.Limit: Limit=1000 is out of range (RequestId r-1)",
        "mps.DescribeTasks: TaskId=1250000000-WorkflowTask-abct0 not found",
        "mps DescribeTasks Status=WAITING: page 2 repeated ScrollToken 'abc'",
        "cannot connect: ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default",
        "http://127.0.0.1:9460/ answered 502",
    ],
)
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert logs.scrub(text) == text


def test_bounded_cuts_a_long_text_and_says_how_much_was_cut() -> None:
    text = "a" * 5000
    out = logs.bounded(text, 1000)
    assert out == "a" * 1000 + "…[4000 more characters]"
    assert logs.bounded("short", 1000) == "short"


def test_bounded_scrubs_before_it_cuts_so_no_head_of_a_secret_is_left() -> None:
    logs.register_secret("CANARY-SK-bounds-7e1d02c4f9")
    text = "x" * 995 + "CANARY-SK-bounds-7e1d02c4f9" + "y" * 100
    out = logs.bounded(text, 1000)
    assert "CANARY" not in out
    assert out.startswith("x" * 995 + "[reda…")


def test_a_huge_log_value_makes_a_line_of_bounded_size() -> None:
    line = render(reason="z" * (5 * MiB), nested={"list": ["w" * (5 * MiB)]})
    assert len(line) < 3 * logs.LOG_VALUE_LIMIT
    out = json.loads(line)
    assert out["reason"].startswith("z" * 100)
    assert out["reason"].endswith("more characters]")
    assert out["nested"]["list"][0].endswith("more characters]")


def test_a_traceback_keeps_more_but_is_capped_too() -> None:
    try:
        raise ValueError("q" * (5 * MiB))
    except ValueError:
        line = render(exc_info=True)
    out = json.loads(line)
    assert "Traceback" in out["exception"]
    assert len(line) < 2 * logs.LOG_EXCEPTION_LIMIT


@pytest.mark.parametrize(
    "text",
    [
        "pwd:" * 20_000,  # took 16 s while the value's digit was looked for past every colon
        "'key': '" + "x" * 66_000,
        ("://" + "a" * 100) * 600,
        ("a" * 63 + "key.") * 1_000,
        "x." * 40_000,
    ],
)
def test_scrubbing_adversarial_text_takes_linear_time(text: str) -> None:
    started = time.perf_counter()
    logs.bounded(text, 1000)
    assert time.perf_counter() - started < 2.0  # linear: ~0.03 s; quadratic: seconds to minutes
