"""Fuzzing the two inputs taskwatch does not control: its config file and the API's answers.

Config: arbitrary YAML text and near-valid mappings through ``load_settings`` never raise anything
but :class:`ConfigError`, and its message names the file (and the key, when one is at fault).

Answers: arbitrary bytes, arbitrary JSON, and near-valid envelopes with wrong types (``TaskSet`` an
object, ``TotalCount`` a string, ``TaskInfos`` null, ``CreateTime`` garbage, records without ids)
go through the real client (signing, envelope parsing, the metrics observer) and the real adapters
of MPS, DLC and Live, for every action they use: list, detail, describe (fence) and act. Only the
socket is replaced, by a transport that answers with the fuzzed body. Nothing raises anything but a
:class:`TaskwatchError`; a watcher cycle never raises, and a failed one is counted in
``taskwatch_scan_errors_total`` under its error class; a body that is not an API envelope is counted
as ``ProtocolError`` in ``taskwatch_api_requests_total``.

The short form runs ~150 examples per property; ``--run-slow`` runs 2,000.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.clock import ManualClock
from taskwatch.errors import ConfigError, TaskwatchError
from taskwatch.metrics.registry import Metrics
from taskwatch.policy.engine import matches
from taskwatch.policy.rules import compile_rules
from taskwatch.products.base import Adapter, CallCounter
from taskwatch.products.dlc import DlcAdapter
from taskwatch.products.live import LiveAdapter
from taskwatch.products.mps import MpsAdapter
from taskwatch.settings import load_settings, parse_settings
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.errors import NOWHERE, CallSite
from taskwatch.tencent.retry import NO_RETRY
from taskwatch.tencent.transport import RawResponse, Transport
from taskwatch.watch import Watcher
from tests.canary import CANARY_SECRET_ID, CANARY_SECRET_KEY
from tests.emulator.harness import start_time

SLOW = os.environ.get("TASKWATCH_SLOW") == "1"
EXAMPLES = 2000 if SLOW else 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not SLOW,
)

# --- answers --------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["", "0", "1", "-1", "garbage", "0000-00-00T00:00:00Z", "2024-01-01T00:00:00Z",
         "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "1611646962000", "1e400",
         "PROCESSING", "FINISH", "WAITING", "enable", "LiveStreamProcessTask", "NaN"]
    ),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
RECORD_KEYS = [
    "TaskId", "Id", "TaskType", "CreateTime", "BeginProcessTime", "FinishTime", "Status",
    "State", "UpdateTime", "TotalTime", "UsedTime", "SQL", "StartTime", "EndTime", "SourceType",
    "SubTaskTypes", "SessionContext", "ErrCode", "Url", "SourceUrls",
]  # fmt: skip
records = st.dictionaries(st.sampled_from(RECORD_KEYS), json_values, max_size=8)
some_id = st.sampled_from(["t-1", "t-2", 7, "", None, ["t"], {"a": 1}, True])
good_records = st.builds(lambda r, i: {**r, "TaskId": i, "Id": i}, records, some_id)
TOP_KEYS = [
    "TaskSet", "ScrollToken", "TaskList", "TotalCount", "TaskInfos", "TotalPage",
    "TaskStatusInfo", "Status", "TaskType", "CreateTime", "BeginProcessTime", "FinishTime",
    "WorkflowTask", "LiveStreamProcessTask", "EditMediaTask", "Error",
]  # fmt: skip
LISTS = ("TaskSet", "TaskList", "TaskInfos")
near_valid = st.builds(
    lambda fields, lists, rid: {"Response": {**fields, **lists, "RequestId": rid}},
    st.dictionaries(st.sampled_from(TOP_KEYS), json_values, max_size=6),
    st.dictionaries(
        st.sampled_from(LISTS),
        st.one_of(st.none(), st.lists(st.one_of(good_records, json_values), max_size=4), records),
        max_size=3,
    ),
    st.one_of(st.just("req-1"), json_values),
)
errors = st.builds(
    lambda code, msg: {"Response": {"Error": {"Code": code, "Message": msg}, "RequestId": "r"}},
    st.one_of(
        st.sampled_from(
            ["RequestLimitExceeded", "InternalError", "ResourceNotFound", "AuthFailure",
             "InvalidParameterValue.NotProcessingTask", "InvalidParameter.TaskNotExist"]
        ),
        json_values,
    ),
    json_values,
)  # fmt: skip


def encode(doc: object) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(encode),
    near_valid.map(encode),
    near_valid.map(encode),
    near_valid.map(encode),
    errors.map(encode),
)
statuses = st.sampled_from([200, 200, 200, 200, 502, 404])


class Scripted(Transport):
    """Answers every request with one fuzzed response; counts what was sent."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__()
        self.answer = RawResponse(status=status, content_type="application/json", body=body)
        self.sent = 0

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes = b"",
        site: CallSite = NOWHERE,
    ) -> RawResponse:
        self.sent += 1
        assert CANARY_SECRET_KEY.encode() not in body
        return self.answer


