"""Credential sources: happy paths, errors that name where (never what), rotation, from_config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taskwatch.errors import CredentialError
from taskwatch.tencent.credentials import (
    Credentials,
    CredentialSource,
    DirectoryCredentials,
    EnvCredentials,
    ProfileCredentials,
    StaticCredentials,
    from_config,
)

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
CANARY_KEY = "CANARY-SECRET-KEY-7f3a9c"
CANARY_TOKEN = "CANARY-SESSION-TOKEN-41b2e8"
CANARIES = (CANARY_KEY, CANARY_TOKEN)


def assert_no_secret(*objects: object) -> None:
    for obj in objects:
        for text in (str(obj), repr(obj)):
            for canary in CANARIES:
                assert canary not in text


def assert_no_context(err: BaseException) -> None:
    """A foreign exception (which could quote file content) is neither chained nor shown."""
    assert err.__cause__ is None
    assert err.__suppress_context__


def env(**extra: str) -> dict[str, str]:
    return {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": CANARY_KEY, **extra}


def write_profile(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def write_values(directory: Path, **values: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        (directory / name).write_text(value, encoding="utf-8")
    return directory


def bump_mtime(path: Path, seconds: int = 10) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


# Credentials


def test_repr_masks_the_secret_id_and_hides_key_and_token() -> None:
    creds = Credentials(SECRET_ID, CANARY_KEY, CANARY_TOKEN)
    assert repr(creds) == "Credentials(secret_id='AKID…MPLE', token=present)"
    assert str(creds) == repr(creds)
    assert "token=absent" in repr(Credentials(SECRET_ID, CANARY_KEY))
    assert_no_secret(creds)


def test_a_short_secret_id_is_masked_entirely() -> None:
    assert Credentials("AKIDshort", CANARY_KEY).masked_id == "…"


@pytest.mark.parametrize(
    ("secret_id", "secret_key", "token", "field"),
    [
        ("", CANARY_KEY, None, "secret_id"),
        (SECRET_ID, "", None, "secret_key"),
        (SECRET_ID, f" {CANARY_KEY}", None, "secret_key"),
        (SECRET_ID, f"{CANARY_KEY}\n", None, "secret_key"),
        (f"{SECRET_ID} ", CANARY_KEY, None, "secret_id"),
        (SECRET_ID, CANARY_KEY, f"{CANARY_TOKEN}\t", "token"),
        (SECRET_ID, CANARY_KEY, "", "token"),
    ],
)
def test_empty_or_padded_values_are_refused_naming_the_field_not_the_value(
    secret_id: str, secret_key: str, token: str | None, field: str
) -> None:
    with pytest.raises(CredentialError) as info:
        Credentials(secret_id, secret_key, token)
    assert field in str(info.value)
    assert_no_secret(info.value)


# Static


async def test_static_credentials_hand_back_what_they_were_given() -> None:
    creds = Credentials(SECRET_ID, CANARY_KEY, CANARY_TOKEN)
    source: CredentialSource = StaticCredentials(creds)
    assert await source.get() is creds
    source.invalidate()
    assert await source.get() is creds
    assert source.describe() == "static credentials AKID…MPLE"
    assert_no_secret(source.describe())


# Environment


async def test_env_reads_secret_id_key_and_session_token() -> None:
    source = EnvCredentials(env(TENCENTCLOUD_SESSION_TOKEN=CANARY_TOKEN))
    assert await source.get() == Credentials(SECRET_ID, CANARY_KEY, CANARY_TOKEN)
    assert "TENCENTCLOUD_SECRET_ID" in source.describe()


async def test_env_without_a_token_gives_credentials_without_a_token() -> None:
    assert (await EnvCredentials(env()).get()).token is None


async def test_env_session_token_wins_over_the_token_alias() -> None:
    environ = env(TENCENTCLOUD_SESSION_TOKEN=CANARY_TOKEN, TENCENTCLOUD_TOKEN="other-token")
    assert (await EnvCredentials(environ).get()).token == CANARY_TOKEN


async def test_env_token_alias_is_used_when_the_session_token_is_unset_or_empty() -> None:
    assert (await EnvCredentials(env(TENCENTCLOUD_TOKEN="alias")).get()).token == "alias"
    environ = env(TENCENTCLOUD_SESSION_TOKEN="", TENCENTCLOUD_TOKEN="alias")
    assert (await EnvCredentials(environ).get()).token == "alias"


async def test_env_empty_token_variable_counts_as_no_token() -> None:
    assert (await EnvCredentials(env(TENCENTCLOUD_SESSION_TOKEN="")).get()).token is None


@pytest.mark.parametrize("variable", ["TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"])
async def test_missing_variable_is_named_and_no_value_is_quoted(variable: str) -> None:
    environ = env()
    del environ[variable]
    with pytest.raises(CredentialError) as info:
        await EnvCredentials(environ).get()
    assert variable in str(info.value)
    assert_no_secret(info.value)


async def test_padded_secret_key_names_the_variable_not_the_value() -> None:
    environ = env(TENCENTCLOUD_SECRET_KEY=f"{CANARY_KEY} ")
    with pytest.raises(CredentialError, match="TENCENTCLOUD_SECRET_KEY") as info:
        await EnvCredentials(environ).get()
    assert "whitespace" in str(info.value)
    assert_no_secret(info.value)


async def test_padded_token_names_the_variable_that_supplied_it() -> None:
    environ = env(TENCENTCLOUD_TOKEN=f" {CANARY_TOKEN}")
    with pytest.raises(CredentialError, match="TENCENTCLOUD_TOKEN") as info:
        await EnvCredentials(environ).get()
    assert_no_secret(info.value)


async def test_env_reads_os_environ_at_get_time(monkeypatch: pytest.MonkeyPatch) -> None:
    source = EnvCredentials()
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", CANARY_KEY)
    monkeypatch.delenv("TENCENTCLOUD_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("TENCENTCLOUD_TOKEN", raising=False)
    assert (await source.get()).secret_key == CANARY_KEY
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "rotated-key")
    assert (await source.get()).secret_key == "rotated-key"


# Profile file

PROFILE = f"""
[default]
secret_id = {SECRET_ID}
secret_key = {CANARY_KEY}

