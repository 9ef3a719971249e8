"""The official SDK's own credential providers against the emulator's STS and metadata service.

``STSAssumeRoleCredential``, ``OIDCRoleArnCredential`` and ``CVMRoleCredential`` are the outside
judges of the emulator's answers: each must parse them, and the credentials each gets must then
work for an MPS call (signed by taskwatch's client, with the token), as on the real API. The SDK
speaks HTTPS to STS; its ``HttpProfile`` is swapped for one that speaks HTTP to the emulator's
port. The sync providers block, so they run in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from tencentcloud.common import credential as sdk
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.http_profile import HttpProfile

from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import Credentials, StaticCredentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.retry import NO_RETRY
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, fast_transport, running_emulator

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/sdk-oracle"


class PlainHttpProfile(HttpProfile):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("protocol", "http")
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk, "HttpProfile", PlainHttpProfile)


async def works_for_mps(running: Running, info: tuple[str, str, str]) -> None:
    """The credentials the SDK got sign an MPS call (with their token) that the emulator takes."""
    secret_id, secret_key, token = info
    assert token
    assert secret_id != SECRET_ID
    async with fast_transport() as transport:
        client = TencentClient(
            credentials=StaticCredentials(Credentials(secret_id, secret_key, token)),
            transport=transport,
            endpoints=EndpointPolicy(override=running.url),
            clock=running.clock,
            retry=NO_RETRY,
        )
        await client.call("mps", "DescribeTasks", {"Status": "WAITING"})
    assert running.log()[-1]["secret_id"] == secret_id


async def test_the_sdk_assume_role_provider_parses_the_emulator_answer() -> None:
    async with running_emulator() as running:
        provider = sdk.STSAssumeRoleCredential(
            SECRET_ID, SECRET_KEY, ROLE_ARN, "sdk-oracle", 3600, endpoint=running.host
        )
        info = await asyncio.to_thread(provider.get_credential_info)
        await works_for_mps(running, info)
        (call,) = [e for e in running.log() if e["action"] == "AssumeRole"]
        assert call["secret_id"] == SECRET_ID
        assert call["params"]["DurationSeconds"] == 3600


async def test_the_sdk_assume_role_provider_sees_a_refusal_as_an_sdk_error() -> None:
    async with running_emulator() as running:
        provider = sdk.STSAssumeRoleCredential(
            SECRET_ID, "wrong-secret-key-000000", ROLE_ARN, "sdk", 3600, endpoint=running.host
        )
        with pytest.raises(TencentCloudSDKException) as caught:
            await asyncio.to_thread(provider.get_credential_info)
        assert caught.value.get_code() == "AuthFailure.SignatureFailure"


def jwt(exp: float) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': exp})}.signature"


async def test_the_sdk_oidc_provider_gets_credentials_unsigned() -> None:
    async with running_emulator() as running:
        token = jwt(running.clock.now().timestamp() + 600)
        provider = sdk.OIDCRoleArnCredential(
            "ap-guangzhou", "cls-oracle", token, ROLE_ARN, "sdk-oidc", 1800, endpoint=running.host
        )
        info = await asyncio.to_thread(provider.get_credential_info)
        await works_for_mps(running, info)
        expired = sdk.OIDCRoleArnCredential(
            "ap-guangzhou",
            "cls-oracle",
            jwt(1.0),
            ROLE_ARN,
            "sdk-oidc",
            1800,
            endpoint=running.host,
        )
        with pytest.raises(TencentCloudSDKException) as caught:
            await asyncio.to_thread(expired.get_credential_info)
        assert caught.value.get_code() == "InvalidParameter.WebIdentityTokenError"


async def test_the_sdk_cvm_role_provider_reads_the_emulated_metadata_service() -> None:
    async with running_emulator() as running:

        class Provider(sdk.CVMRoleCredential):  # type: ignore[misc]
            _metadata_endpoint = running.url + "/latest/meta-data/"
            _role_endpoint = _metadata_endpoint + "cam/security-credentials/"

        provider = Provider()
        info = await asyncio.to_thread(provider.get_credential_info)
        assert provider.role == running.emulator.metadata.role
        await works_for_mps(running, info)