def adapters(client: TencentClient, clock: ManualClock) -> list[Adapter]:
    return [
        MpsAdapter(client=client, account="main", clock=clock, max_pages=5),
        DlcAdapter(client=client, account="main", region="ap-guangzhou", clock=clock, max_pages=5),
        LiveAdapter(client=client, account="main", region="ap-guangzhou", clock=clock, max_pages=5),
    ]


RULES = compile_rules(
    parse_settings(
        {
            "accounts": [{"name": "main", "credentials": {"from": "env"}}],
            "policies": [
                {
                    "name": f"p-{product}",
                    "product": product,
                    "filters": [{"running_longer_than": "1h"}]
                    + ([{"type": "LiveStreamProcessTask"}] if product == "mps" else []),
                    "action": action,
                    "enforce": True,
                }
                for product, action in (("mps", "abort"), ("dlc", "cancel"), ("live", "delete"))
            ],
        },
        source="fuzz",
        environ={},
    ).policies,
    source="fuzz",
)


def is_envelope(status: int, body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    response = doc.get("Response") if isinstance(doc, dict) else None
    rid = response.get("RequestId") if isinstance(response, dict) else None
    return status == 200 and isinstance(rid, str) and bool(rid)


async def exercise(status: int, body: bytes) -> None:
    clock = ManualClock(wall=start_time(), mono=1000.0)
    metrics = Metrics(clock=clock)
    transport = Scripted(status, body)
    client = TencentClient(
        credentials=StaticCredentials(Credentials(CANARY_SECRET_ID, CANARY_SECRET_KEY)),
        transport=transport,
        endpoints=EndpointPolicy(override="http://127.0.0.1:9"),
        clock=clock,
        retry=NO_RETRY,
        observer=metrics,
    )
    for adapter in adapters(client, clock):
        watcher = Watcher(adapter=adapter, metrics=metrics, clock=clock)
        src = adapter.source
        labels = {"account": src.account, "product": src.product, "region": src.region}
        report = await watcher.cycle()  # never raises
        if report.ok:
            now = clock.now().timestamp()
            for task in watcher.actionable():  # what came out must be safe to evaluate
                for rule in RULES:
                    matches(rule, task, now=now)
        else:
            assert report.error is not None
            counted = metrics.registry.get_sample_value(
                "taskwatch_scan_errors_total", {**labels, "reason": report.error}
            )
            assert counted == 1, (report.error, counted)
            assert report.message
            assert CANARY_SECRET_KEY not in report.message
        for call in (  # each lambda is awaited in this iteration
            lambda: adapter.describe("t-1", CallCounter()),  # noqa: B023
            lambda: adapter.act("t-1", operator="taskwatch", calls=CallCounter()),  # noqa: B023
            lambda: adapter.refresh(list(watcher.actionable())[:3], CallCounter()),  # noqa: B023
        ):
            try:
                await call()
            except TaskwatchError as exc:
                assert CANARY_SECRET_KEY not in str(exc)  # noqa: PT017
    if transport.sent and not is_envelope(status, body):
        codes = ("ProtocolError", f"HTTP{status}")
        seen = sum(
            s.value
            for m in metrics.registry.collect()
            if m.name == "taskwatch_api_requests"
            for s in m.samples
            if s.name.endswith("_total") and s.labels.get("code") in codes
        )
        assert seen == transport.sent, (seen, transport.sent)


@FUZZ
@given(status=statuses, body=bodies)
def test_any_answer_to_any_call_is_a_counted_taskwatch_error_never_a_crash(
    status: int, body: bytes
) -> None:
    asyncio.run(exercise(status, body))


@pytest.mark.parametrize(
    "response",
    [
        {"TaskSet": {"TaskId": "t-1"}},
        {"TaskSet": [{"TaskId": "t-1"}], "ScrollToken": 5},
        {"TaskSet": ["t-1"]},
        {"TaskSet": [{"TaskType": "WorkflowTask"}]},
        {"TaskList": [{"Id": "a"}], "TotalCount": "many"},
        {"TaskList": [{"Id": "a"}], "TotalCount": float("inf")},
        {"TaskList": [{"Id": None}], "TotalCount": 1},
        {"TaskInfos": [{"TaskId": "x"}], "TotalPage": [1]},
        {"TaskInfos": [None]},
        {"TaskInfos": [{"TaskId": "t-1"}], "TaskStatusInfo": ["not", "an", "object"]},
    ],
)
async def test_a_malformed_listing_is_a_protocol_error_naming_the_field(
    response: dict[str, Any],
) -> None:
    body = encode({"Response": {**response, "RequestId": "r-1"}})
    clock = ManualClock(wall=start_time(), mono=1000.0)
    metrics = Metrics(clock=clock)
    client = TencentClient(
        credentials=StaticCredentials(Credentials(CANARY_SECRET_ID, CANARY_SECRET_KEY)),
        transport=Scripted(200, body),
        endpoints=EndpointPolicy(override="http://127.0.0.1:9"),
        clock=clock,
        retry=NO_RETRY,
        observer=metrics,
    )
    errors_seen = []
    for adapter in adapters(client, clock):
        watcher = Watcher(adapter=adapter, metrics=metrics, clock=clock)
        report = await watcher.cycle()
        if not report.ok:
            errors_seen.append((report.error, report.message))
        try:
            await adapter.describe("t-1", CallCounter())
        except TaskwatchError as exc:
            errors_seen.append((type(exc).__name__, str(exc)))
    assert errors_seen, "the malformed answer was not noticed by any adapter"
    for error, message in errors_seen:
        assert error in ("ProtocolError", "PagingError"), (error, message)
        if error == "ProtocolError":
            named = ("TaskSet", "ScrollToken", "TaskList", "TotalCount", "TaskInfos",
                     "TotalPage", "TaskStatusInfo", "TaskId", "Id", "Status", "TaskType",
                     "State", "SourceType", "RunStatus")  # fmt: skip
            assert any(f"{k} is not" in (message or "") or f"{k} is missing" in (message or "")
                       or f"{k}[" in (message or "") for k in named), message  # fmt: skip


# --- config ---------------------------------------------------------------------------------

CONFIG_KEYS: dict[str, Any] = {
    "accounts": st.one_of(
        st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["main", "x y", "", "a" * 70])},
                optional={
                    "credentials": st.one_of(
                        st.just({"from": "static", "secret_id": CANARY_SECRET_ID,
                                 "secret_key": CANARY_SECRET_KEY}),
                        st.just({"from": "env"}),
                        st.just({"from": "profile", "path": 3}),
                        json_values,
                    ),
                    "regions": st.one_of(st.just(["ap-guangzhou"]), json_values),
                    "endpoint": st.one_of(st.just("http://127.0.0.1:1"), json_values),
                },
            ),
            max_size=2,
        ),
        json_values,
    ),
    "products": st.one_of(
        st.just({"mps": {"interval": "5s"}}),
        st.dictionaries(st.sampled_from(["mps", "dlc", "live", "ecs"]),
                        st.dictionaries(st.sampled_from(["interval", "enabled", "jitter",
                                                         "finish_sweep", "page_size"]),
                                        json_values, max_size=3), max_size=3),
        json_values,
    ),
    "api": st.one_of(st.dictionaries(st.sampled_from(["budget", "timeout", "limits", "retry"]),
                                     json_values, max_size=3), json_values),
    "http": st.one_of(st.just({"listen": "127.0.0.1:0"}), st.dictionaries(
        st.sampled_from(["listen", "web_config"]), json_values, max_size=2)),
    "state": st.one_of(st.just({"path": "/tmp/x.db"}), json_values),
    "policies": st.one_of(
        st.lists(st.dictionaries(
            st.sampled_from(["name", "product", "filters", "action", "enforce", "grace",
                             "max_actions", "exclude", "operator"]),
            st.one_of(json_values, st.just([{"running_longer_than": "1h"}]),
                      st.sampled_from(["mps", "abort", "p-1"])),
            max_size=6), max_size=2),
        json_values,
    ),
    "actions": st.one_of(st.dictionaries(st.sampled_from(["paused", "max_per_cycle"]),
                                         json_values, max_size=2), json_values),
    "logging": json_values,
    "bogus": json_values,
}  # fmt: skip
config_mappings = st.fixed_dictionaries({}, optional=CONFIG_KEYS)


