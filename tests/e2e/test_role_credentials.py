"""The daemon on role credentials, end to end: each mode against the emulator's STS or metadata
service, renewed across expiry between cycles on the emulator's virtual clock, no key logged.

The emulator refuses a temporary key once it has expired (``AuthFailure.TokenFailure``), so a
cycle that succeeds after the first key's expiry proves the daemon renewed without a restart.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import structlog

from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator

ROLE_ARN = "qcs::cam::uin/100000000001:roleName/taskwatch-e2e"
ONLY_MPS = {"mps": {"interval": "5s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}


def with_credentials(running: Running, credentials: dict[str, Any]) -> Supervisor:
    account = {
        "name": "main",
        "credentials": credentials,
        "endpoint": running.url,
        "regions": ["ap-guangzhou"],
    }
    return daemon(running, accounts=[account], products=ONLY_MPS)


def mps_signers(running: Running) -> list[str]:
    return [e["secret_id"] for e in running.log() if e["product"] == "mps"]


async def cycles_across_expiry(running: Running, d: Supervisor, lifetime: float) -> None:
    """Two cycles, then past the renewal point, then past the first key's expiry."""
    for step in (0.0, 0.0, 0.85 * lifetime, lifetime):
        running.clock.advance(step)
        (report,) = await d.run_once()
        assert report.ok, report.message


async def test_assume_role_renews_across_expiry_between_cycles() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as running:
        source = {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY}
        creds = {"from": "assume-role", "role_arn": ROLE_ARN, "duration": "15m", "source": source}
        d = with_credentials(running, creds)
        with structlog.testing.capture_logs() as logs:
            await cycles_across_expiry(running, d, 900)
        issued = [e for e in running.log() if e["action"] == "AssumeRole"]
        assert len(issued) == 3  # the first, at 80 %, after expiry: not one per cycle
        assert all(e["secret_id"] == SECRET_ID for e in issued)
        signers = mps_signers(running)
        assert SECRET_ID not in signers
        assert len(set(signers)) == 3
        assert SECRET_KEY not in repr(logs)


async def test_cvm_role_renews_across_expiry_between_cycles() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as running:
        running.emulator.metadata.lifetime = 1800
        creds = {"from": "cvm-role", "endpoint": running.url + "/latest/meta-data/"}
        d = with_credentials(running, creds)
        await cycles_across_expiry(running, d, 1800)
        assert running.emulator.metadata.served == 3
        assert len(set(mps_signers(running))) >= 2


def jwt(exp: float) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': exp})}.signature"


async def test_oidc_renews_across_expiry_between_cycles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as running:
        token = tmp_path / "token"
        token.write_text(jwt(running.clock.now().timestamp() + 86400))
        monkeypatch.setenv("TKE_REGION", "ap-guangzhou")
        monkeypatch.setenv("TKE_PROVIDER_ID", "cls-e2e")
        monkeypatch.setenv("TKE_WEB_IDENTITY_TOKEN_FILE", str(token))
        monkeypatch.setenv("TKE_ROLE_ARN", ROLE_ARN)
        d = with_credentials(running, {"from": "oidc", "duration": "20m"})
        await cycles_across_expiry(running, d, 1200)
        issued = [e for e in running.log() if e["action"] == "AssumeRoleWithWebIdentity"]
        assert len(issued) == 3
        assert len(set(mps_signers(running))) == 3
