"""The role credential blocks (assume-role, cvm-role, oidc) in a configuration: accepted as the
README shows them, refused with the file, the key and the reason, and handed to the credential
builder unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from taskwatch.errors import ConfigError
from taskwatch.settings import parse_settings
from taskwatch.tencent.credentials import from_config
from taskwatch.tencent.credentials_refresh import RefreshingCredentials

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/taskwatch"


def config(credentials: Any) -> dict[str, Any]:
    return {"accounts": [{"name": "main", "credentials": credentials}]}


def spec_of(credentials: Any) -> dict[str, Any]:
    settings = parse_settings(config(credentials), source="test.yaml", environ={})
    spec: dict[str, Any] = settings.accounts[0].credentials.to_spec()
    return spec


def test_an_assume_role_block_becomes_the_spec_the_builder_takes() -> None:
    block = {"from": "assume-role", "role_arn": ROLE_ARN, "duration": "1h", "source": "env"}
    spec = spec_of(block)
    assert spec == {
        "from": "assume-role",
        "role_arn": ROLE_ARN,
        "session_name": "taskwatch",
        "duration": 3600,
        "region": "ap-guangzhou",
        "source": {"from": "env"},
    }
    assert isinstance(from_config(spec), RefreshingCredentials)


def test_cvm_role_and_oidc_blocks_are_accepted_with_their_defaults() -> None:
    assert spec_of("cvm-role") == {"from": "cvm-role"}
    assert spec_of({"from": "oidc", "duration": 900}) == {
        "from": "oidc",
        "session_name": "taskwatch",
        "duration": 900,
    }
    url = "http://127.0.0.1:9460/latest/meta-data/"
    assert spec_of({"from": "cvm-role", "endpoint": url, "role": "r"})["endpoint"] == url


@pytest.mark.parametrize(
    ("credentials", "key", "reason"),
    [
        (
            {"from": "assume-role", "role_arn": "taskwatch", "source": "env"},
            "accounts[0].credentials.role_arn",
            "must look like qcs::cam::uin/<account id>:roleName/<role name>",
        ),
        (
            {"from": "assume-role", "role_arn": ROLE_ARN},
            "accounts[0].credentials.source",
            "missing required key",
        ),
        (
            {"from": "assume-role", "role_arn": ROLE_ARN, "source": "env", "duration": "13h"},
            "accounts[0].credentials.duration",
            "must be whole seconds from 15m to 12h (STS grants at most 12h)",
        ),
        (
            {"from": "oidc", "session_name": "a b"},
            "accounts[0].credentials.session_name",
            "must be 2 to 128 of the characters A-Z a-z 0-9 _ + = , . @ -",
        ),
        (
            {"from": "cvm-role", "endpoint": "metadata.tencentyun.com"},
            "accounts[0].credentials.endpoint",
            "must be an absolute http(s) URL, e.g. http://127.0.0.1:9460/latest/meta-data/",
        ),
        (
            {"from": "assume-role", "role_arn": ROLE_ARN, "source": {"from": "assume-role"}},
            "accounts[0].credentials.source.from",
            "'assume-role' is not one of cvm-role, directory, env, oidc, profile, static"
            " (did you mean 'cvm-role'?)",
        ),
        (
            {"from": "oidc", "role_arn": ROLE_ARN},
            "accounts[0].credentials.role_arn",
            "unknown key",
        ),
    ],
)
def test_a_bad_role_block_names_the_file_the_key_and_the_reason(
    credentials: Any, key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(config(credentials), source="test.yaml", environ={})
    assert (info.value.file, info.value.key, info.value.reason) == ("test.yaml", key, reason)