[ops]
secret_id = AKIDopsopsopsopsops
secret_key = ops-%-key-with-percent
token = {CANARY_TOKEN}
"""


async def test_profile_reads_the_default_section(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "credentials", PROFILE)
    source = ProfileCredentials(path)
    assert await source.get() == Credentials(SECRET_ID, CANARY_KEY)
    assert str(path) in source.describe()
    assert "[default]" in source.describe()


async def test_profile_reads_a_named_section_with_a_token_literally(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "credentials", PROFILE)
    creds = await ProfileCredentials(path, "ops").get()
    assert creds == Credentials("AKIDopsopsopsopsops", "ops-%-key-with-percent", CANARY_TOKEN)


async def test_profile_search_takes_the_first_existing_file(tmp_path: Path) -> None:
    home = tmp_path / "home" / "credentials"  # absent: the search moves on
    system = write_profile(tmp_path / "etc-credentials", PROFILE)
    source = ProfileCredentials(search=(home, system))
    assert (await source.get()).secret_id == SECRET_ID
    assert str(home) in source.describe()
    home.parent.mkdir()
    write_profile(home, "[default]\nsecret_id=AKIDhome\nsecret_key=k\n")
    source.invalidate()
    assert (await source.get()).secret_id == "AKIDhome"


async def test_profile_search_without_any_file_names_every_place_it_looked(
    tmp_path: Path,
) -> None:
    places = (tmp_path / "a" / "credentials", tmp_path / "b" / "credentials")
    with pytest.raises(CredentialError) as info:
        await ProfileCredentials(search=places).get()
    assert all(str(p) in str(info.value) for p in places)


async def test_profile_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(CredentialError, match="nope: no such file"):
        await ProfileCredentials(path).get()


async def test_profile_missing_section_names_file_and_section(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "credentials", PROFILE)
    with pytest.raises(CredentialError) as info:
        await ProfileCredentials(path, "staging").get()
    assert str(path) in str(info.value)
    assert "[staging]" in str(info.value)
    assert_no_secret(info.value)


async def test_profile_missing_secret_key_names_file_and_key_not_the_value(
    tmp_path: Path,
) -> None:
    path = write_profile(tmp_path / "credentials", f"[default]\nsecret_id = {CANARY_KEY}\n")
    with pytest.raises(CredentialError) as info:
        await ProfileCredentials(path).get()
    message = str(info.value)
    assert str(path) in message
    assert "secret_key" in message
    assert_no_secret(info.value)


async def test_profile_empty_secret_key_is_refused(tmp_path: Path) -> None:
    path = write_profile(
        tmp_path / "credentials", f"[default]\nsecret_id={SECRET_ID}\nsecret_key=\n"
    )
    with pytest.raises(CredentialError, match=r"\[default\] secret_key is empty"):
        await ProfileCredentials(path).get()


async def test_profile_that_is_not_ini_names_the_line_but_not_its_content(
    tmp_path: Path,
) -> None:
    path = write_profile(tmp_path / "credentials", f"{CANARY_KEY}\n[default]\n")
    with pytest.raises(CredentialError) as info:
        await ProfileCredentials(path).get()
    assert str(info.value) == f"{path}: not a valid INI file (line 1)"
    assert_no_secret(info.value)
    assert_no_context(info.value)


async def test_unreadable_profile_names_the_path_without_a_chained_traceback(
    tmp_path: Path,
) -> None:
    path = tmp_path / "credentials"
    path.mkdir()  # reading a directory fails even as root
    with pytest.raises(CredentialError, match="cannot read") as info:
        await ProfileCredentials(path).get()
    assert str(path) in str(info.value)
    assert_no_context(info.value)


async def test_profile_that_is_not_utf8_is_refused_without_quoting_bytes(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_bytes(b"[default]\nsecret_key = \xff\xfe\n")
    with pytest.raises(CredentialError, match="not UTF-8") as info:
        await ProfileCredentials(path).get()
    assert "xff" not in str(info.value)
    assert_no_context(info.value)


async def test_profile_is_cached_until_invalidated(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "credentials", PROFILE)
    source = ProfileCredentials(path)
    first = await source.get()
    write_profile(path, f"[default]\nsecret_id={SECRET_ID}\nsecret_key=rotated\n")
    assert await source.get() is first
    source.invalidate()
    assert (await source.get()).secret_key == "rotated"


# Directory


async def test_directory_reads_one_value_per_file_dropping_one_newline(tmp_path: Path) -> None:
    directory = write_values(
        tmp_path / "creds",
        secret_id=f"{SECRET_ID}\n",
        secret_key=f"{CANARY_KEY}\r\n",
        token=CANARY_TOKEN,
    )
    source = DirectoryCredentials(directory)
    assert await source.get() == Credentials(SECRET_ID, CANARY_KEY, CANARY_TOKEN)
    assert source.describe() == f"directory {directory}"


async def test_directory_without_token_file_or_with_an_empty_one_has_no_token(
    tmp_path: Path,
) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, secret_key=CANARY_KEY)
    assert (await DirectoryCredentials(directory).get()).token is None
    write_values(directory, token="\n")
    assert (await DirectoryCredentials(directory).get()).token is None


async def test_directory_defaults_to_credentials_directory_variable(tmp_path: Path) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, secret_key=CANARY_KEY)
    source = DirectoryCredentials(environ={"CREDENTIALS_DIRECTORY": str(directory)})
    assert (await source.get()).secret_key == CANARY_KEY
    assert source.describe() == "directory $CREDENTIALS_DIRECTORY"


async def test_directory_without_path_or_variable_names_the_variable() -> None:
    with pytest.raises(CredentialError, match="CREDENTIALS_DIRECTORY is not set"):
        await DirectoryCredentials(environ={}).get()


async def test_directory_missing_secret_key_names_the_file_not_the_value(tmp_path: Path) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, token=CANARY_TOKEN)
    with pytest.raises(CredentialError) as info:
        await DirectoryCredentials(directory).get()
    assert str(directory / "secret_key") in str(info.value)
    assert_no_secret(info.value)


async def test_directory_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="cannot list") as info:
        await DirectoryCredentials(tmp_path / "absent").get()
    assert str(tmp_path / "absent") in str(info.value)
    assert_no_context(info.value)


async def test_directory_value_with_more_than_one_newline_is_refused(tmp_path: Path) -> None:
    directory = write_values(
        tmp_path / "creds", secret_id=SECRET_ID, secret_key=f"{CANARY_KEY}\n\n"
    )
    with pytest.raises(CredentialError, match="whitespace") as info:
        await DirectoryCredentials(directory).get()
    assert str(directory / "secret_key") in str(info.value)
    assert_no_secret(info.value)


async def test_directory_rereads_a_file_whose_mtime_changed(tmp_path: Path) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, secret_key="key-one")
    source = DirectoryCredentials(directory)
    assert (await source.get()).secret_key == "key-one"
    (directory / "secret_key").write_text("key-two")  # same size, same inode
    bump_mtime(directory / "secret_key")
    assert (await source.get()).secret_key == "key-two"


async def test_directory_notices_a_token_file_appearing(tmp_path: Path) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, secret_key=CANARY_KEY)
    source = DirectoryCredentials(directory)
    assert (await source.get()).token is None
    write_values(directory, token=CANARY_TOKEN)
    assert (await source.get()).token == CANARY_TOKEN


async def test_directory_is_cached_while_nothing_changes_until_invalidated(
    tmp_path: Path,
) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, secret_key="key-one")
    source = DirectoryCredentials(directory)
    first = await source.get()
    key_file = directory / "secret_key"
    st = key_file.stat()
    key_file.write_text("key-two")
    os.utime(key_file, ns=(st.st_atime_ns, st.st_mtime_ns))  # looks untouched
    assert await source.get() is first
    source.invalidate()
    assert (await source.get()).secret_key == "key-two"


def kubernetes_secret_volume(directory: Path, stamp: str, **values: str) -> None:
    """Lay out (or atomically update) a volume the way kubelet's AtomicWriter does."""
    directory.mkdir(exist_ok=True)
    write_values(directory / stamp, **values)
    (directory / "..data_tmp").symlink_to(stamp)
    os.replace(directory / "..data_tmp", directory / "..data")
    for name in values:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(Path("..data") / name)


