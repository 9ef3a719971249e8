"""Role credentials end to end: assume-role, cvm-role and oidc against the emulator's STS and
metadata service, renewed across expiry on the virtual clock, never logged.

Every test starts its own emulator (tests/emulator/harness.py) on a ManualClock that the client,
the credential source and the emulator share, so "two hours later" is one ``clock.advance``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from taskwatch.clock import ManualClock
from taskwatch.errors import CredentialError
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, CredentialSource, from_config
from taskwatch.tencent.credentials_refresh import RefreshingCredentials, TemporaryCredentials
from taskwatch.tencent.credentials_role import RoleContext
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.errors import AuthError
from taskwatch.tencent.retry import NO_RETRY
from taskwatch.tencent.transport import Transport
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, fast_transport, running_emulator

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/taskwatch-reader"
STATIC = {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY}


def context(running: Running, transport: Transport) -> RoleContext:
    return RoleContext(
        clock=running.clock, transport=transport, endpoints=EndpointPolicy(override=running.url)
    )


def client_for(running: Running, transport: Transport, source: CredentialSource) -> TencentClient:
    return TencentClient(
        credentials=source,
        transport=transport,
        endpoints=EndpointPolicy(override=running.url),
        clock=running.clock,
        retry=NO_RETRY,
    )


def sts_calls(running: Running, action: str = "AssumeRole") -> list[dict[str, Any]]:
    return [e for e in running.log() if e["product"] == "sts" and e["action"] == action]


def assume_role(running: Running, transport: Transport, duration: int = 7200) -> Any:
    spec = {"from": "assume-role", "role_arn": ROLE_ARN, "duration": duration, "source": STATIC}
    source = from_config(spec, context=context(running, transport))
    assert isinstance(source, RefreshingCredentials)
    return source


def jwt(exp: float) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return (
        f"{part({'alg': 'RS256'})}.{part({'sub': 'system:serviceaccount:tw:tw', 'exp': exp})}.sig"
    )


# assume-role


async def test_assume_role_signs_calls_with_a_token_and_renews_before_expiry() -> None:
    async with running_emulator() as running, fast_transport() as transport:
        source = assume_role(running, transport, duration=3600)
        client = client_for(running, transport, source)
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
        first = await source.get()
        assert first.token
        assert first.secret_id != SECRET_ID
        assert [e["secret_id"] for e in running.log()][-1] == first.secret_id
        running.clock.advance(0.81 * 3600)  # past the renewal point, before expiry
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
        second = await source.get()
        assert second.secret_id != first.secret_id
        assert len(sts_calls(running)) == 2
        running.clock.advance(3600)  # the first key has expired: the emulator refuses it...
        old = {"secret_id": first.secret_id, "secret_key": first.secret_key, "token": first.token}
        stale = client_for(running, transport, from_config({"from": "static", **old}))
        with pytest.raises(AuthError, match="TokenFailure"):
            await stale.call("mps", "DescribeTasks", {"Status": "WAITING"})
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})  # ...this client renewed
        assert source.fetches == 3
        assert source.failures == 0


async def test_concurrent_calls_at_renewal_make_one_sts_request() -> None:
    async with running_emulator() as running, fast_transport() as transport:
        source = assume_role(running, transport)
        got = await asyncio.gather(*(source.get() for _ in range(20)))
        assert len({c.secret_id for c in got}) == 1
        assert len(sts_calls(running)) == 1


async def test_a_failed_renewal_keeps_the_old_credentials_until_they_expire() -> None:
    async with running_emulator() as running, fast_transport() as transport:
        source = assume_role(running, transport, duration=1000)
        client = client_for(running, transport, source)
        first = await source.get()
        del running.emulator.keys[SECRET_ID]  # the source key is revoked: STS refuses it
        running.clock.advance(900)
        with structlog.testing.capture_logs() as logs:
            await client.call("mps", "DescribeTasks", {"Status": "WAITING"})  # old key still good
            assert (await source.get()).secret_id == first.secret_id
        assert source.failures == 1  # retried after RETRY_AFTER, not on every call
        failed = [e for e in logs if e["event"] == "credentials.refresh_failed"]
        assert len(failed) == 1
        assert failed[0]["keeping_for"] == 100
        assert "SecretIdNotFound" in failed[0]["reason"]
        running.clock.advance(100)
        with pytest.raises(CredentialError, match=r"assume-role .* cannot get credentials"):
            await source.get()
        assert source.failures == 2


async def test_no_key_or_token_of_a_role_source_reaches_the_logs() -> None:
    async with running_emulator() as running, fast_transport() as transport:
        with structlog.testing.capture_logs() as logs:
            source = assume_role(running, transport, duration=1000)
            first = await source.get()
            running.clock.advance(900)
            second = await source.get()
            del running.emulator.keys[SECRET_ID]
            running.clock.advance(900)
            await source.get()
        assert {e["event"] for e in logs} >= {"credentials.refreshed", "credentials.refresh_failed"}
        text = repr(logs)
        for secret in (SECRET_KEY, first.secret_key, first.token, second.secret_key, second.token):
            assert secret
            assert secret not in text


# cvm-role


async def test_cvm_role_reads_the_metadata_service_and_renews_across_expiry() -> None:
    async with running_emulator() as running, fast_transport() as transport:
        running.emulator.metadata.lifetime = 1800
        spec = {"from": "cvm-role", "endpoint": running.url + "/latest/meta-data/"}
        source = from_config(spec, context=context(running, transport))
        client = client_for(running, transport, source)
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
        first = await source.get()
        running.clock.advance(1800 * 0.85)
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
        second = await source.get()
        assert second.secret_id != first.secret_id
        assert second.token
        assert running.emulator.metadata.served == 2


async def test_an_instance_without_a_role_is_a_clear_credential_error() -> None:
    async with running_emulator() as running, fast_transport() as transport:
        running.emulator.metadata.role = None
        spec = {"from": "cvm-role", "endpoint": running.url + "/latest/meta-data/"}
        source = from_config(spec, context=context(running, transport))
        with pytest.raises(CredentialError, match="HTTP 404"):
            await source.get()


# oidc


def tke_env(tmp_path: Path, running: Running, lifetime: float = 3600) -> dict[str, str]:
    token_file = tmp_path / "token"
    token_file.write_text(jwt(running.clock.now().timestamp() + lifetime))
    return {
        "TKE_REGION": "ap-guangzhou",
        "TKE_PROVIDER_ID": "tke-cluster-oidc",
        "TKE_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "TKE_ROLE_ARN": ROLE_ARN,
    }


async def test_oidc_rereads_the_projected_token_at_each_renewal(tmp_path: Path) -> None:
    async with running_emulator() as running, fast_transport() as transport:
        environ = tke_env(tmp_path, running, lifetime=1200)
        spec = {"from": "oidc", "duration": 1000, "endpoint": running.url}
        source = from_config(spec, environ=environ, context=context(running, transport))
        client = client_for(running, transport, source)
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
        running.clock.advance(1300)  # both the credentials and the first token have expired
        with pytest.raises(CredentialError, match="WebIdentityTokenError"):
            await source.get()
        tke_env(tmp_path, running)  # the kubelet rotates the token file
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
        assert len(sts_calls(running, "AssumeRoleWithWebIdentity")) == 3


async def test_oidc_without_the_tke_environment_names_the_variable() -> None:
    source = from_config({"from": "oidc"}, environ={"TKE_REGION": "ap-guangzhou"})
    with pytest.raises(CredentialError, match="TKE_PROVIDER_ID is not set"):
        await source.get()


# configuration


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"from": "assume-role", "source": STATIC}, "needs role_arn"),
        ({"from": "assume-role", "role_arn": ROLE_ARN}, "needs source"),
        ({"from": "assume-role", "role_arn": ROLE_ARN, "source": STATIC, "duration": 0}, "1 to"),
        ({"from": "cvm-role", "path": "/x"}, "unknown key"),
        ({"from": "oidc", "duration": "1h"}, "whole seconds"),
        ({"from": "assume-role", "role_arn": ROLE_ARN, "source": {"from": "nope"}}, "'nope'"),
    ],
)
def test_a_bad_role_block_is_refused_with_the_key_named(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        from_config(spec)


async def test_a_slow_renewal_does_not_hold_up_calls_while_the_old_credentials_are_valid() -> None:
    clock = ManualClock(wall=datetime(2026, 12, 1, tzinfo=UTC))
    started, released = asyncio.Event(), asyncio.Event()
    issued: list[str] = []

    async def fetch() -> TemporaryCredentials:
        if issued:
            started.set()
            await released.wait()  # the second renewal hangs until the test releases it
        issued.append(f"AKIDTEMPORARY{len(issued):023d}")
        expires = clock.now().timestamp() + 1000
        return TemporaryCredentials(Credentials(issued[-1], "k" * 30, "t" * 40), expires)

    source = RefreshingCredentials(fetch, describe="test", clock=clock)
    first = await source.get()
    clock.advance(850)
    renewing = asyncio.create_task(source.get())
    await started.wait()
    # Only a failure waits out the timeout: a correct source answers at once.
    assert (await asyncio.wait_for(source.get(), 5)).secret_id == first.secret_id
    released.set()
    assert (await renewing).secret_id == issued[1]
    assert (await source.get()).secret_id == issued[1]
