"""The emulator's STS through taskwatch's own STS client: what it refuses, with which code, and
keys that stop working when they expire on the emulator's clock."""

from __future__ import annotations

import pytest

from taskwatch.tencent.credentials import Credentials
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.errors import ApiError, AuthError
from taskwatch.tencent.sts import StsClient
from tests.emulator.harness import SECRET_ID, SECRET_KEY, fast_transport, running_emulator

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/reader"
SOURCE = Credentials(SECRET_ID, SECRET_KEY)


@pytest.mark.parametrize(
    ("role_arn", "session", "duration", "code"),
    [
        ("reader", "taskwatch", 3600, "InvalidParameter.ResouceError"),
        (ROLE_ARN, "a b", 3600, "InvalidParameter.ParamError"),
        (ROLE_ARN, "taskwatch", 43201, "InvalidParameter.OverTimeError"),
        (ROLE_ARN, "", 3600, "MissingParameter"),
    ],
)
async def test_assume_role_refuses_bad_parameters_with_the_documented_code(
    role_arn: str, session: str, duration: int, code: str
) -> None:
    async with running_emulator() as running, fast_transport() as transport:
        sts = StsClient(
            transport=transport, clock=running.clock, endpoints=EndpointPolicy(override=running.url)
        )
        with pytest.raises(ApiError) as caught:
            await sts.assume_role(
                SOURCE, role_arn=role_arn, session_name=session, duration=duration
            )
        assert caught.value.code == code
        assert running.log()[-1]["code"] == code


async def test_a_temporary_key_can_assume_a_role_until_it_expires() -> None:
    async with running_emulator() as running, fast_transport() as transport:
        sts = StsClient(
            transport=transport, clock=running.clock, endpoints=EndpointPolicy(override=running.url)
        )
        first = await sts.assume_role(SOURCE, role_arn=ROLE_ARN, session_name="s1", duration=600)
        assert first.expires_at == int(running.clock.now().timestamp()) + 600
        chained = await sts.assume_role(
            first.credentials, role_arn=ROLE_ARN, session_name="b1", duration=600
        )
        assert chained.credentials.secret_id != first.credentials.secret_id
        running.clock.advance(600)
        with pytest.raises(AuthError) as caught:
            await sts.assume_role(
                first.credentials, role_arn=ROLE_ARN, session_name="b2", duration=600
            )
        assert caught.value.code == "AuthFailure.TokenFailure"
        await sts.assume_role(SOURCE, role_arn=ROLE_ARN, session_name="s2", duration=600)
        assert first.credentials.secret_id not in running.emulator.keys  # expired ones are dropped
