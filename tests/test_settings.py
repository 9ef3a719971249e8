"""The configuration file: the shipped examples, defaults, every rule, environment expansion, and
errors that read ``file: key: reason`` without a traceback or a secret."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.errors import ConfigError
from taskwatch.limiter import DOCUMENTED_LIMITS, Limiter
from taskwatch.models import Outcome
from taskwatch.settings import (
    PRODUCT_NAMES,
    Api,
    OutcomeName,
    Settings,
    json_schema,
    load_settings,
    parse_settings,
)
from taskwatch.tencent import catalog, client
from taskwatch.tencent.credentials import (
    DirectoryCredentials,
    EnvCredentials,
    ProfileCredentials,
    StaticCredentials,
    from_config,
)
from taskwatch.tencent.endpoints import EndpointPolicy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "taskwatch.example.yaml"
DEMO = ROOT / "config" / "demo.yaml"
EMULATOR_DEMO = ROOT / "config" / "emulator" / "demo.yaml"
ACTIONS = {name: product.actions for name, product in catalog.PRODUCTS.items()}
CANARY = "CANARY-SECRET-7f3a9c"
LEAKS = ("Traceback", "input_value", "pydantic", "errors.pydantic.dev", "Input should")


def minimal(**sections: Any) -> dict[str, Any]:
    """The smallest valid configuration, plus ``sections``."""
    return {"accounts": [{"name": "main", "credentials": {"from": "env"}}], **sections}


def account(**keys: Any) -> dict[str, Any]:
    return minimal(accounts=[{"name": "main", "credentials": {"from": "env"}, **keys}])


def policy(**keys: Any) -> dict[str, Any]:
    """A valid policy, changed by ``keys``."""
    spec = {
        "name": "stuck",
        "product": "mps",
        "action": "abort",
        "filters": [{"status": "WAITING"}],
    }
    return {**spec, **keys}


def hook(**keys: Any) -> dict[str, Any]:
    """A valid notification, changed by ``keys``."""
    return {"name": "ops", "url": f"https://hooks.internal/send?key={CANARY}", **keys}


def parse(data: object, environ: Mapping[str, str] | None = None, **kw: Any) -> Settings:
    return parse_settings(data, source="test.yaml", environ=environ or {}, **kw)


def error(data: object, environ: Mapping[str, str] | None = None, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(data, environ, **kw)
    assert_clean(info.value)
    return info.value


def assert_clean(err: ConfigError) -> None:
    text = str(err)
    for leak in (*LEAKS, CANARY):
        assert leak not in text
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None


def write(tmp_path: Path, text: str | bytes, name: str = "taskwatch.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def load_error(path: Path, environ: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    assert_clean(info.value)
    return str(info.value)


# --- the shipped files ---------------------------------------------------------------------------


def test_the_example_file_loads_and_spells_out_the_defaults() -> None:
    loaded = load_settings(EXAMPLE, environ={})
    assert loaded == parse(minimal())


def test_the_example_file_mentions_every_key_of_the_schema() -> None:
    text = EXAMPLE.read_text()
    schema = json_schema()
    keys: set[str] = set()

    def collect(node: Mapping[str, Any]) -> None:
        keys.update(node.get("properties", {}))

    collect(schema)
    for definition in schema["$defs"].values():
        collect(definition)
    missing = sorted(k for k in keys if not re.search(rf"\b{re.escape(k)}:", text))
    assert missing == []


def test_the_demo_file_points_at_the_emulator_with_its_key_pair() -> None:
    demo = load_settings(DEMO, environ={})
    emulator_keys = yaml.safe_load(EMULATOR_DEMO.read_text())["credentials"][0]
    (acct,) = demo.accounts
    assert acct.name == "demo"
    assert acct.endpoint == "http://127.0.0.1:9460"
    assert acct.regions == ("ap-guangzhou",)
    assert acct.credentials.to_spec() == {"from": "static", **emulator_keys}
    assert [demo.products.get(p).interval for p in PRODUCT_NAMES] == [5, 10, 10]
    assert {demo.products.get(p).finish_sweep for p in PRODUCT_NAMES} == {60}
    assert demo.http.listen == "127.0.0.1:10911"
    assert demo.state.path == Path("/tmp/taskwatch-demo/state.db")
    assert demo.logging.format == "console"


# --- defaults and helpers ------------------------------------------------------------------------


def test_a_minimal_file_gets_the_documented_defaults() -> None:
    s = parse(minimal())
    (acct,) = s.accounts
    assert acct.endpoint is None
    assert acct.regional is False
    assert acct.root_domain == "tencentcloudapi.com"
    assert acct.regions == ("ap-guangzhou",)
    assert (acct.products, acct.budget, acct.client_suffix) == (None, None, None)
    mps, dlc, live = (s.products.get(p) for p in PRODUCT_NAMES)
    assert (mps.interval, dlc.interval, live.interval) == (30, 60, 60)
    assert (mps.page_size, dlc.page_size, live.page_size) == (100, 100, 20)
    for p in (mps, dlc, live):
        assert (p.enabled, p.jitter, p.finish_sweep, p.detail_concurrency) == (True, 0.1, 600, 8)
    assert (s.api.budget, s.api.limits) == (0.5, {})
    assert (s.api.timeout, s.api.connect_timeout) == (30, 5)
    assert (s.api.retry_attempts, s.api.retry_deadline) == (4, 20)
    assert s.api.language == "en-US"
    assert (s.http.listen, s.http.host, s.http.port) == ("127.0.0.1:10911", "127.0.0.1", 10911)
    assert s.state.path == Path("/var/lib/taskwatch/state.db")
    assert (s.logging.level, s.logging.format) == ("info", "auto")
    assert (s.policies, s.notifications) == ((), ())
    assert (s.actions.paused, s.actions.max_per_cycle, s.actions.journal_retention) == (
        False,
        20,
        30 * 86400,
    )


def test_a_policy_keeps_its_filters_as_written_and_gets_safe_defaults() -> None:
    filters = [{"status": "WAITING"}, {"key": "detail.X.0", "op": "present"}]
    (p,) = parse(minimal(policies=[policy(filters=filters)])).policies
    assert (p.name, p.product, p.action) == ("stuck", "mps", "abort")
    assert p.filters == tuple(filters)
    assert (p.exclude, p.enforce, p.grace, p.operator) == (None, False, 0, "taskwatch")
    caps = p.max_actions
    assert (caps.per_cycle, caps.per_hour, caps.percent) == (None, None, None)


def test_a_policy_reads_every_key() -> None:
    spec = policy(
        name="delete.old-pulls_2",
        product="live",
        action="delete",
        exclude=[{"status": "pause"}],
        enforce=True,
        grace="5m",
        max_actions={"per_cycle": 10, "per_hour": 50, "percent": 20},
        operator="ops-bot",
    )
    (p,) = parse(minimal(policies=[spec])).policies
    assert (p.name, p.enforce, p.grace, p.operator) == ("delete.old-pulls_2", True, 300, "ops-bot")
    assert p.exclude == ({"status": "pause"},)
    caps = p.max_actions
    assert (caps.per_cycle, caps.per_hour, caps.percent) == (10, 50, 20.0)


def test_a_notification_gets_its_defaults_and_masks_its_url() -> None:
    (n,) = parse(minimal(notifications=[hook()])).notifications
    assert n.url.get_secret_value() == f"https://hooks.internal/send?key={CANARY}"
    assert (n.name, n.format, n.batch_size, n.attempts) == ("ops", "generic", 20, 3)
    assert (n.flush_interval, n.timeout) == (10, 5)
    assert n.results == ("done", "failed", "unknown")
    assert CANARY not in repr(n)
    assert CANARY not in str(n.model_dump(mode="json"))


def test_the_actions_section_reads_the_kill_switch_and_the_caps() -> None:
    actions = parse(
        minimal(actions={"paused": True, "max_per_cycle": 3, "journal_retention": "7d"})
    ).actions
    assert (actions.paused, actions.max_per_cycle, actions.journal_retention) == (True, 3, 604800)


def test_a_bad_policy_in_a_file_names_its_line_and_its_rule(tmp_path: Path) -> None:
    text = GOOD_ACCOUNT + (
        "policies:\n"
        "  - name: abort-stuck\n"
        "    product: mps\n"
        "    action: abort\n"
        "    filters: [{status: WAITING}]\n"
        "    grace: soon\n"
    )
    path = write(tmp_path, text)
    assert load_error(path) == (
        f"{path}: policies[0].grace: rule 'abort-stuck': 'soon' is not a duration "
        "(use e.g. 30s, 90m, 6h, 2d, 1h30m) (line 9)"
    )


def test_settings_are_frozen() -> None:
    s = parse(minimal())
    with pytest.raises(pydantic.ValidationError):
        s.api.budget = 1.0  # type: ignore[misc]


def test_several_accounts_each_with_their_own_budget_regions_and_products() -> None:
    s = parse(
        {
            "accounts": [
                {"name": "media", "credentials": "env", "regions": ["ap-guangzhou", "ap-beijing"]},
                {
                    "name": "analytics",
                    "credentials": {"from": "profile", "profile": "analytics"},
                    "products": ["dlc"],
                    "budget": 0.2,
                },
            ],
            "products": {"live": {"enabled": False}},
            "api": {"budget": 0.4},
        }
    )
    media, analytics = s.accounts
    assert (s.budget_for(media), s.budget_for(analytics)) == (0.4, 0.2)
    assert s.products_for(media) == ("mps", "dlc")
    assert s.products_for(analytics) == ("dlc",)
    assert [(a.name, p, r) for a, p, r in s.loops()] == [
        ("media", "mps", None),  # task ids are global: one source, not one per region
        ("media", "dlc", "ap-guangzhou"),
        ("media", "dlc", "ap-beijing"),
        ("analytics", "dlc", "ap-guangzhou"),
    ]


def test_loops_put_each_region_s_products_together_after_the_global_ones() -> None:
    s = parse(account(regions=["ap-guangzhou", "ap-beijing"]))
    assert [(p, r) for _, p, r in s.loops()] == [
        ("mps", None),
        ("dlc", "ap-guangzhou"),
        ("live", "ap-guangzhou"),
        ("dlc", "ap-beijing"),
        ("live", "ap-beijing"),
    ]


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30s", 30), ("90m", 5400), ("1h30m", 5400), ("2d", 172800), (45, 45), (2.5, 2.5), ("10", 10)],
)
def test_durations_are_written_with_units_or_as_seconds(written: object, seconds: float) -> None:
    assert parse(minimal(products={"dlc": {"interval": written}})).products.dlc.interval == seconds


def test_a_timeout_may_be_shorter_than_a_second() -> None:
    assert parse(minimal(api={"connect_timeout": "250ms"})).api.connect_timeout == 0.25


@pytest.mark.parametrize(
    ("key", "written", "reason"),
    [
        (
            "products.mps.interval",
            "fast",
            "'fast' is not a duration (use e.g. 30s, 90m, 6h, 2d, 1h30m)",
        ),
        ("products.mps.interval", "500ms", "must be at least 1s"),
        ("products.mps.finish_sweep", 0, "must be at least 1s"),
        ("api.timeout", "0s", "must be more than 0s"),
        ("api.timeout", "-5s", "'-5s': a duration must not be negative"),
        ("api.timeout", True, "must be a duration (e.g. 30s, 90m, 6h, 2d, 1h30m)"),
        ("api.timeout", [30], "must be a duration (e.g. 30s, 90m, 6h, 2d, 1h30m)"),
        ("api.retry_deadline", float("inf"), "must be a finite duration"),
    ],
)
def test_a_bad_duration_names_its_key(key: str, written: object, reason: str) -> None:
    section, *rest = key.split(".")
    value: Any = written
    for part in reversed(rest):
        value = {part: value}
    assert str(error(minimal(**{section: value}))) == f"test.yaml: {key}: {reason}"


def test_durations_dump_as_text_and_load_back_the_same() -> None:
    original = parse(minimal(products={"mps": {"interval": "1h30m"}}, api={"timeout": 45}))
    dumped = original.model_dump(mode="json", by_alias=True)
    assert dumped["products"]["mps"]["interval"] == "1h30m"
    assert dumped["api"]["timeout"] == "45s"
    assert parse(dumped) == original


# --- every rule ----------------------------------------------------------------------------------

RULES: list[tuple[dict[str, Any], str, str]] = [
    # accounts
    ({"accounts": []}, "accounts", "must not be empty"),
    ({"accounts": {"name": "main"}}, "accounts", "must be a list"),
    (
        account(name="Main"),
        "accounts[0].name",
        "'Main' is not an account name: lowercase letters, digits, '-' and '_', starting with a "
        "letter or digit, at most 63 characters",
    ),
    (
        account(name="a" * 64),
        "accounts[0].name",
        f"'{'a' * 64}' is not an account name: lowercase letters, digits, '-' and '_', starting "
        "with a letter or digit, at most 63 characters",
    ),
    (account(name=7), "accounts[0].name", "must be a string"),
    (account(regions=[]), "accounts[0].regions", "must not be empty"),
    (
        account(regions=["ap-guangzhou", "Guangzhou"]),
        "accounts[0].regions[1]",
        "'Guangzhou' is not a region name (e.g. ap-guangzhou)",
    ),
    (
        account(regions=["ap-guangzhou", "ap-guangzhou"]),
        "accounts[0].regions[1]",
        "'ap-guangzhou' is listed twice",
    ),
    (
        account(products=["mps", "vod"]),
        "accounts[0].products[1]",
        "must be one of 'mps', 'dlc' or 'live'",
    ),
    (
        account(products=["mp"]),
        "accounts[0].products[0]",
        "must be one of 'mps', 'dlc' or 'live' (did you mean 'mps'?)",
    ),
    (account(products=[]), "accounts[0].products", "must not be empty"),
    (account(products=["dlc", "dlc"]), "accounts[0].products[1]", "'dlc' is listed twice"),
    (
        {**account(products=["live"]), "products": {"live": {"enabled": False}}},
        "accounts[0].products[0]",
        "'live' is disabled (products.live.enabled)",
    ),
    (
        account(endpoint="ftp://127.0.0.1:9460"),
        "accounts[0].endpoint",
        "'ftp://127.0.0.1:9460' must be an absolute http(s) URL, e.g. http://127.0.0.1:9460",
    ),
    (
        account(endpoint="127.0.0.1:9460"),
        "accounts[0].endpoint",
        "'127.0.0.1:9460' must be an absolute http(s) URL, e.g. http://127.0.0.1:9460",
    ),
    (
        account(endpoint="http://127.0.0.1:9460/v3?x=1"),
        "accounts[0].endpoint",
        "'http://127.0.0.1:9460/v3?x=1' must have no path, query or fragment",
    ),
    (
        account(endpoint="http://127.0.0.1:99999"),
        "accounts[0].endpoint",
        "is not a URL with a valid port",
    ),
    (
        account(endpoint=f"http://user:{CANARY}@proxy:3128"),
        "accounts[0].endpoint",
        "must not carry a user name or password",
    ),
    (
        account(endpoint="http://127.0.0.1:9460", regional=True),
        "accounts[0].regional",
        "has no effect when endpoint is set",
    ),
    (
        account(endpoint="http://127.0.0.1:9460", root_domain="intl.tencentcloudapi.com"),
        "accounts[0].root_domain",
        "has no effect when endpoint is set",
    ),
    (
        account(root_domain="https://intl.tencentcloudapi.com"),
        "accounts[0].root_domain",
        "'https://intl.tencentcloudapi.com' is not a lower-case domain name",
    ),
    (account(regional="maybe"), "accounts[0].regional", "must be true or false"),
    (account(budget=0), "accounts[0].budget", "must be > 0 and <= 1"),
    (account(budget=True), "accounts[0].budget", "must be a number, not true or false"),
    (
        account(client_suffix="replica 1"),
        "accounts[0].client_suffix",
        "must be 1 to 128 of the characters 0-9 a-z A-Z - _ , ; .",
    ),
    (
        {"accounts": [{"name": "a", "credentials": "env"}, {"name": "a", "credentials": "env"}]},
        "accounts[1].name",
        "duplicate account name (also accounts[0])",
    ),
    # credentials
    ({"accounts": [{"name": "main"}]}, "accounts[0].credentials", "missing required key"),
    (
        account(credentials={}),
        "accounts[0].credentials.from",
        "missing required key (one of assume-role, cvm-role, directory, env, oidc, profile, "
        "static)",
    ),
    (
        account(credentials={"from": "enviroment"}),
        "accounts[0].credentials.from",
        "'enviroment' is not one of assume-role, cvm-role, directory, env, oidc, profile, static",
    ),
    (
        account(credentials={"from": "profil"}),
        "accounts[0].credentials.from",
        "'profil' is not one of assume-role, cvm-role, directory, env, oidc, profile, static "
        "(did you mean 'profile'?)",
    ),
    (
        account(credentials=CANARY),
        "accounts[0].credentials.from",
        "the value is not one of assume-role, cvm-role, directory, env, oidc, profile, static",
    ),
    (
        account(credentials=3),
        "accounts[0].credentials",
        "must be a mapping with 'from', or a source name (assume-role, cvm-role, directory, env, "
        "oidc, profile, static)",
    ),
    (
        account(credentials={"from": "profile", "profil": "x"}),
        "accounts[0].credentials.profil",
        "unknown key (did you mean 'profile'?)",
    ),
    (
        account(credentials={"from": "env", "path": "/x"}),
        "accounts[0].credentials.path",
        "unknown key",
    ),
    (
        account(credentials={"from": "static", "secret_id": "AKID"}),
        "accounts[0].credentials.secret_key",
        "missing required key",
    ),
    (
        account(credentials={"from": "static", "secret_id": "", "secret_key": CANARY}),
        "accounts[0].credentials.secret_id",
        "must not be empty",
    ),
    (
        account(credentials={"from": "directory", "path": ""}),
        "accounts[0].credentials.path",
        "must not be empty",
    ),
    # products
    ({**minimal(), "products": {"vod": {}}}, "products.vod", "unknown key"),
    (
        minimal(products={"mps": {"intervall": "5s"}}),
        "products.mps.intervall",
        "unknown key (did you mean 'interval'?)",
    ),
    (minimal(products={"mps": {"jitter": 0.6}}), "products.mps.jitter", "must be >= 0 and <= 0.5"),
    (
        minimal(products={"mps": {"page_size": 101}}),
        "products.mps.page_size",
        "must be >= 1 and <= 100",
    ),
    (
        minimal(products={"live": {"page_size": 21}}),
        "products.live.page_size",
        "must be >= 1 and <= 20",
    ),
    (minimal(products={"dlc": {"page_size": 2.5}}), "products.dlc.page_size", "must be an integer"),
    (
        minimal(products={"dlc": {"page_size": "many"}}),
        "products.dlc.page_size",
        "must be an integer",
    ),
    (
        minimal(products={"mps": {"detail_concurrency": 65}}),
        "products.mps.detail_concurrency",
        "must be >= 1 and <= 64",
    ),
    (
        minimal(products={"mps": {"enabled": "sometimes"}}),
        "products.mps.enabled",
        "must be true or false",
    ),
    (
        minimal(products={p: {"enabled": False} for p in ("mps", "dlc", "live")}),
        "products",
        "every product is disabled: nothing to watch",
    ),
    (minimal(products=["mps"]), "products", "must be a mapping"),
    # api
    (minimal(api={"budget": 0}), "api.budget", "must be > 0 and <= 1"),
    (minimal(api={"budget": 1.5}), "api.budget", "must be > 0 and <= 1"),
    (minimal(api={"budget": "half"}), "api.budget", "must be a number"),
    (minimal(api={"budget": float("nan")}), "api.budget", "must be a finite number"),
    (minimal(api={"retry_attempts": 0}), "api.retry_attempts", "must be >= 1 and <= 10"),
    (
        minimal(api={"timeout": "3s", "connect_timeout": "5s"}),
        "api.connect_timeout",
        "must not be longer than api.timeout",
    ),
    (minimal(api={"language": "fr-FR"}), "api.language", "must be one of 'en-US' or 'zh-CN'"),
    (
        minimal(api={"limits": {"mps": 10}}),
        "api.limits.mps",
        "'mps' is not a limit key: write product.Action, e.g. mps.DescribeTasks",
    ),
    (
        minimal(api={"limits": {"vod.DescribeTasks": 10}}),
        "api.limits.vod.DescribeTasks",
        "'vod.DescribeTasks' is not a limit key: write product.Action, e.g. mps.DescribeTasks",
    ),
    (
        minimal(api={"limits": {"mps.DescribeTasks": 0}}),
        "api.limits.mps.DescribeTasks",
        "must be > 0",
    ),
    (minimal(api={"limits": ["mps.DescribeTasks"]}), "api.limits", "must be a mapping"),
    # http, state, logging
    (
        minimal(http={"listen": "10911"}),
        "http.listen",
        "'10911' is not host:port (e.g. 127.0.0.1:10911, [::1]:10911)",
    ),
    (
        minimal(http={"listen": "localhost:65536"}),
        "http.listen",
        "'localhost:65536' is not host:port (e.g. 127.0.0.1:10911, [::1]:10911)",
    ),
    (
        minimal(http={"listen": "::1:10911"}),
        "http.listen",
        "'::1:10911': write an IPv6 address in brackets, e.g. [::1]:10911",
    ),
    (
        minimal(http={"listen": "[fe80::zz]:10911"}),
        "http.listen",
        "'[fe80::zz]:10911' is not host:port (e.g. 127.0.0.1:10911, [::1]:10911)",
    ),
    (
        minimal(http={"listen": "my host:10911"}),
        "http.listen",
        "'my host:10911' is not host:port (e.g. 127.0.0.1:10911, [::1]:10911)",
    ),
    (minimal(http={"listen": 10911}), "http.listen", "must be a string"),
    (minimal(state={"path": ""}), "state.path", "must not be empty"),
    (minimal(state={"path": 5}), "state.path", "must be a path"),
    (
        minimal(logging={"level": "warn"}),
        "logging.level",
        "must be one of 'debug', 'info', 'warning' or 'error' (did you mean 'warning'?)",
    ),
    (
        minimal(logging={"format": "text"}),
        "logging.format",
        "must be one of 'auto', 'json' or 'console'",
    ),
    # policies (their filters are compiled and checked by taskwatch.policy.rules)
    ({**minimal(), "policy": []}, "policy", "unknown key (did you mean 'policies'?)"),
    (minimal(policies={"name": "x"}), "policies", "must be a list"),
    (
        minimal(policies=[policy(name="Abort Live")]),
        "policies[0].name",
        "'Abort Live' is not a policy name: lowercase letters, digits, '-', '_' and '.', starting "
        "with a letter or digit, at most 63 characters (it is a metric label)",
    ),
    (
        minimal(policies=[policy(name="a" * 64)]),
        "policies[0].name",
        f"'{'a' * 64}' is not a policy name: lowercase letters, digits, '-', '_' and '.', starting "
        "with a letter or digit, at most 63 characters (it is a metric label)",
    ),
    (
        minimal(policies=[policy(), policy()]),
        "policies[1].name",
        "rule 'stuck': duplicate name (also policies[0])",
    ),
    (
        minimal(policies=[policy(product="vod")]),
        "policies[0].product",
        "rule 'stuck': must be one of 'mps', 'dlc' or 'live'",
    ),
    (
        minimal(policies=[policy(action="kill")]),
        "policies[0].action",
        "rule 'stuck': must be one of 'abort', 'cancel' or 'delete'",
    ),
    (
        minimal(policies=[{"name": "stuck", "product": "mps", "filters": [{"status": "WAITING"}]}]),
        "policies[0].action",
        "rule 'stuck': missing required key",
    ),
    (
        minimal(policies=[policy(filters=[])]),
        "policies[0].filters",
        "rule 'stuck': must not be empty: a policy without filters would match every task",
    ),
    (
        minimal(policies=[policy(filters={"status": "WAITING"})]),
        "policies[0].filters",
        "rule 'stuck': must be a list",
    ),
    (
        minimal(policies=[policy(exclude=[])]),
        "policies[0].exclude",
        "rule 'stuck': must not be empty",
    ),
    (
        minimal(policies=[policy(enforce="maybe")]),
        "policies[0].enforce",
        "rule 'stuck': must be true or false",
    ),
    (
        minimal(policies=[policy(grace="-5m")]),
        "policies[0].grace",
        "rule 'stuck': '-5m': a duration must not be negative",
    ),
    (
        minimal(policies=[policy(max_actions={"per_cycle": 0})]),
        "policies[0].max_actions.per_cycle",
        "rule 'stuck': must be >= 1",
    ),
    (
        minimal(policies=[policy(max_actions={"per_hour": 2.5})]),
        "policies[0].max_actions.per_hour",
        "rule 'stuck': must be an integer",
    ),
    (
        minimal(policies=[policy(max_actions={"percent": 0})]),
        "policies[0].max_actions.percent",
        "rule 'stuck': must be > 0 and <= 100",
    ),
    (
        minimal(policies=[policy(max_actions={"percent": 101})]),
        "policies[0].max_actions.percent",
        "rule 'stuck': must be > 0 and <= 100",
    ),
    (
        minimal(policies=[policy(max_actions={"per_cycl": 1})]),
        "policies[0].max_actions.per_cycl",
        "rule 'stuck': unknown key (did you mean 'per_cycle'?)",
    ),
    (
        minimal(policies=[policy(operator="alice")]),
        "policies[0].operator",
        "rule 'stuck': only live policies take an operator (DeleteLivePullStreamTask's Operator)",
    ),
    (
        minimal(policies=[policy(product="live", action="delete", operator="")]),
        "policies[0].operator",
        "rule 'stuck': must not be empty",
    ),
    (
        minimal(policies=[policy(enforced=True)]),
        "policies[0].enforced",
        "rule 'stuck': unknown key (did you mean 'enforce'?)",
    ),
    (
        {
            **minimal(policies=[policy(product="live", action="delete")]),
            "products": {"live": {"enabled": False}},
        },
        "policies[0].product",
        "rule 'stuck': 'live' is disabled (products.live.enabled)",
    ),
    # actions
    (minimal(actions={"pause": True}), "actions.pause", "unknown key (did you mean 'paused'?)"),
    (minimal(actions={"paused": "no way"}), "actions.paused", "must be true or false"),
    (minimal(actions={"max_per_cycle": 0}), "actions.max_per_cycle", "must be >= 1"),
    (
        minimal(actions={"journal_retention": 0}),
        "actions.journal_retention",
        "must be more than 0s",
    ),
    # notifications
    (minimal(notifications=[{"name": "ops"}]), "notifications[0].url", "missing required key"),
    (
        minimal(notifications=[hook(url=f"ftp://hooks.internal/{CANARY}")]),
        "notifications[0].url",
        "must be an absolute http(s) URL",
    ),
    (
        minimal(notifications=[hook(url=f"https://hooks.internal:99999/{CANARY}")]),
        "notifications[0].url",
        "is not a URL with a valid port",
    ),
    (
        minimal(notifications=[hook(url=f" https://hooks.internal/{CANARY}")]),
        "notifications[0].url",
        "has leading or trailing whitespace",
    ),
    (minimal(notifications=[hook(url=7)]), "notifications[0].url", "must be a string"),
    (
        minimal(notifications=[hook(name="Ops")]),
        "notifications[0].name",
        "'Ops' is not a notification name: lowercase letters, digits, '-' and '_', starting with a "
        "letter or digit, at most 63 characters",
    ),
    (
        minimal(notifications=[hook(), hook()]),
        "notifications[1].name",
        "duplicate name (also notifications[0])",
    ),
    (
        minimal(notifications=[hook(format="teams")]),
        "notifications[0].format",
        "must be one of 'generic', 'wecom' or 'slack'",
    ),
    (
        minimal(notifications=[hook(batch_size=0)]),
        "notifications[0].batch_size",
        "must be >= 1 and <= 1000",
    ),
    (
        minimal(notifications=[hook(attempts=11)]),
        "notifications[0].attempts",
        "must be >= 1 and <= 10",
    ),
    (
        minimal(notifications=[hook(flush_interval="0s")]),
        "notifications[0].flush_interval",
        "must be more than 0s",
    ),
    (minimal(notifications=[hook(results=[])]), "notifications[0].results", "must not be empty"),
    (
        minimal(notifications=[hook(results=["done", "dne"])]),
        "notifications[0].results[1]",
        "must be one of 'done', 'would', 'already_done', 'skipped_cap', 'fenced', 'failed' or "
        "'unknown' (did you mean 'done'?)",
    ),
    (
        minimal(notifications=[hook(results=["failed", "failed"])]),
        "notifications[0].results[1]",
        "'failed' is listed twice",
    ),
    # the top level
    ({**minimal(), "acounts": []}, "acounts", "unknown key (did you mean 'accounts'?)"),
    ({}, "accounts", "missing required key"),
]


@pytest.mark.parametrize(("data", "key", "reason"), RULES)
def test_every_rule_names_the_key_and_the_reason(
    data: dict[str, Any], key: str, reason: str
) -> None:
    err = error(data)
    assert (err.file, err.key, err.reason) == ("test.yaml", key, reason)
    assert str(err) == f"test.yaml: {key}: {reason}"


def test_several_problems_report_the_first_and_count_the_rest() -> None:
    err = error(account(name="Main", regions=[], budget=3))
    assert err.key == "accounts[0].name"
    assert err.reason.endswith(" (and 2 more)")


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:10911", "127.0.0.1", 10911),
        ("[::1]:10911", "::1", 10911),
        (":10911", None, 10911),
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("metrics.internal:80", "metrics.internal", 80),
    ],
)
def test_the_listen_address_splits_into_host_and_port(
    listen: str, host: str | None, port: int
) -> None:
    http = parse(minimal(http={"listen": listen})).http
    assert (http.host, http.port) == (host, port)


def test_the_state_path_expands_the_home_directory() -> None:
    path = parse(minimal(state={"path": "~/taskwatch/state.db"})).state.path
    assert path == Path.home() / "taskwatch" / "state.db"


# --- credentials and limits meet the layers above ------------------------------------------------


@pytest.mark.parametrize(
    ("written", "spec", "kind"),
    [
        ("env", {"from": "env"}, EnvCredentials),
        ({"from": "env"}, {"from": "env"}, EnvCredentials),
        ({"from": "profile"}, {"from": "profile", "profile": "default"}, ProfileCredentials),
        (
            {"from": "profile", "path": "/etc/tc", "profile": "ops"},
            {"from": "profile", "path": "/etc/tc", "profile": "ops"},
            ProfileCredentials,
        ),
        ({"from": "directory"}, {"from": "directory"}, DirectoryCredentials),
        (
            {"from": "directory", "path": "/run/c"},
            {"from": "directory", "path": "/run/c"},
            DirectoryCredentials,
        ),
        (
            {"from": "static", "secret_id": "AKIDx", "secret_key": CANARY, "token": ""},
            {"from": "static", "secret_id": "AKIDx", "secret_key": CANARY},
            StaticCredentials,
        ),
        (
            {"from": "static", "secret_id": "AKIDx", "secret_key": CANARY, "token": "tok"},
            {"from": "static", "secret_id": "AKIDx", "secret_key": CANARY, "token": "tok"},
            StaticCredentials,
        ),
    ],
)
def test_each_credential_source_becomes_the_spec_from_config_takes(
    written: object, spec: dict[str, str], kind: type
) -> None:
    (acct,) = parse(account(credentials=written)).accounts
    assert acct.credentials.to_spec() == spec
    assert isinstance(from_config(acct.credentials.to_spec()), kind)


def test_a_static_secret_is_masked_in_repr_and_dumps() -> None:
    s = parse(
        account(
            credentials={
                "from": "static",
                "secret_id": "AKIDx",
                "secret_key": CANARY,
                "token": CANARY,
            }
        )
    )
    assert CANARY not in repr(s)
    assert CANARY not in str(s.model_dump(mode="json"))


def test_limits_become_the_overrides_the_limiter_takes() -> None:
    limits = {f"{p}.{a}": 7.0 for p, a in DOCUMENTED_LIMITS}
    api = parse(minimal(api={"limits": limits}), actions=ACTIONS).api
    assert api.limit_overrides() == dict.fromkeys(DOCUMENTED_LIMITS, 7.0)
    limiter = Limiter(budget=api.budget, overrides=api.limit_overrides())
    assert limiter.limit("mps", "ManageTask") == 7.0


def test_limit_actions_are_checked_against_the_catalog_when_it_is_given() -> None:
    data = minimal(api={"limits": {"mps.DescribeTask": 5}})
    assert parse(data).api.limit_overrides() == {("mps", "DescribeTask"): 5.0}  # shape only
    err = error(data, actions=ACTIONS)
    assert str(err) == (
        "test.yaml: api.limits.mps.DescribeTask: mps has no action 'DescribeTask' "
        "(known: DescribeTaskDetail, DescribeTasks, ManageTask)"
    )


def test_the_facts_repeated_below_the_tencent_layer_match_their_owners() -> None:
    assert set(get_args(OutcomeName)) == {o.value for o in Outcome}
    assert set(get_args(Api.model_fields["language"].annotation)) == set(client.LANGUAGES)
    for suffix in ("replica-1", "a,b;c.d_e", "x" * 128, "x" * 129, "a b", "é"):
        rejected = client._CLIENT_SUFFIX.match(suffix) is None
        assert _fails(account(client_suffix=suffix)) == rejected, suffix


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9460",
        "https://proxy.internal/",
        "HTTP://Example.COM:8080",
        "http://[::1]:9460",
        "ftp://x",
        "http://x:99999",
        "http://u:p@x",
        "http://x/path",
        "http://x?q",
        "http://",
        "x:9460",
    ],
)
def test_endpoint_rules_agree_with_the_endpoint_policy(url: str) -> None:
    try:
        EndpointPolicy(override=url)
        policy_accepts = True
    except ValueError:
        policy_accepts = False
    assert (not _fails(account(endpoint=url))) == policy_accepts


def _fails(data: object) -> bool:
    try:
        parse(data)
    except ConfigError:
        return True
    return False


# --- environment expansion -----------------------------------------------------------------------


def test_environment_variables_expand_in_string_values() -> None:
    s = parse(
        account(
            endpoint="${TW_ENDPOINT}",
            client_suffix="${HOSTNAME:-solo}",
            regions=["${TW_REGION:-ap-guangzhou}", "ap-${TW_CITY}"],
        )
        | {"api": {"budget": "${TW_BUDGET:-0.25}"}, "state": {"path": "${STATE_DIR}/state.db"}},
        environ={"TW_ENDPOINT": "http://emulator:9460", "TW_CITY": "beijing", "STATE_DIR": "/data"},
    )
    (acct,) = s.accounts
    assert acct.endpoint == "http://emulator:9460"
    assert acct.client_suffix == "solo"
    assert acct.regions == ("ap-guangzhou", "ap-beijing")
    assert s.api.budget == 0.25
    assert s.state.path == Path("/data/state.db")


def test_a_default_applies_when_the_variable_is_empty_and_an_empty_endpoint_is_no_override() -> (
    None
):
    s = parse(
        account(endpoint="${TW_ENDPOINT:-}", client_suffix="${HOSTNAME:-}"),
        environ={"TW_ENDPOINT": ""},
    )
    assert s.accounts[0].endpoint is None
    assert s.accounts[0].client_suffix is None


def test_a_doubled_dollar_is_a_literal_and_keys_are_never_expanded() -> None:
    s = parse(minimal(state={"path": "/srv/$${HOME}/a$b.db"}), environ={"HOME": "/root"})
    assert s.state.path == Path("/srv/${HOME}/a$b.db")
    err = error({**minimal(), "${KEY}": 1}, environ={"KEY": "api"})
    assert str(err) == "test.yaml: ${KEY}: unknown key"


def test_an_unset_variable_names_the_key_and_the_variable() -> None:
    err = error(account(endpoint="${TW_ENDPOINT}"))
    assert str(err) == (
        "test.yaml: accounts[0].endpoint: environment variable TW_ENDPOINT is not set "
        "(write ${TW_ENDPOINT:-default} to give a default)"
    )


def test_a_malformed_reference_is_an_error() -> None:
    err = error(account(regions=["${1REGION}"]))
    assert str(err) == (
        "test.yaml: accounts[0].regions[0]: '${' must start ${NAME} or ${NAME:-default} "
        "(write $${ for a literal ${)"
    )


def test_an_expanded_secret_is_never_echoed() -> None:
    data = account(credentials={"from": "static", "secret_id": "AKIDx", "secret_key": "${KEY}"})
    err = error(data, environ={"KEY": f" {CANARY} "})
    assert (
        str(err)
        == "test.yaml: accounts[0].credentials.secret_key: has leading or trailing whitespace"
    )


# --- bad files -----------------------------------------------------------------------------------

GOOD_ACCOUNT = "accounts:\n  - name: main\n    credentials: {from: env}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("products: {}\n", "{file}: accounts: missing required key"),
        (GOOD_ACCOUNT + "api:\n  budget: [0.5]\n", "{file}: api.budget: must be a number (line 5)"),
        (
            GOOD_ACCOUNT + "products:\n  mps:\n    intervl: 30s\n",
            "{file}: products.mps.intervl: unknown key (did you mean 'interval'?) (line 6)",
        ),
        (
            GOOD_ACCOUNT + "products:\n  mps: {interval: fast}\n",
            "{file}: products.mps.interval: 'fast' is not a duration "
            "(use e.g. 30s, 90m, 6h, 2d, 1h30m) (line 5)",
        ),
        (
            GOOD_ACCOUNT + "    regions:\n      - ap-guangzhou\n      - guangzhou\n",
            "{file}: accounts[0].regions[1]: 'guangzhou' is not a region name (e.g. ap-guangzhou) "
            "(line 6)",
        ),
        (
            "accounts:\n  - name: a\n    credentials: env\n  - name: a\n    credentials: env\n",
            "{file}: accounts[1].name: duplicate account name (also accounts[0]) (line 4)",
        ),
        (
            GOOD_ACCOUNT + "http:\n  listen: 127.0.0.1:10911\n  listen: 127.0.0.1:10912\n",
            "{file}: http.listen: duplicate key, at lines 5 and 6",
        ),
        (
            GOOD_ACCOUNT + "api:\n  budget: 0.5\n   timeout: 5s\n",
            "{file}: not valid YAML: mapping values are not allowed here (line 6, column 11)",
        ),
        (
            GOOD_ACCOUNT + "http: {listen: 1\n",
            "{file}: not valid YAML: while parsing a flow mapping; expected ',' or '}', "
            "but got '<stream end>' (line 5, column 1)",
        ),
        ("", "{file}: the file is empty (it needs at least 'accounts')"),
        ("# nothing but a comment\n", "{file}: the file is empty (it needs at least 'accounts')"),
        ("- name: main\n", "{file}: the top level must be a mapping of keys, not a list"),
        ("just text\n", "{file}: the top level must be a mapping of keys, not a str"),
        (
            "a: 1\n---\nb: 2\n",
            "{file}: not valid YAML: expected a single document in the stream; "
            "but found another document (line 2, column 1)",
        ),
        ("1: one\n", "{file}: key '1' is not a string"),
        (
            "x: !!python/object:os.system {}\n",
            "{file}: not valid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system' (line 1, column 4)",
        ),
    ],
)
def test_a_bad_file_reads_file_key_reason(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path) == expected.replace("{file}", str(path))


def test_a_missing_file_reads_file_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert load_error(path) == f"{path}: No such file or directory"


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: Is a directory"


def test_an_unreadable_file_reads_file_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD_ACCOUNT)

    def denied(self: Path, *args: object, **kwargs: object) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)  # root reads anything, so no chmod here
    assert load_error(path) == f"{path}: Permission denied"


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"accounts: \xff\xfe\n")
    assert load_error(path) == f"{path}: not UTF-8 text (byte 10)"


@pytest.mark.parametrize(
    "secret_lines",
    [
        f"      secret_key: ' {CANARY}'\n",  # whitespace
        f"      secret_key: {CANARY}\n      token: '{CANARY} '\n",
        f"      secret_kye: {CANARY}\n",  # a typo in the key
        f"      secret_key: {CANARY}\n      secret_key: {CANARY}\n",  # duplicate key
        f"      secret_key: '{CANARY}\n",  # unterminated quote
        f"      secret_key: {CANARY}: x\n",  # YAML syntax
        f"      secret_key: [{CANARY}]\n",  # wrong type
    ],
)
def test_a_static_secret_is_never_echoed(tmp_path: Path, secret_lines: str) -> None:
    text = (
        "accounts:\n  - name: main\n    credentials:\n      from: static\n      secret_id: AKIDx\n"
        + secret_lines
    )
    message = load_error(write(tmp_path, text))
    assert CANARY not in message
    assert "credentials" in message or "YAML" in message


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert load_error(path) == f"{path}: too large or too deeply nested"


def test_a_recursive_structure_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts: &a [*a]\n")
    assert load_error(path) == f"{path}: too large or too deeply nested"


# --- the schema ----------------------------------------------------------------------------------


def test_the_json_schema_forbids_unknown_keys_everywhere_and_is_a_fresh_copy() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["accounts"]
    objects = [schema, *(d for d in schema["$defs"].values() if d.get("type") == "object")]
    assert all(obj["additionalProperties"] is False for obj in objects)
    credentials = schema["$defs"]["Account"]["properties"]["credentials"]
    assert credentials["discriminator"]["propertyName"] == "from"
    budget = schema["$defs"]["Api"]["properties"]["budget"]
    assert (budget["exclusiveMinimum"], budget["maximum"]) == (0, 1)
    assert "description" in schema["$defs"]["MpsSettings"]["properties"]["interval"]
    schema["$defs"].clear()
    assert json_schema()["$defs"]


# --- no input gets anything but a ConfigError ----------------------------------------------------

KEYS = st.sampled_from(
    [
        "accounts", "name", "credentials", "from", "endpoint", "regions", "products", "budget",
        "mps", "dlc", "live", "interval", "enabled", "api", "limits", "http", "listen", "state",
        "path", "logging", "level", "secret_key", "mps.DescribeTasks", "x",
        "policies", "product", "action", "filters", "exclude", "grace", "max_actions",
        "percent", "operator", "actions", "paused", "notifications", "url", "results",
    ]
)  # fmt: skip
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["env", "static", "30s", "${X}", "${Y:-1}", "$${", "ap-guangzhou", "[::1]:1"])
    | st.sampled_from(["mps", "abort", "live", "delete", "done", "https://h/x", "a.b"])
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.integers(), inner, max_size=5)
    ),
    max_leaves=25,
)


ACCOUNTS = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b", "Bad"]), "credentials": VALUES | st.just("env")},
        optional=dict.fromkeys(("endpoint", "regions", "products", "budget", "x"), VALUES),
    ),
    max_size=3,
)
DOCUMENTS = (
    st.dictionaries(KEYS, VALUES, max_size=6)
    | VALUES
    | st.fixed_dictionaries(
        {"accounts": ACCOUNTS},
        optional={
            **dict.fromkeys(("products", "api", "http", "state", "logging", "x"), VALUES),
            **dict.fromkeys(("actions", "notifications"), VALUES),
            "policies": st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["p", "p", "Bad"]), "filters": VALUES},
                    optional=dict.fromkeys(
                        ("product", "action", "exclude", "grace", "max_actions", "operator"),
                        VALUES,
                    ),
                ),
                max_size=2,
            )
            | VALUES,
        },
    )
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=DOCUMENTS)
def test_any_yaml_like_input_gives_settings_or_a_config_error(data: object) -> None:
    problem: ConfigError | None = None
    try:
        parse(copy.deepcopy(data), environ={"X": "1"})
    except ConfigError as err:
        problem = err
    if problem is not None:
        assert_clean(problem)
        assert str(problem).startswith("test.yaml")
