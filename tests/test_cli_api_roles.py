"""``taskwatch api`` with the role sources and with a daemon configuration's own credentials, run
as a user runs it: a real subprocess against a served emulator (its STS and metadata service),
making a real DescribeTasks call signed with temporary keys. Nothing secret may reach the output.

The emulator runs in this process on a ManualClock set to the real time: the child signs with its
own (real) clock, which the emulator accepts within five minutes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.emulator.scenario import loads_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.emulator.sts import TemporaryKey
from tests.emulator.harness import SECRET_ID, SECRET_KEY, start_time
from tests.processes import child_env, spawn

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/taskwatch-reader"
KEYS = f"credentials: [{{secret_id: {SECRET_ID}, secret_key: {SECRET_KEY}}}]\n"
PARAMS = '{"Status": "PROCESSING", "Limit": 10}'


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Served:
    url: str
    emulator: Emulator

    def log(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.emulator.log]

    def secrets(self) -> list[str]:
        """Every key and token the emulator accepts or issued: none may be printed."""
        found = [SECRET_KEY]
        for key in self.emulator.keys.values():
            found.append(key.secret_key)
            if isinstance(key, TemporaryKey) and key.token:
                found.append(key.token)
        return found

    def temporary_ids(self) -> set[str]:
        return {k for k, v in self.emulator.keys.items() if isinstance(v, TemporaryKey)}


@asynccontextmanager
async def served(body: str = "") -> AsyncIterator[Served]:
    clock = ManualClock(wall=start_time(), mono=1000.0)
    emulator = Emulator.from_scenario(loads_scenario(KEYS + body), clock)
    async with emulator.serve() as url:
        yield Served(url, emulator)


async def taskwatch(*args: str, env: dict[str, str] | None = None) -> Run:
    environment = child_env()
    environment.update(env or {})
    proc = await spawn(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environment
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def signed_with_a_temporary_key(emu: Served, run: Run) -> str:
    """The DescribeTasks call succeeded, signed with an issued key, whose masked id was shown."""
    assert run.code == 0, run.err
    assert json.loads(run.out)["Response"]["TotalCount"] == 0
    (call,) = [e for e in emu.log() if e["action"] == "DescribeTasks"]
    assert call["code"] == "Success"
    secret_id = str(call["secret_id"])
    assert secret_id in emu.temporary_ids()
    assert f"({secret_id[:4]}…{secret_id[-4:]})" in run.err
    assert secret_id not in run.err + run.out  # masked, never whole
    for secret in emu.secrets():
        assert secret not in run.err + run.out
    return secret_id


def jwt(exp: float) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': 'system:serviceaccount:tw:tw', 'exp': exp})}.s"


ENV_KEYS = {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}


async def test_cvm_role_reads_the_instance_role_from_the_metadata_service() -> None:
    async with served("metadata: {role: web-reader, lifetime: 1h}\n") as emu:
        run = await taskwatch(
            "api", "mps", "DescribeTasks", PARAMS, "--endpoint", emu.url,
            "--credentials", "cvm-role", "--metadata-endpoint", emu.url + "/latest/meta-data/",
        )  # fmt: skip
        signed_with_a_temporary_key(emu, run)
        assert "using credentials from cvm-role" in run.err
        assert emu.emulator.metadata.served == 1


async def test_cvm_role_on_an_instance_without_a_role_exits_2_with_a_clear_error() -> None:
    async with served("metadata: {role: null}\n") as emu:
        run = await taskwatch(
            "api", "mps", "DescribeTasks", PARAMS, "--endpoint", emu.url,
            "--credentials", "cvm-role", "--metadata-endpoint", emu.url + "/latest/meta-data/",
        )  # fmt: skip
        assert run.code == 2, run.err
        assert run.out == ""
        assert "cvm-role" in run.err
        assert "HTTP 404" in run.err
        assert "CAM role" in run.err  # the hint says what a 404 there means
        assert "Traceback" not in run.err
        assert [e for e in emu.log() if e["action"] == "DescribeTasks"] == []


async def test_oidc_uses_the_tke_environment_and_the_token_file(tmp_path: Path) -> None:
    token = jwt(time.time() + 3600)
    (tmp_path / "token").write_text(token + "\n")
    tke = {
        "TKE_REGION": "ap-guangzhou",
        "TKE_PROVIDER_ID": "oidc-provider-1",
        "TKE_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token"),
        "TKE_ROLE_ARN": ROLE_ARN,
    }
    async with served() as emu:
        run = await taskwatch(
            "api", "mps", "DescribeTasks", PARAMS, "--endpoint", emu.url,
            "--credentials", "oidc", "--duration", "1h", env=tke,
        )  # fmt: skip
        signed_with_a_temporary_key(emu, run)
        assert "using credentials from oidc" in run.err
        (sts,) = [e for e in emu.log() if e["action"] == "AssumeRoleWithWebIdentity"]
        assert sts["params"]["RoleArn"] == ROLE_ARN
        assert sts["params"]["RoleSessionName"] == "taskwatch-cli"
        assert sts["params"]["DurationSeconds"] == 3600
        assert token not in run.err + run.out


async def test_assume_role_is_signed_by_the_source_credentials() -> None:
    async with served() as emu:
        run = await taskwatch(
            "api", "mps", "DescribeTasks", PARAMS, "--endpoint", emu.url,
            "--credentials", "assume-role", "--role-arn", ROLE_ARN,
            "--source-credentials", "env", "--session-name", "ops-check",
            env=ENV_KEYS,
        )  # fmt: skip
        signed_with_a_temporary_key(emu, run)
        assert "using credentials from assume-role" in run.err
        (sts,) = [e for e in emu.log() if e["action"] == "AssumeRole"]
        assert sts["secret_id"] == SECRET_ID  # the source signed AssumeRole, not the call
        assert sts["params"]["RoleSessionName"] == "ops-check"


async def test_sts_endpoint_sends_sts_elsewhere_than_the_call() -> None:
    async with served() as sts, served() as api:
        run = await taskwatch(
            "api", "mps", "DescribeTasks", PARAMS, "--endpoint", api.url,
            "--credentials", "assume-role", "--role-arn", ROLE_ARN, "--sts-endpoint", sts.url,
            env=ENV_KEYS,
        )  # fmt: skip
        # the key came from the other STS, which this API does not know: refused there
        assert run.code == 1
        assert "AuthFailure" in run.err
        assert [e["action"] for e in sts.log()] == ["AssumeRole"]
        assert [e["action"] for e in api.log()] == ["DescribeTasks"]


async def test_bad_role_options_are_usage_errors() -> None:
    cases: list[tuple[list[str], str]] = [
        (["--credentials", "assume-role"], "--role-arn"),
        (["--credentials", "assume-role", "--role-arn", "reader"], "--role-arn"),
        (["--role-arn", ROLE_ARN], "--role-arn"),
        (["--credentials", "oidc", "--duration", "5m"], "--duration"),
        (["--credentials", "oidc", "--session-name", "a b"], "--session-name"),
        (["--credentials", "env", "--sts-endpoint", "http://127.0.0.1:9"], "--sts-endpoint"),
        (["--credentials", "oidc", "--metadata-endpoint", "http://127.0.0.1:9/"], "--metadata"),
        (["--credentials", "cvm-role", "--metadata-endpoint", "ftp://x"], "--metadata-endpoint"),
        (["--source-credentials", "env"], "--source-credentials"),
        (["--account", "main"], "--account"),
    ]
    for extra, named in cases:
        run = await taskwatch(
            "api", "mps", "DescribeTasks", "{}", "--endpoint", "http://127.0.0.1:9", *extra
        )
        assert run.code == 2, (extra, run.err)
        assert named in run.err, (extra, run.err)
        assert "Traceback" not in run.err


CONFIG = """
accounts:
  - name: other
    credentials: {{from: env}}
    endpoint: http://127.0.0.1:9
  - name: main
    credentials:
      from: assume-role
      role_arn: {role_arn}
      session_name: daemon-main
      source: {{from: directory, path: {directory}}}
    endpoint: {url}
    regions: [ap-guangzhou]
