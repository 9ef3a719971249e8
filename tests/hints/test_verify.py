"""Verifying notification bodies: MPS signatures and expiries, Live tokens and event times."""

from __future__ import annotations

import json

import pytest

from taskwatch.hints import Hint, Verdict, verify_live, verify_mps
from taskwatch.hints.verify import SKEW
from taskwatch.settings.events import AccountEvents
from tests.hints.kit import (
    KEY,
    LIVE_PROCESS_ID,
    NOW,
    OLD_KEY,
    PULL_ID,
    TOKEN,
    WORKFLOW_ID,
    events,
    live_body,
    live_stream_body,
    mps_body,
    sign,
)

SECRETS: dict[str, AccountEvents | None] = {
    "prod": events(),
    "bare": None,
    "mps-only": events(live=None),
    "live-only": events(mps=()),
}
MAX_AGE = 600.0


def mps(body: bytes, account: str = "prod", *, now: float = NOW) -> Verdict:
    return verify_mps(
        body, account=account, secrets=SECRETS, now=now, max_age=MAX_AGE, received=7.0
    )


def live(body: bytes, account: str = "prod", token: str = TOKEN, *, now: float = NOW) -> Verdict:
    return verify_live(
        body,
        account=account,
        token=token,
        secrets=SECRETS,
        now=now,
        max_age=MAX_AGE,
        received=7.0,
    )


@pytest.mark.parametrize("event", ["WorkflowTask", "EditMediaTask", "ScheduleTask"])
def test_an_mps_notification_signed_with_the_key_becomes_a_hint_for_its_task(event: str) -> None:
    verdict = mps(mps_body(event=event))
    assert verdict.reason is None
    assert verdict.hint == Hint("prod", "mps", WORKFLOW_ID, event, 7.0)
    assert verdict.kind == event
    assert verdict.expires == NOW + 600


def test_a_live_stream_processing_notification_names_its_task_at_the_top() -> None:
    verdict = mps(live_stream_body())
    assert verdict.hint == Hint("prod", "mps", LIVE_PROCESS_ID, "ProcessEof", 7.0)


def test_the_region_of_the_url_is_carried_by_the_hint() -> None:
    verdict = verify_mps(
        mps_body(),
        account="prod",
        secrets=SECRETS,
        now=NOW,
        max_age=MAX_AGE,
        received=0.0,
        region="ap-shanghai",
    )
    assert verdict.hint is not None
    assert verdict.hint.region == "ap-shanghai"


def test_any_of_the_accounts_keys_verifies_so_a_key_can_be_rotated() -> None:
    assert mps(mps_body(key=OLD_KEY)).hint is not None
    assert mps(mps_body(key=KEY)).hint is not None


def test_a_signature_with_another_key_is_forged() -> None:
    verdict = mps(mps_body(key="someone-elses-key"))
    assert (verdict.reason, verdict.hint, verdict.kind) == ("forged", None, "WorkflowTask")


def test_a_signature_of_another_timestamp_is_forged() -> None:
    data = json.loads(mps_body())
    data["Sign"] = sign(int(NOW + 300), KEY)
    assert mps(json.dumps(data).encode()).reason == "forged"


def test_an_uppercase_signature_is_the_same_signature() -> None:
    data = json.loads(mps_body())
    data["Sign"] = data["Sign"].upper()
    assert mps(json.dumps(data).encode()).hint is not None


def test_a_notification_whose_timestamp_has_passed_is_expired() -> None:
    assert mps(mps_body(expires=NOW - 1)).reason == "expired"
    assert mps(mps_body(expires=NOW)).hint is not None  # the last valid second


def test_a_timestamp_further_ahead_than_max_age_and_the_clock_skew_is_future() -> None:
    assert mps(mps_body(expires=NOW + MAX_AGE + SKEW + 1)).reason == "future"
    assert mps(mps_body(expires=NOW + MAX_AGE + SKEW)).hint is not None


def test_mps_s_default_expiry_from_a_clock_a_little_ahead_is_accepted() -> None:
    """MPS stamps its send time plus 10 minutes (the default ``max_age``): from a clock a second,
    or a minute, ahead of this host's, the notification is no less genuine."""
    assert MAX_AGE == 600
    for ahead in (0.4, 1, 60):
        assert mps(mps_body(expires=int(NOW + ahead) + 600)).hint is not None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"a string"',
        b"[" * 100_000,
        json.dumps({"Timestamp": 1, "Sign": "0" * 32}).encode(),  # no EventType
        json.dumps({"EventType": 7, "Timestamp": 1, "Sign": "0" * 32}).encode(),
    ],
)
def test_a_body_that_is_not_a_notification_object_is_malformed(body: bytes) -> None:
    verdict = mps(body)
    assert (verdict.reason, verdict.hint) == ("malformed", None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Timestamp", None),
        ("Timestamp", True),
        ("Timestamp", -5),
        ("Timestamp", "soon"),
        ("Timestamp", 1.5),
        ("Sign", None),
        ("Sign", 12),
        ("Sign", "abc"),
        ("Sign", "z" * 32),
    ],
)
def test_a_missing_or_wrong_typed_timestamp_or_sign_is_malformed(field: str, value: object) -> None:
    data = json.loads(mps_body())
    data[field] = value
    assert mps(json.dumps(data).encode()).reason == "malformed"