async def test_directory_follows_a_kubernetes_data_symlink_swap(tmp_path: Path) -> None:
    volume = tmp_path / "secret"
    kubernetes_secret_volume(volume, "..2024_01_01_00_00_00.1", secret_id=SECRET_ID, secret_key="a")
    source = DirectoryCredentials(volume)
    assert (await source.get()).secret_key == "a"
    kubernetes_secret_volume(volume, "..2024_01_02_00_00_00.2", secret_id=SECRET_ID, secret_key="b")
    (volume / "..2024_01_01_00_00_00.1" / "secret_key").unlink()
    (volume / "..2024_01_01_00_00_00.1" / "secret_id").unlink()
    (volume / "..2024_01_01_00_00_00.1").rmdir()
    assert (await source.get()).secret_key == "b"


# from_config


async def test_from_config_builds_env(tmp_path: Path) -> None:
    source = from_config({"from": "env"}, environ=env())
    assert isinstance(source, EnvCredentials)
    assert (await source.get()).secret_key == CANARY_KEY


async def test_from_config_builds_profile_with_path_and_section(tmp_path: Path) -> None:
    path = write_profile(tmp_path / "credentials", PROFILE)
    source = from_config({"from": "profile", "path": str(path), "profile": "ops"})
    assert isinstance(source, ProfileCredentials)
    assert (await source.get()).token == CANARY_TOKEN