"""


async def test_config_and_account_use_the_daemons_own_credentials(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "secret_id").write_text(SECRET_ID + "\n")
    (keys / "secret_key").write_text(SECRET_KEY + "\n")
    async with served() as emu:
        config = tmp_path / "taskwatch.yaml"
        config.write_text(CONFIG.format(role_arn=ROLE_ARN, directory=keys, url=emu.url))
        run = await taskwatch(
            "api", "mps", "DescribeTasks", PARAMS, "--config", str(config), "--account", "main"
        )
        signed_with_a_temporary_key(emu, run)
        assert "account 'main'" in run.err
        assert "assume-role" in run.err
        (sts,) = [e for e in emu.log() if e["action"] == "AssumeRole"]
        assert sts["secret_id"] == SECRET_ID
        assert sts["params"]["RoleSessionName"] == "daemon-main"

        for extra, named in [
            (["--credentials", "env"], "--credentials"),
            (["--endpoint", emu.url], "--endpoint"),
            (["--account", "nope"], "main, other"),
            ([], "--account"),  # two accounts: which one?
        ]:
            bad = await taskwatch("api", "mps", "DescribeTasks", "{}", "--config", str(config),
                                  *extra)  # fmt: skip
            assert bad.code == 2, (extra, bad.err)
            assert named in bad.err, (extra, bad.err)
