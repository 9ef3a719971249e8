"""Where the SecretId/SecretKey (and an optional session token) come from.

Four sources, each a :class:`CredentialSource`, picked by :func:`from_config`:

* ``env``: ``TENCENTCLOUD_SECRET_ID`` and ``TENCENTCLOUD_SECRET_KEY``, as the official SDK reads
  them (reference §4.6), plus a session token, for which the SDK has no variable:
  ``TENCENTCLOUD_SESSION_TOKEN``, or its alias ``TENCENTCLOUD_TOKEN``. When both are set, the
  explicit ``TENCENTCLOUD_SESSION_TOKEN`` wins.
  Read on every ``get()``: a dictionary lookup costs nothing, and there is nothing to cache.
* ``profile``: the SDK's INI file, ``~/.tencentcloud/credentials`` or else
  ``/etc/tencentcloud/credentials``, section ``[default]`` (or the one named), keys ``secret_id``,
  ``secret_key`` and, unlike the SDK, an optional ``token``. Read once; ``invalidate()`` re-reads.
* ``directory``: one value per file (``secret_id``, ``secret_key``, ``token``), as systemd's
  ``LoadCredential=`` (``$CREDENTIALS_DIRECTORY``) and Kubernetes Secret volumes lay them out. Each
  ``get()`` stats the files (through the ``..data`` symlinks) and lists the directory, and re-reads
  when anything moved, so a rotated Secret is picked up without a restart.
* ``static``: values given in the configuration; meant for tests and the emulator demo.

Every value must be non-empty and free of surrounding whitespace, as the SDK's ``Credential``
insists; the file loaders first strip what files naturally carry (INI values are trimmed, a value
file loses one trailing newline). An optional token that is empty counts as absent, so
``TENCENTCLOUD_SESSION_TOKEN=`` in an environment file does no harm. Errors name the variable, file,
section or key, never a value; ``repr()`` shows only a masked SecretId.

Three more, temporary and renewed before they expire, live in
:mod:`taskwatch.tencent.credentials_role`: ``assume-role`` (STS, signed with another source),
``cvm-role`` (the instance metadata service) and ``oidc`` (TKE's web identity); ``from_config``
builds them too.

Not guaranteed: no automatic chain (the configuration names one source, on purpose: a silent
fallback hides which key is in use); a file that changes within the filesystem's timestamp
granularity keeping its size and inode is only seen after ``invalidate()``.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from taskwatch.errors import CredentialError
from taskwatch.logs import register_secret

if TYPE_CHECKING:
    from taskwatch.tencent.credentials_role import RoleContext

ENV_SECRET_ID = "TENCENTCLOUD_SECRET_ID"  # noqa: S105 (a variable name, not a secret)
ENV_SECRET_KEY = "TENCENTCLOUD_SECRET_KEY"  # noqa: S105
ENV_TOKENS = ("TENCENTCLOUD_SESSION_TOKEN", "TENCENTCLOUD_TOKEN")
"""Session-token variables, first one set (and non-empty) wins."""
ENV_CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
PROFILE_PATHS = (Path("~/.tencentcloud/credentials"), Path("/etc/tencentcloud/credentials"))
"""Where the official SDK looks for its INI file, in order."""


def _checked(label: str, value: str) -> str:
    """``value`` if usable; otherwise a CredentialError naming ``label`` (never the value)."""
    if not value:
        raise CredentialError(f"{label} is empty")
    if value != value.strip():
        raise CredentialError(f"{label} has leading or trailing whitespace")
    return value


def _assemble(found: Mapping[str, str | None], label: Callable[[str], str]) -> Credentials:
    """Check each value under the name its source gives it, then build :class:`Credentials`.

    ``found`` maps ``secret_id``, ``secret_key`` and ``token`` to what was read (``None``: absent).
    """
    checked: dict[str, str] = {}
    for name in ("secret_id", "secret_key", "token"):
        value = found.get(name)
        if name == "token" and not value:
            continue  # an empty optional token counts as absent
        if value is None:
            raise CredentialError(f"{label(name)} is missing")
        checked[name] = _checked(label(name), value)
    return Credentials(checked["secret_id"], checked["secret_key"], checked.get("token"))


def _mask(secret_id: str) -> str:
    return f"{secret_id[:4]}…{secret_id[-4:]}" if len(secret_id) >= 12 else "…"


@dataclass(frozen=True, slots=True)
class Credentials:
    """One key pair (and session token). ``repr()`` never shows the key or the token."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _checked("secret_id", self.secret_id)
        _checked("secret_key", self.secret_key)
        if self.token is not None:
            _checked("token", self.token)
        # From here on, every log event is scrubbed of these values wherever they appear.
        register_secret(self.secret_key)
        register_secret(self.token)

    @property
    def masked_id(self) -> str:
        """The SecretId cut to its first and last four characters, for logs."""
        return _mask(self.secret_id)

    def __repr__(self) -> str:
        token = "present" if self.token is not None else "absent"
        return f"Credentials(secret_id={self.masked_id!r}, token={token})"