async def test_from_config_builds_directory(tmp_path: Path) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, secret_key=CANARY_KEY)
    source = from_config({"from": "directory", "path": str(directory)})
    assert isinstance(source, DirectoryCredentials)
    assert (await source.get()).secret_id == SECRET_ID


async def test_from_config_directory_without_path_uses_the_given_environ(tmp_path: Path) -> None:
    directory = write_values(tmp_path / "creds", secret_id=SECRET_ID, secret_key=CANARY_KEY)
    source = from_config({"from": "directory"}, environ={"CREDENTIALS_DIRECTORY": str(directory)})
    assert (await source.get()).secret_id == SECRET_ID


async def test_from_config_builds_static() -> None:
    spec = {"from": "static", "secret_id": SECRET_ID, "secret_key": CANARY_KEY}
    source = from_config({**spec, "token": CANARY_TOKEN})
    assert isinstance(source, StaticCredentials)
    assert await source.get() == Credentials(SECRET_ID, CANARY_KEY, CANARY_TOKEN)
    assert_no_secret(source.describe())


def test_from_config_static_without_secret_key_names_the_key() -> None:
    with pytest.raises(CredentialError, match="secret_key is missing"):
        from_config({"from": "static", "secret_id": SECRET_ID})


def test_from_config_static_with_a_non_string_value_does_not_quote_it() -> None:
    with pytest.raises(CredentialError, match="secret_key must be a string") as info:
        from_config({"from": "static", "secret_id": SECRET_ID, "secret_key": 73947})
    assert "73947" not in str(info.value)


@pytest.mark.parametrize("spec", [{"from": "vault"}, {}, {"from": 3}])
def test_from_config_unknown_source_lists_the_valid_ones(spec: dict[str, object]) -> None:
    with pytest.raises(CredentialError) as info:
        from_config(spec)
    assert "valid: assume-role, cvm-role, directory, env, oidc, profile, static" in str(info.value)


def test_from_config_refuses_keys_the_source_does_not_take() -> None:
    with pytest.raises(CredentialError, match=r"unknown key.*: secret_key"):
        from_config({"from": "env", "secret_key": CANARY_KEY})
