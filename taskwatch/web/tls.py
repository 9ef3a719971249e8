"""The ``tls_server_config`` section of a web config file (exporter-toolkit format) made into an
:class:`ssl.SSLContext`, and the :class:`Reader` that validates every section's values.

Certificate and key (files or inline PEM) are loaded here, at start-up and at each reload (a new
context each time; :class:`~taskwatch.web.webconfig.LiveWebConfig` hands it to new handshakes),
so a key that does not match its certificate fails before the first connection. What is refused
on purpose, and why, is in :mod:`taskwatch.web.webconfig`'s docstring: ``RequestClientCert`` and
``RequireAnyClientCert`` (certificates nobody verified), ``client_allowed_sans``, TLS 1.0/1.1
(RFC 8996); ``curve_preferences`` is ignored with a warning. Inline PEM is written to a private
temporary directory (mode 0600) only for as long as OpenSSL takes to read it.

Not guaranteed: that a cipher suite name the toolkit knows is offered by this OpenSSL (an
unavailable one is dropped; none available is an error).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from taskwatch.errors import ConfigError

log = structlog.get_logger(__name__)

__all__ = ["Reader", "join", "tls_context"]

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = frozenset({"RequestClientCert", "RequireAnyClientCert"})
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_OBSOLETE_VERSIONS = frozenset({"TLS10", "TLS11"})
# Go's names (crypto/tls, the ones tls.CipherSuites() lists for TLS 1.0-1.2) → OpenSSL's.
_CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
}
# fmt: off
_TLS_KEYS = frozenset({
    "cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file",
    "client_allowed_sans", "min_version", "max_version", "cipher_suites",
    "prefer_server_cipher_suites", "curve_preferences",
})
# fmt: on


@dataclass(frozen=True, slots=True)
class Reader:
    """Reads one web config file's values: each check raises a ConfigError naming the file and
    the key, never quoting the value (it may be a hash or a key). Shared with webconfig."""

    file: str
    directory: Path

    def error(self, key: str | None, reason: str) -> ConfigError:
        return ConfigError(reason, file=self.file, key=key)

    def mapping(
        self, value: object, key: str | None, allowed: frozenset[str] | set[str]
    ) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"must be a mapping, not {type(value).__name__}")
        for name in value:
            if not isinstance(name, str):
                raise self.error(key, f"keys must be strings, not {type(name).__name__}")
            if name not in allowed:
                raise self.error(join(key, name), "unknown key")
        return value

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, "must be a non-empty string")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def strings(self, value: object, key: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, "must be a list of strings")
        return [self.string(v, f"{key}[{i}]") for i, v in enumerate(value)]

    def path(self, value: object, key: str) -> Path:
        path = Path(self.string(value, key))
        return path if path.is_absolute() else self.directory / path

    def read(self, path: Path, key: str) -> str:
        try:
            return path.read_text(encoding="ascii")
        except OSError as exc:
            raise self.error(
                key, f"cannot read {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        except UnicodeDecodeError:
            raise self.error(key, f"{path} is not PEM text") from None


def join(prefix: str | None, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def tls_context(r: Reader, value: object) -> ssl.SSLContext | None:
    k = "tls_server_config"
    tls = r.mapping(value, k, _TLS_KEYS)
    if not tls:
        return None
    if "client_allowed_sans" in tls:
        raise r.error(
            f"{k}.client_allowed_sans",
            "not supported by taskwatch: use a client CA "
            "that issues certificates only to allowed clients",
        )
    if "curve_preferences" in tls:
        r.strings(tls["curve_preferences"], f"{k}.curve_preferences")
        log.warning(
            "webconfig.ignored",
            file=r.file,
            key=f"{k}.curve_preferences",
            reason="OpenSSL's default curves are used",
        )

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _version(r, tls.get("min_version", "TLS12"), f"{k}.min_version")
    ctx.maximum_version = _version(r, tls.get("max_version", "TLS13"), f"{k}.max_version")
    if ctx.minimum_version > ctx.maximum_version:
        raise r.error(f"{k}.min_version", "is above max_version")
    _load_chain(r, ctx, tls)

    auth_type = r.string(tls.get("client_auth_type", "NoClientCert"), f"{k}.client_auth_type")
    if auth_type in _UNVERIFIED_CLIENT_AUTH:
        raise r.error(
            f"{k}.client_auth_type",
            f"{auth_type} accepts unverified certificates: "
            "use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)",
        )
    if auth_type not in _CLIENT_AUTH:
        raise r.error(
            f"{k}.client_auth_type", f"unknown {auth_type!r}; one of {sorted(_CLIENT_AUTH)}"
        )
    ctx.verify_mode = _CLIENT_AUTH[auth_type]
    ca = _client_ca(r, tls)
    if ca is None and ctx.verify_mode != ssl.CERT_NONE:
        raise r.error(f"{k}.client_ca_file", f"is required with client_auth_type {auth_type}")
    if ca is not None:
        if ctx.verify_mode == ssl.CERT_NONE:
            raise r.error(
                f"{k}.client_auth_type",
                "client CAs are configured but NoClientCert "
                "would never ask for a client certificate",
            )
        try:
            ctx.load_verify_locations(cadata=ca)
        except (ssl.SSLError, ValueError) as exc:  # OpenSSL's reason: kept as the cause
            raise r.error(f"{k}.client_ca_file", "holds no valid PEM certificate") from exc

    suites = r.strings(tls.get("cipher_suites"), f"{k}.cipher_suites")
    for i, name in enumerate(suites):
        if name not in _CIPHERS:
            raise r.error(f"{k}.cipher_suites[{i}]", f"unknown TLS 1.2 cipher suite {name!r}")
    if suites:
        try:
            ctx.set_ciphers(":".join(_CIPHERS[s] for s in suites))
        except ssl.SSLError as exc:
            raise r.error(f"{k}.cipher_suites", "none of these suites is available") from exc
    if r.boolean(tls.get("prefer_server_cipher_suites", True), f"{k}.prefer_server_cipher_suites"):
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


def _version(r: Reader, value: object, key: str) -> ssl.TLSVersion:
    if value in _OBSOLETE_VERSIONS:
        raise r.error(key, f"{value} is obsolete (RFC 8996); use TLS12 or TLS13")
    if not isinstance(value, str) or value not in _VERSIONS:
        raise r.error(key, f"must be one of {sorted(_VERSIONS)}, not {value!r}")
    return _VERSIONS[value]


def _pem(
    r: Reader, tls: Mapping[str, Any], inline: str, file_key: str
) -> tuple[str, str, Path | None] | None:
    """(PEM text, the key to blame, the file if given as one); giving both forms is an error."""
    k = "tls_server_config"
    if inline in tls and file_key in tls:
        raise r.error(f"{k}.{inline}", f"give {inline} or {file_key}, not both")
    if inline in tls:
        return r.string(tls[inline], f"{k}.{inline}"), f"{k}.{inline}", None
    if file_key in tls:
        blame = f"{k}.{file_key}"
        path = r.path(tls[file_key], blame)
        return r.read(path, blame), blame, path
    return None


def _client_ca(r: Reader, tls: Mapping[str, Any]) -> str | None:
    found = _pem(r, tls, "client_ca", "client_ca_file")
    return None if found is None else found[0]


def _load_chain(r: Reader, ctx: ssl.SSLContext, tls: Mapping[str, Any]) -> None:
    k = "tls_server_config"
    cert = _pem(r, tls, "cert", "cert_file")
    key = _pem(r, tls, "key", "key_file")
    if cert is None:
        raise r.error(f"{k}.cert_file", "is required (or cert, inline)")
    if key is None:
        raise r.error(f"{k}.key_file", "is required (or key, inline)")
    if "-----BEGIN CERTIFICATE-----" not in cert[0]:
        raise r.error(cert[1], "holds no PEM certificate")
    if "PRIVATE KEY-----" not in key[0]:
        raise r.error(key[1], "holds no PEM private key")
    # ssl loads chains from files only: inline PEM goes through a private temporary directory
    # (0700), removed at once. An encrypted key fails instead of prompting on the terminal.
    with contextlib.ExitStack() as stack:
        if cert[2] is not None and key[2] is not None:
            paths = (str(cert[2]), str(key[2]))
        else:
            paths = stack.enter_context(_private_files(cert[0], key[0]))
        try:
            ctx.load_cert_chain(*paths, password=_no_password)
        except (ssl.SSLError, OSError, ValueError) as exc:
            # The cause says which of the three (OpenSSL's reason quotes no key material).
            raise r.error(
                key[1],
                f"does not match the certificate of {cert[1]}, or is encrypted or not a PEM key",
            ) from exc


def _no_password() -> bytes:
    raise ValueError("encrypted private keys are not supported")


@contextlib.contextmanager
def _private_files(cert: str, key: str) -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="taskwatch-tls-") as directory:
        paths = []
        for name, text in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(text)
            paths.append(path)
        yield paths[0], paths[1]