def test_a_timestamp_sent_as_a_string_of_digits_is_read_as_signed() -> None:
    data = json.loads(mps_body())
    data["Timestamp"] = str(data["Timestamp"])
    assert mps(json.dumps(data).encode()).hint is not None


@pytest.mark.parametrize("task_id", [None, "", 12.5, "two words", "x" * 300, "\x00id"])
def test_a_signed_notification_without_a_usable_task_id_is_malformed(task_id: object) -> None:
    data = json.loads(mps_body())
    data["WorkflowTaskEvent"]["TaskId"] = task_id
    assert mps(json.dumps(data).encode()).reason == "malformed"


def test_an_undocumented_event_type_is_read_from_its_event_field() -> None:
    data = json.loads(mps_body())
    data["EventType"] = "FutureTask"
    data["FutureTaskEvent"] = data.pop("WorkflowTaskEvent")
    verdict = mps(json.dumps(data).encode())
    assert verdict.hint is not None
    assert (verdict.hint.kind, verdict.hint.task_id) == ("FutureTask", WORKFLOW_ID)


def test_an_account_not_in_the_configuration_is_unknown() -> None:
    assert mps(mps_body(), account="stranger").reason == "unknown_account"
    assert live(live_body(), account="stranger").reason == "unknown_account"


def test_an_account_without_the_products_secret_is_not_configured() -> None:
    assert mps(mps_body(), account="bare").reason == "not_configured"
    assert mps(mps_body(), account="live-only").reason == "not_configured"
    assert live(live_body(), account="bare").reason == "not_configured"
    assert live(live_body(), account="mps-only").reason == "not_configured"


def test_the_account_is_checked_before_the_body_so_garbage_for_a_stranger_is_unknown() -> None:
    assert mps(b"garbage", account="stranger").reason == "unknown_account"


def test_a_live_callback_with_the_token_becomes_a_hint() -> None:
    verdict = live(live_body(event="TaskExit"))
    assert verdict.hint == Hint("prod", "live", PULL_ID, "TaskExit", 7.0)
    assert verdict.expires == NOW + MAX_AGE


def test_a_live_task_id_may_be_a_number() -> None:
    verdict = live(live_body(task_id=63229997))
    assert verdict.hint is not None
    assert verdict.hint.task_id == "63229997"


@pytest.mark.parametrize("token", ["", "wrong-token-000000000000", TOKEN[:-1], TOKEN + "x", "é"])
def test_a_live_callback_with_another_token_is_forged(token: str) -> None:
    verdict = live(live_body(), token=token)
    assert (verdict.reason, verdict.kind) == ("forged", "TaskStart")


def test_the_live_token_is_checked_before_the_body() -> None:
    assert live(b"garbage", token="wrong-token-000000000000").reason == "forged"
    assert live(b"garbage").reason == "malformed"


def test_a_live_callback_older_than_max_age_is_expired_and_one_ahead_of_it_future() -> None:
    assert live(live_body(event_time=NOW - MAX_AGE - 1)).reason == "expired"
    assert live(live_body(event_time=NOW - MAX_AGE)).hint is not None
    assert live(live_body(event_time=NOW + MAX_AGE + 1)).reason == "future"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("callback_event", None),
        ("callback_event", 3),
        ("task_id", None),
        ("task_id", True),
        ("task_id", ""),
        ("event_time", None),
        ("event_time", "yesterday"),
        ("event_time", True),
    ],
)
def test_a_live_callback_missing_a_field_is_malformed(field: str, value: object) -> None:
    data = json.loads(live_body())
    data[field] = value
    assert live(json.dumps(data).encode()).reason == "malformed"


def test_no_verdict_text_holds_a_secret() -> None:
    verdicts = [
        mps(mps_body(key="wrong-key-1234")),
        mps(mps_body(expires=NOW - 10)),
        live(live_body(), token="wrong-token-000000000000"),
        mps(b"{}"),
    ]
    text = repr(verdicts)
    assert KEY not in text
    assert TOKEN not in text
