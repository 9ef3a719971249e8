"""Credentials resolved where they are by ``check-config`` (no API called): one line per account,
ok with the masked SecretId on stdout, a warning on stderr, and never a secret in either."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import pytest

from taskwatch.cli.checkconfig import check
from taskwatch.tencent.credentials_check import check_credentials

SECRET_ID = "AKIDcheckconfig0000000000000000abcd"
SECRET_KEY = "SK-check-config-never-printed-9f3e"
TOKEN = "TOKEN-check-config-never-printed-41c7"
WEB_TOKEN = "eyJ-web-identity-never-printed-77aa"
ROLE_ARN = "qcs::cam::uin/100000000001:roleName/taskwatch"
SECRETS = (SECRET_ID, SECRET_KEY, TOKEN, WEB_TOKEN)
MASKED = "AKID…abcd"
ENV = {
    "TENCENTCLOUD_SECRET_ID": SECRET_ID,
    "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
    "TENCENTCLOUD_SESSION_TOKEN": TOKEN,
}


def run_check(
    tmp_path: Path, credentials: str, environ: Mapping[str, str], *, strict: bool = False
) -> tuple[int, str, str]:
    """check-config on a one-account file; asserts no secret reached either stream."""
    path = tmp_path / "taskwatch.yaml"
    path.write_text(f"accounts:\n  - name: main\n    credentials: {credentials}\n")
    out, err = io.StringIO(), io.StringIO()
    code = check(str(path), every=False, strict=strict, environ=environ, out=out, err=err)
    for secret in SECRETS:
        assert secret not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def ok_line(out: str, source: str, detail: str) -> None:
    lines = out.splitlines()
    assert len(lines) == 2, out  # the summary, then the account
    assert lines[1] == f"account 'main': credentials from {source}: {detail}"


def warning(err: str, source: str, reason: str) -> None:
    assert err == f"warning: account 'main': credentials from {source}: {reason}\n"


ENV_SOURCE = "environment (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY)"


def test_env_ok_shows_only_the_masked_id(tmp_path: Path) -> None:
    code, out, err = run_check(tmp_path, "{from: env}", ENV)
    assert (code, err) == (0, "")
    ok_line(out, ENV_SOURCE, f"ok ({MASKED})")


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        (
            {"TENCENTCLOUD_SECRET_ID": SECRET_ID},
            "environment variable TENCENTCLOUD_SECRET_KEY is missing",
        ),
        (
            {**ENV, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY + " "},
            "environment variable TENCENTCLOUD_SECRET_KEY has leading or trailing whitespace",
        ),
    ],
)
def test_env_warns_on_a_missing_or_unusable_variable(
    tmp_path: Path, environ: dict[str, str], reason: str
) -> None:
    code, out, err = run_check(tmp_path, "{from: env}", environ)
    assert code == 0
    assert len(out.splitlines()) == 1  # the summary only
    warning(err, ENV_SOURCE, reason)


def test_a_warning_exits_2_under_strict_and_ok_stays_0(tmp_path: Path) -> None:
    assert run_check(tmp_path, "{from: env}", {}, strict=True)[0] == 2
    assert run_check(tmp_path, "{from: env}", ENV, strict=True)[0] == 0


def test_static_ok(tmp_path: Path) -> None:
    block = f"{{from: static, secret_id: {SECRET_ID}, secret_key: {SECRET_KEY}, token: {TOKEN}}}"
    code, out, err = run_check(tmp_path, block, {})
    assert (code, err) == (0, "")
    ok_line(out, "static credentials " + MASKED, f"ok ({MASKED})")


async def test_static_keys_that_cannot_sign_are_a_warning() -> None:
    # The loader refuses these already; a spec built otherwise is checked the same way.
    found = await check_credentials(
        {"from": "static", "secret_id": SECRET_ID, "secret_key": " " + SECRET_KEY}, environ={}
    )
    assert (found.status, found.source) == ("warning", "static")
    assert found.detail == "credentials: secret_key has leading or trailing whitespace"
    assert SECRET_KEY not in repr(found)


def profile_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "credentials"
    path.write_text(body)
    return path


def test_profile_ok(tmp_path: Path) -> None:
    path = profile_file(tmp_path, f"[prod]\nsecret_id = {SECRET_ID}\nsecret_key = {SECRET_KEY}\n")
    code, out, err = run_check(tmp_path, f"{{from: profile, path: {path}, profile: prod}}", {})
    assert (code, err) == (0, "")
    ok_line(out, f"profile [prod] in {path}", f"ok ({MASKED})")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f"[default]\nsecret_id = {SECRET_ID}\nsecret_key = {SECRET_KEY}\n", "no section [prod]"),
        (f"[prod]\nsecret_id = {SECRET_ID}\n", "[prod] secret_key is missing"),
        (None, "no such file"),
    ],
)
def test_profile_warns_on_a_missing_file_section_or_key(
    tmp_path: Path, body: str | None, reason: str
) -> None:
    path = tmp_path / "credentials"
    if body is not None:
        path.write_text(body)
    code, _, err = run_check(tmp_path, f"{{from: profile, path: {path}, profile: prod}}", {})
    assert code == 0
    warning(err, f"profile [prod] in {path}", f"{path}: {reason}")


def value_files(directory: Path, **values: str) -> Path:
    directory.mkdir()
    for name, value in values.items():
        (directory / name).write_text(value + "\n")
    return directory


def test_directory_ok_named_or_from_credentials_directory(tmp_path: Path) -> None:
    where = value_files(tmp_path / "creds", secret_id=SECRET_ID, secret_key=SECRET_KEY)
    code, out, err = run_check(tmp_path, f"{{from: directory, path: {where}}}", {})
    assert (code, err) == (0, "")
    ok_line(out, f"directory {where}", f"ok ({MASKED})")
    code, out, err = run_check(tmp_path, "directory", {"CREDENTIALS_DIRECTORY": str(where)})
    assert (code, err) == (0, "")
    ok_line(out, "directory $CREDENTIALS_DIRECTORY", f"ok ({MASKED})")


def test_directory_warns_on_a_missing_file_or_variable(tmp_path: Path) -> None:
    where = value_files(tmp_path / "creds", secret_id=SECRET_ID)
    code, _, err = run_check(tmp_path, f"{{from: directory, path: {where}}}", {})
    assert code == 0
    warning(err, f"directory {where}", f"file {where / 'secret_key'} is missing")
    code, _, err = run_check(tmp_path, "directory", {})
    warning(
        err,
        "directory $CREDENTIALS_DIRECTORY",
        "environment variable CREDENTIALS_DIRECTORY is not set",
    )


OIDC = "oidc (TKE_REGION, TKE_PROVIDER_ID, TKE_WEB_IDENTITY_TOKEN_FILE, TKE_ROLE_ARN)"


def tke(tmp_path: Path, **override: str) -> dict[str, str]:
    token = tmp_path / "token"
    token.write_text(WEB_TOKEN)
    environ = {
        "TKE_REGION": "ap-guangzhou",
        "TKE_PROVIDER_ID": "cls-provider",
        "TKE_WEB_IDENTITY_TOKEN_FILE": str(token),
        "TKE_ROLE_ARN": ROLE_ARN,
    }
    return {**environ, **override}


def test_oidc_ok_names_the_role_and_the_token_file_never_the_token(tmp_path: Path) -> None:
    code, out, err = run_check(tmp_path, "oidc", tke(tmp_path))
    assert (code, err) == (0, "")
    detail = (
        f"ok (role {ROLE_ARN}, provider cls-provider, token file {tmp_path / 'token'} readable)"
    )
    ok_line(out, OIDC, detail)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"TKE_PROVIDER_ID": ""}, "oidc: environment variable TKE_PROVIDER_ID is not set"),
        (
            {"TKE_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token"},
            "oidc: /nonexistent/token: cannot read: No such file or directory",
        ),
        (
            {"TKE_ROLE_ARN": "taskwatch"},
            "oidc: TKE_ROLE_ARN must look like qcs::cam::uin/<account id>:roleName/<role name>",
        ),
    ],
)
def test_oidc_warns_on_a_missing_variable_an_unreadable_token_or_a_bad_role(
    tmp_path: Path, override: dict[str, str], reason: str
) -> None:
    code, _, err = run_check(tmp_path, "oidc", tke(tmp_path, **override))
    assert code == 0
    warning(err, OIDC, reason)


def test_assume_role_resolves_its_source(tmp_path: Path) -> None:
    block = f"{{from: assume-role, role_arn: '{ROLE_ARN}', source: env}}"
    source = f"assume-role {ROLE_ARN} (source: {ENV_SOURCE})"
    code, out, err = run_check(tmp_path, block, ENV)
    assert (code, err) == (0, "")
    ok_line(out, source, f"ok ({MASKED})")
    code, _, err = run_check(tmp_path, block, {}, strict=True)
    assert code == 2
    warning(err, source, "environment variable TENCENTCLOUD_SECRET_ID is missing")


def test_cvm_role_is_a_note_not_a_warning_even_under_strict(tmp_path: Path) -> None:
    code, out, err = run_check(tmp_path, "{from: cvm-role, role: reader}", {}, strict=True)
    assert (code, err) == (0, "")
    ok_line(
        out,
        "cvm-role reader via http://metadata.tencentyun.com/latest/meta-data/",
        "note: only the instance metadata service has them, read at run time (not contacted here)",
    )


def test_one_line_per_account_in_order(tmp_path: Path) -> None:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(
        "accounts:\n"
        "  - {name: a, credentials: env}\n"
        "  - {name: b, credentials: cvm-role}\n"
        "  - {name: c, credentials: oidc}\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert check(str(path), every=False, strict=False, environ=ENV, out=out, err=err) == 0
    assert [line.split(":")[0] for line in out.getvalue().splitlines()[1:]] == [
        "account 'a'",
        "account 'b'",
    ]
    assert err.getvalue().startswith("warning: account 'c': credentials from oidc")