def dump(doc: object) -> str:
    return yaml.safe_dump(
        json.loads(json.dumps(doc, allow_nan=True, default=str)), allow_unicode=True
    )


config_texts = st.one_of(
    config_mappings.map(dump),
    st.text(max_size=200),
    st.sampled_from(
        ["", "---\n", "a: [", "accounts: !!python/object:os.system x", "&a [*a]",
         "accounts: ${NOPE}\n", "accounts:\n  - name: main\n    credentials: ${X:?unset}\n",
         "\t- x", "{a: 1, a: 2}", "x: " + "[" * 2000]
    ),
)  # fmt: skip


def config_error_named(exc: ConfigError, path: Path) -> None:
    text = str(exc)
    assert exc.file == str(path), text
    assert text.startswith(str(path)), text
    if exc.key is not None:
        assert exc.key in text, text
    assert CANARY_SECRET_KEY not in text, text


@FUZZ
@given(text=config_texts)
def test_any_config_file_loads_or_fails_with_a_config_error_naming_file_and_key(
    text: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "taskwatch.yaml"
    path.write_text(text)
    try:
        load_settings(path, environ={"HOME": "/root"})
    except ConfigError as exc:
        config_error_named(exc, path)


@FUZZ
@given(doc=config_mappings)
def test_a_mapping_with_a_bad_key_names_that_key(
    doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "taskwatch.yaml"
    path.write_text(dump(doc))
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        config_error_named(exc, path)
        # The file parsed as a non-empty mapping: the error is about one of its keys.
        if doc and not text_is_empty_mapping(path):
            assert exc.key, str(exc)  # noqa: PT017


def test_a_control_character_in_the_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "taskwatch.yaml"
    path.write_text("accounts:\x08\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    config_error_named(caught.value, path)


def text_is_empty_mapping(path: Path) -> bool:
    data = yaml.safe_load(path.read_text())
    return not isinstance(data, dict) or not data