class CredentialSource(Protocol):
    """Hands out the current credentials; the client asks before every signed call."""

    async def get(self) -> Credentials:
        """The credentials to sign with now."""
        ...

    def invalidate(self) -> None:
        """Forget any cache (after ``AuthFailure.*`` or a key rotation): the next get re-reads."""
        ...

    def describe(self) -> str:
        """Where the credentials come from, for logs and errors; no secrets."""
        ...


class StaticCredentials:
    """Fixed credentials."""

    __slots__ = ("_credentials",)

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    async def get(self) -> Credentials:
        return self._credentials

    def invalidate(self) -> None:
        pass

    def describe(self) -> str:
        return f"static credentials {self._credentials.masked_id}"


def credentials_from_environ(environ: Mapping[str, str]) -> Credentials:
    """Credentials from environment variables (names and precedence: the module docstring)."""
    token_var = next((n for n in ENV_TOKENS if environ.get(n)), ENV_TOKENS[0])
    names = {"secret_id": ENV_SECRET_ID, "secret_key": ENV_SECRET_KEY, "token": token_var}
    found = {field: environ.get(var) for field, var in names.items()}
    return _assemble(found, lambda field: f"environment variable {names[field]}")


class EnvCredentials:
    """Environment variables; ``os.environ`` at ``get()`` time unless a mapping is given."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    async def get(self) -> Credentials:
        return credentials_from_environ(os.environ if self._environ is None else self._environ)

    def invalidate(self) -> None:
        pass

    def describe(self) -> str:
        return f"environment ({ENV_SECRET_ID}, {ENV_SECRET_KEY})"


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _read_text(path: Path) -> str | None:
    """A small file's text, ``None`` if it does not exist. Errors name the path, not the content."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialError(f"{path}: cannot read: {_reason(exc)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"{path}: not UTF-8 text") from None


def credentials_from_profile(path: Path, profile: str = "default") -> Credentials:
    """Read ``[profile]`` from an SDK-style INI file (values taken literally: no interpolation)."""
    text = _read_text(path)
    if text is None:
        raise CredentialError(f"{path}: no such file")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        # The parser's own message quotes the offending line, which may hold a secret.
        lineno = getattr(exc, "lineno", None) or next(iter(getattr(exc, "errors", [])), (None,))[0]
        where = f" (line {lineno})" if lineno else ""
        raise CredentialError(f"{path}: not a valid INI file{where}") from None
    if not parser.has_section(profile):
        raise CredentialError(f"{path}: no section [{profile}]")
    section = parser[profile]
    found = {key: section.get(key) for key in ("secret_id", "secret_key", "token")}
    return _assemble(found, lambda key: f"{path}: [{profile}] {key}")


class ProfileCredentials:
    """The SDK's INI credentials file, read on first use and again after ``invalidate()``."""

    __slots__ = ("_cached", "_path", "_profile", "_search")

    def __init__(
        self,
        path: Path | None = None,
        profile: str = "default",
        *,
        search: Sequence[Path] = PROFILE_PATHS,
    ) -> None:
        self._path = path
        self._profile = profile
        self._search = tuple(search)
        self._cached: Credentials | None = None

    def _resolve(self) -> Path:
        if self._path is not None:
            return self._path
        for candidate in self._search:
            try:
                resolved = candidate.expanduser()
            except RuntimeError:  # no home directory to expand "~" to
                continue
            if resolved.exists():
                return resolved
        raise CredentialError(
            "no credentials file: looked in " + ", ".join(str(p) for p in self._search)
        )

    async def get(self) -> Credentials:
        if self._cached is None:
            self._cached = credentials_from_profile(self._resolve(), self._profile)
        return self._cached

    def invalidate(self) -> None:
        self._cached = None

    def describe(self) -> str:
        where = self._path or " or ".join(str(p) for p in self._search)
        return f"profile [{self._profile}] in {where}"


