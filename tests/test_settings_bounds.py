"""The configuration's size bounds: the file is refused before it is parsed when it is larger than
1 MiB, and every string value (after ``${...}`` expansion) and every key has a maximum length,
each refusal naming the file and the key without quoting the value."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskwatch.errors import ConfigError
from taskwatch.settings import load_settings, parse_settings

CANARY = "CANARY-SECRET-7f3a9c"
GOOD = "accounts:\n  - name: main\n    credentials: env\n"
MIB = 1 << 20


def regex_policy(pattern: str) -> dict[str, Any]:
    return {
        "accounts": [{"name": "main", "credentials": "env"}],
        "policies": [
            {
                "name": "big",
                "product": "mps",
                "action": "abort",
                "filters": [
                    {"status": "WAITING"},
                    {"key": "Name", "op": "regex", "value": pattern},
                ],
            }
        ],
    }


def refused(data: object, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_settings(data, source="test.yaml", environ=environ or {})
    assert info.value.__cause__ is None
    return info.value


def never_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def parser(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was handed to the YAML parser")

    monkeypatch.setattr(yaml, "SafeLoader", parser)


# --- the file ------------------------------------------------------------------------------------


def test_a_file_larger_than_1_mib_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 10 MB regex took 13 s and 1.5 GB to load before this bound.
    path = tmp_path / "taskwatch.yaml"
    path.write_text(GOOD + "x: '" + "a" * 10_000_000 + "'\n")
    never_parse(monkeypatch)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert (info.value.file, info.value.key) == (str(path), None)
    assert info.value.reason == (
        "the file is larger than 1 MiB (1048576 bytes): a configuration is far smaller; "
        "is it the right file?"
    )


def test_a_file_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "taskwatch.yaml"
    filler = "# " + "x" * 1021 + "\n"  # 1 KiB a line
    body = GOOD + filler * ((MIB - len(GOOD)) // len(filler))
    path.write_text(body + "#" * (MIB - len(body) - 1) + "\n")
    assert path.stat().st_size == MIB
    assert load_settings(path, environ={}).accounts[0].name == "main"
    path.write_text(path.read_text() + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_settings(path, environ={})


def test_a_stream_without_a_size_is_read_no_further_than_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endless = tmp_path / "endless.yaml"
    endless.write_bytes(b"#" * (3 * MIB))
    reads: list[int] = []
    real_open = Path.open

    class Counted:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            data: bytes = self.handle.read(size)
            return data

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Counted:
        return Counted(real_open(self, *args, **kwargs))

    monkeypatch.setattr(Path, "open", counting_open)
    never_parse(monkeypatch)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_settings(endless, environ={})
    assert reads
    assert all(0 <= size <= MIB + 1 for size in reads)


# --- strings and keys ----------------------------------------------------------------------------


def test_a_10_mb_string_is_refused_quickly_naming_its_key_and_the_file() -> None:
    started = time.process_time()
    err = refused(regex_policy("a" * 10_000_000))
    elapsed = time.process_time() - started
    assert (err.file, err.key) == ("test.yaml", "policies[0].filters[1].value")
    assert err.reason == (
        "rule 'big': is 10000000 characters long, more than the 8192 a value may have"
    )
    assert elapsed < 2.0  # 8.3 s of CPU (and 1.5 GB) before the bound, 0.05 s after


def test_a_string_of_8192_characters_is_a_value_and_one_more_is_refused() -> None:
    data = {"accounts": [{"name": "main", "credentials": {"from": "profile", "path": "p" * 8192}}]}
    assert parse_settings(data, source="test.yaml", environ={}).accounts[0].credentials
    data["accounts"][0]["credentials"]["path"] += "p"  # type: ignore[index]
    err = refused(data)
    assert (err.key, err.reason) == (
        "accounts[0].credentials.path",
        "is 8193 characters long, more than the 8192 a value may have",
    )


def test_an_expanded_value_is_bounded_and_never_quoted() -> None:
    data = {"accounts": [{"name": "main", "credentials": {"from": "profile", "path": "${P}"}}]}
    err = refused(data, environ={"P": CANARY * 1000})
    assert err.key == "accounts[0].credentials.path"
    assert CANARY not in str(err)
    assert err.reason == "expands to more than the 8192 characters a value may have"


def test_many_references_stop_expanding_once_the_bound_is_passed() -> None:
    data = {
        "accounts": [{"name": "main", "credentials": {"from": "profile", "path": "${P}" * 2000}}]
    }
    err = refused(data, environ={"P": "x" * 8000})  # 16 MB if expanded in full
    assert err.key == "accounts[0].credentials.path"
    assert err.reason == "expands to more than the 8192 characters a value may have"


def test_a_key_longer_than_256_characters_is_refused_without_quoting_it_whole() -> None:
    long = "k" * 5000
    err = refused({"accounts": [{"name": "main", "credentials": "env"}], "api": {long: 1}})
    assert (err.key, err.reason) == ("api", "a key is 5000 characters long, more than 256")


def test_the_bounds_leave_a_realistic_configuration_alone() -> None:
    url = "https://hooks.internal/send?key=" + "k" * 4000  # long signed URLs exist
    data = {
        **regex_policy("^rtmp://[a-z0-9.-]+/live/" + "(x|y)" * 150),
        "notifications": [{"name": "ops", "url": url}],
    }
    settings = parse_settings(data, source="test.yaml", environ={})
    assert settings.notifications[0].url.get_secret_value() == url
