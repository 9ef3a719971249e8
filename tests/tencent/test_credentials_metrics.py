"""Role-credential renewals are observable, and their keys leave the scrubbing registry.

* ``taskwatch_credentials_refreshes_total{account,source,result}`` and
  ``taskwatch_credentials_expiry_timestamp_seconds{account,source}``, read from a daemon built
  the way the runtime builds it (``accounts.build_client``) against the emulator's STS;
* static credentials have neither series;
* renewed keys and tokens are registered with their expiry, so the registry of
  :mod:`taskwatch.logs` drops them after the grace instead of keeping every one.
"""

from __future__ import annotations

import base64
import gc
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from taskwatch import logs
from taskwatch.clock import ManualClock
from taskwatch.errors import CredentialError
from taskwatch.metrics.registry import Metrics
from taskwatch.runtime import build_runtime
from taskwatch.supervisor import Supervisor
from taskwatch.tencent.credentials import Credentials
from taskwatch.tencent.credentials_refresh import RefreshingCredentials, TemporaryCredentials
from taskwatch.tencent.credentials_role import read_tke_environment, token_expiry
from tests.e2e.daemon import daemon, settings_for
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/taskwatch-metrics"
ONLY_MPS = {"mps": {"interval": "5s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}
STATIC = {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY}
ASSUME = {"from": "assume-role", "role_arn": ROLE_ARN, "duration": "15m", "source": STATIC}
REFRESHES = "taskwatch_credentials_refreshes_total"
EXPIRY = "taskwatch_credentials_expiry_timestamp_seconds"
LABELS = {"account": "main", "source": "assume-role"}


def with_credentials(running: Running, credentials: dict[str, Any]) -> Supervisor:
    account = {
        "name": "main",
        "credentials": credentials,
        "endpoint": running.url,
        "regions": ["ap-guangzhou"],
    }
    return daemon(running, accounts=[account], products=ONLY_MPS)


def sample(d: Supervisor, name: str, labels: dict[str, str]) -> float | None:
    return d.metrics.registry.get_sample_value(name, labels)


def refreshing(d: Supervisor) -> RefreshingCredentials:
    source = d.runtime.clients["main"]._credentials  # what the client signs with
    assert isinstance(source, RefreshingCredentials)
    return source


async def test_renewals_are_counted_by_result_and_the_expiry_of_what_is_held_is_exported() -> None:
    async with running_emulator() as running:
        d = with_credentials(running, ASSUME)
        ok, failed = {**LABELS, "result": "ok"}, {**LABELS, "result": "failed"}
        assert sample(d, REFRESHES, failed) == 0  # exported at 0: an alert sees the first one
        assert sample(d, EXPIRY, LABELS) is None  # nothing held yet
        (report,) = await d.run_once()
        assert report.ok, report.message
        held = refreshing(d).expires_at
        assert held == running.clock.now().timestamp() + 900
        assert sample(d, REFRESHES, ok) == 1
        assert sample(d, EXPIRY, LABELS) == held

        del running.emulator.keys[SECRET_ID]  # STS now refuses the source key
        running.clock.advance(0.85 * 900)  # past the renewal point
        (report,) = await d.run_once()
        assert report.ok, report.message  # the held credentials still sign
        assert sample(d, REFRESHES, failed) == 1
        assert sample(d, REFRESHES, ok) == 1
        assert sample(d, EXPIRY, LABELS) == held  # what is held, not what was asked for


async def test_static_credentials_have_no_renewal_series() -> None:
    async with running_emulator() as running:
        d = with_credentials(running, STATIC)
        (report,) = await d.run_once()
        assert report.ok, report.message
        families = {m.name for m in d.metrics.registry.collect() if m.samples}
        assert "taskwatch_credentials_refreshes" not in families
        assert EXPIRY not in families


def counting_source(clock: ManualClock, lifetime: float) -> RefreshingCredentials:
    issued = 0

    async def fetch() -> TemporaryCredentials:
        nonlocal issued
        issued += 1
        credentials = Credentials(
            f"AKIDtmp{issued:012d}", f"tmp-key-{issued:012d}", f"tok{issued:016d}"
        )
        return TemporaryCredentials(credentials, clock.now().timestamp() + lifetime)

    return RefreshingCredentials(fetch, describe="test issuer", clock=clock, kind="cvm-role")


async def test_the_expiry_series_follows_the_newest_live_source_of_an_account() -> None:
    """A reload that rebuilds an account's client watches its new source; the old one's series
    leaves with it (no stale expiry for an account whose client is gone)."""
    clock = ManualClock()
    metrics = Metrics(CollectorRegistry(), clock=clock)
    old, new = counting_source(clock, 900), counting_source(clock, 1800)
    await old.get()
    metrics.watch_credentials("main", old)
    metrics.watch_credentials("main", new)
    labels = {"account": "main", "source": "cvm-role"}
    now = clock.now().timestamp()
    assert metrics.registry.get_sample_value(EXPIRY, labels) == now + 900  # new holds nothing yet
    await new.get()
    assert metrics.registry.get_sample_value(EXPIRY, labels) == now + 1800
    del old, new
    gc.collect()
    assert metrics.registry.get_sample_value(EXPIRY, labels) is None


async def test_renewed_keys_leave_the_scrubbing_registry_after_their_grace() -> None:
    clock = ManualClock()
    source = counting_source(clock, 900)
    before = logs.secret_counts().temporary  # other tests' values, held on their own clocks
    first = await source.get()
    assert first.token is not None
    renewals = 2_000
    for _ in range(renewals):
        clock.advance(900)
        await source.get()
    latest = await source.get()
    assert source.fetches == renewals + 1
    grown = logs.secret_counts().temporary - before
    assert grown <= 2 * (logs.SECRET_GRACE / 720 + 2)  # key and token of the last few renewals
    assert logs.scrub(latest.secret_key) == logs.REDACTED
    assert logs.scrub(first.secret_key) == first.secret_key  # long past its grace: dropped
    assert logs.scrub(first.token) == first.token


async def test_a_failed_renewal_is_told_to_the_observer_before_the_error_is_raised() -> None:
    clock = ManualClock()

    async def fetch() -> TemporaryCredentials:
        raise CredentialError("issuer down")

    source = RefreshingCredentials(fetch, describe="test issuer", clock=clock, kind="oidc")
    seen: list[str] = []
    source.observer = seen.append
    with pytest.raises(CredentialError, match="issuer down"):
        await source.get()
    assert seen == ["failed"]
    assert source.kind == "oidc"


def test_a_web_identity_token_is_scrubbed_until_its_own_expiry_and_grace(tmp_path: Path) -> None:
    now = 1_900_000_000.0  # the registry drops relative to the latest `now` it was given
    token = jwt_with_exp(now + 600)
    assert token_expiry(token) == now + 600
    assert token_expiry("not.a-jwt.token") is None
    assert token_expiry("no-dots-at-all") is None
    path = tmp_path / "token"
    path.write_text(token)
    environ = {
        "TKE_REGION": "ap-guangzhou",
        "TKE_PROVIDER_ID": "tke-cluster-oidc",
        "TKE_WEB_IDENTITY_TOKEN_FILE": str(path),
        "TKE_ROLE_ARN": ROLE_ARN,
    }
    read_tke_environment(environ, now=now)
    assert logs.scrub(token) == logs.REDACTED
    logs.register_secret(
        "a-later-renewal-token-0001", now + 1e4, now=now + 600 + logs.SECRET_GRACE + 1
    )
    assert logs.scrub(token) == token  # rotated away and past its grace: no longer held


def jwt_with_exp(exp: float) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return (
        f"{part({'alg': 'RS256'})}.{part({'sub': 'system:serviceaccount:tw:tw', 'exp': exp})}.sig"
    )


async def test_a_reload_to_static_credentials_takes_the_expiry_series_with_the_old_client() -> None:
    async with running_emulator() as running:
        d = with_credentials(running, ASSUME)
        (report,) = await d.run_once()
        assert report.ok, report.message
        assert sample(d, EXPIRY, LABELS) is not None
        account = {"name": "main", "credentials": STATIC, "endpoint": running.url}
        settings = settings_for(running, accounts=[{**account, "regions": ["ap-guangzhou"]}])
        d.runtime = build_runtime(settings, [], services=d.services, previous=d.runtime)
        gc.collect()  # freed at once in CPython today; a cycle would wait for the collector
        assert sample(d, EXPIRY, LABELS) is None
        assert sample(d, REFRESHES, {**LABELS, "result": "ok"}) == 1  # counters stay