_VALUE_FILES = ("secret_id", "secret_key", "token")
_Fingerprint = tuple[str, tuple[str, ...], tuple[tuple[int, int, int, int] | None, ...]]


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()  # follows symlinks: Kubernetes' ..data swap changes the target's inode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialError(f"{path}: cannot stat: {_reason(exc)}") from None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def directory_fingerprint(directory: Path) -> _Fingerprint:
    """What must stay equal for cached directory credentials to stay valid."""
    try:
        listing = tuple(sorted(os.listdir(directory)))
    except OSError as exc:
        raise CredentialError(f"{directory}: cannot list: {_reason(exc)}") from None
    stats = tuple(_stat(directory / name) for name in _VALUE_FILES)
    return (str(directory), listing, stats)


def _read_value(path: Path) -> str | None:
    text = _read_text(path)
    if text is None:
        return None
    return text.removesuffix("\n").removesuffix("\r")


def credentials_from_directory(directory: Path) -> Credentials:
    """Read one value per file; one trailing newline is dropped, any other whitespace is refused."""
    found = {name: _read_value(directory / name) for name in _VALUE_FILES}
    return _assemble(found, lambda name: f"file {directory / name}")


class DirectoryCredentials:
    """A directory of value files, re-read whenever a file or the listing changes."""

    __slots__ = ("_cached", "_environ", "_path")

    _ATTEMPTS = 3
    """Reads per get() while the directory changes under us (a torn read mixes two key pairs)."""

    def __init__(self, path: Path | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._path = path
        self._environ = environ
        self._cached: tuple[_Fingerprint, Credentials] | None = None

    def _directory(self) -> Path:
        if self._path is not None:
            return self._path
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(ENV_CREDENTIALS_DIRECTORY)
        if not value:
            raise CredentialError(f"environment variable {ENV_CREDENTIALS_DIRECTORY} is not set")
        return Path(value)

    async def get(self) -> Credentials:
        directory = self._directory()
        before = directory_fingerprint(directory)
        for _ in range(self._ATTEMPTS):
            if self._cached is not None and self._cached[0] == before:
                return self._cached[1]
            credentials = credentials_from_directory(directory)
            after = directory_fingerprint(directory)
            if after == before:
                self._cached = (after, credentials)
                return credentials
            before = after
        return credentials  # still moving: use the latest read, uncached

    def invalidate(self) -> None:
        self._cached = None

    def describe(self) -> str:
        return f"directory {self._path or '$' + ENV_CREDENTIALS_DIRECTORY}"


_KEYS: dict[str, frozenset[str]] = {
    "assume-role": frozenset(
        {"role_arn", "session_name", "duration", "source", "region", "endpoint"}
    ),
    "cvm-role": frozenset({"role", "endpoint"}),
    "directory": frozenset({"path"}),
    "env": frozenset(),
    "oidc": frozenset({"session_name", "duration", "endpoint"}),
    "profile": frozenset({"path", "profile"}),
    "static": frozenset({"secret_id", "secret_key", "token"}),
}
ROLES = frozenset({"assume-role", "cvm-role", "oidc"})
"""The sources of temporary credentials (:mod:`taskwatch.tencent.credentials_role`)."""


def string_key(spec: Mapping[str, Any], key: str) -> str | None:
    value = spec.get(key)
    if value is not None and not isinstance(value, str):
        raise CredentialError(f"credentials: {key} must be a string")
    return value


def from_config(
    spec: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    context: RoleContext | None = None,
) -> CredentialSource:
    """Build the source a configuration block names: ``{"from": "env" | "profile" | ...}``.

    ``context`` (the account's clock, transport and endpoints) is what a role source calls with.
    """
    kind = spec.get("from")
    if not isinstance(kind, str) or kind not in _KEYS:
        valid = ", ".join(sorted(_KEYS))
        if kind is None:
            raise CredentialError(f"credentials: 'from' is missing; valid: {valid}")
        shown = repr(kind) if isinstance(kind, str) else "(not a string)"
        raise CredentialError(f"credentials: unknown source {shown}; valid: {valid}")
    unknown = sorted(str(k) for k in spec if k != "from" and k not in _KEYS[kind])
    if unknown:
        raise CredentialError(f"credentials: unknown key(s) for {kind}: {', '.join(unknown)}")
    if kind in ROLES:
        from taskwatch.tencent.credentials_role import role_from_config  # imports this module

        return role_from_config(kind, spec, environ=environ, context=context)
    path = string_key(spec, "path")
    path_value = Path(path).expanduser() if path is not None else None
    if kind == "env":
        return EnvCredentials(environ)
    if kind == "profile":
        return ProfileCredentials(path_value, string_key(spec, "profile") or "default")
    if kind == "directory":
        return DirectoryCredentials(path_value, environ)
    found = {key: string_key(spec, key) for key in ("secret_id", "secret_key", "token")}
    return StaticCredentials(_assemble(found, lambda key: f"credentials: {key}"))
