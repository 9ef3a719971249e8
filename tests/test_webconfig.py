"""The exporter-toolkit web config over a real socket: TLS, client certificates, basic auth with
bcrypt, extra headers and a rate limit, checked with real clients (aiohttp and curl); and every
kind of bad file refused with the key it is about, never quoting a hash or a key.

Certificates are made by the real ``openssl`` once per module: a server certificate for
127.0.0.1, a client CA with a client certificate it signed, and a stranger's self-signed client
certificate.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
from prometheus_client import CollectorRegistry

from taskwatch.errors import ConfigError
from taskwatch.metrics.registry import Metrics
from taskwatch.web.auth import Authenticator
from taskwatch.web.server import HttpServer, build_app, serve
from taskwatch.web.webconfig import WebConfig, load_web_config, parse_web_config
from tests.components import require_binary

PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
"""Cost 4 keeps the tests fast; production hashes are cost 10 or more."""


class Healthy:
    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        return True, {}


class Switches:
    paused = False

    def pause(self, *, actor: str, reason: str) -> dict[str, bool]:
        self.paused = True
        return {"actions_paused": True}

    def resume(self, *, actor: str, reason: str) -> dict[str, bool]:
        self.paused = False
        return {"actions_paused": False}

    async def reload(self) -> tuple[bool, str]:
        return True, "reloaded"


@dataclass(frozen=True)
class Pki:
    dir: Path
    cert: Path
    key: Path
    ca: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path
    other_key: Path
    """A key that belongs to no certificate here."""
    encrypted_key: Path
    """The server's key, encrypted with a passphrase."""

    def trust(self, *, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """A client context trusting the server certificate (and presenting ``client``)."""
        ctx = ssl.create_default_context(cafile=str(self.cert))
        if client is not None:
            ctx.load_cert_chain(str(client[0]), str(client[1]))
        return ctx


def _openssl(binary: str, *args: str, cwd: Path) -> None:
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    openssl = require_binary("openssl", "openssl")
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    _openssl(
        openssl, "req", "-x509", *ec, "-keyout", "server.key", "-out", "server.crt",
        "-subj", "/CN=taskwatch-test",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        cwd=d,
    )  # fmt: skip
    _openssl(
        openssl, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
        "-subj", "/CN=taskwatch-test-client-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip
    _openssl(
        openssl, "req", *ec, "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=prometheus",
        cwd=d,
    )  # fmt: skip
    _openssl(
        openssl, "x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "client.crt",
        cwd=d,
    )  # fmt: skip
    _openssl(
        openssl, "req", "-x509", *ec, "-keyout", "stranger.key", "-out", "stranger.crt",
        "-subj", "/CN=stranger",
        cwd=d,
    )  # fmt: skip
    _openssl(openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", "other.key", cwd=d)  # fmt: skip
    _openssl(openssl, "pkey", "-in", "server.key", "-aes256", "-passout", "pass:passphrase1",
             "-out", "encrypted.key", cwd=d)  # fmt: skip
    return Pki(
        d,
        d / "server.crt",
        d / "server.key",
        d / "ca.crt",
        d / "client.crt",
        d / "client.key",
        d / "stranger.crt",
        d / "stranger.key",
        d / "other.key",
        d / "encrypted.key",
    )


def write_config(directory: Path, text: str) -> Path:
    path = directory / "web.yml"
    path.write_text(text)
    return path


def tls_and_auth(pki: Pki, extra: str = "") -> str:
    return (
        "tls_server_config:\n"
        f"  cert_file: {pki.cert}\n"
        f"  key_file: {pki.key}\n"
        "basic_auth_users:\n"
        f"  prometheus: {HASH}\n"
        "http_server_config:\n"
        "  headers:\n"
        "    X-Frame-Options: deny\n"
        "    X-Content-Type-Options: nosniff\n"
        "    Strict-Transport-Security: max-age=31536000\n" + extra
    )


@dataclass
class Secured:
    server: HttpServer
    pki: Pki
    switches: Switches

    @property
    def url(self) -> str:
        return self.server.url

    def session(self, **kwargs: Any) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(ssl=kwargs.pop("ssl", self.pki.trust()))
        return aiohttp.ClientSession(connector=connector, **kwargs)


def app() -> tuple[Any, Switches]:
    switches = Switches()
    metrics = Metrics(CollectorRegistry())
    return build_app(metrics=metrics, health=Healthy(), controls=switches, lifecycle=True), switches


@pytest.fixture
async def secured(pki: Pki, tmp_path: Path) -> AsyncIterator[Secured]:
    config = load_web_config(write_config(tmp_path, tls_and_auth(pki)))
    application, switches = app()
    async with serve(application, "127.0.0.1:0", web_config=config) as server:
        yield Secured(server, pki, switches)


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header (aiohttp 3.14 deprecates its BasicAuth helper)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def right() -> dict[str, str]:
    return basic("prometheus", PASSWORD)


# --- TLS and basic auth, real clients -----------------------------------------------------------


async def test_metrics_need_the_right_user_and_password_over_tls(secured: Secured) -> None:
    assert secured.url.startswith("https://127.0.0.1:")
    async with secured.session() as session:
        async with session.get(f"{secured.url}/metrics") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == 'Basic realm="taskwatch"'
            assert "taskwatch_" not in await response.text()
        wrong = basic("prometheus", "not the password")
        async with session.get(f"{secured.url}/metrics", headers=wrong) as response:
            assert response.status == 401
        stranger = basic("mallory", PASSWORD)
        async with session.get(f"{secured.url}/metrics", headers=stranger) as response:
            assert response.status == 401
        async with session.get(f"{secured.url}/metrics", headers=right()) as response:
            assert response.status == 200
            assert "# TYPE taskwatch_leader gauge" in await response.text()


async def test_a_malformed_authorization_header_is_401_not_an_error(secured: Secured) -> None:
    async with secured.session() as session:
        for header in ("Basic !!!notbase64", "Bearer abc", "Basic " + "bm9jb2xvbg=="):
            headers = {"Authorization": header}
            async with session.get(f"{secured.url}/metrics", headers=headers) as response:
                assert response.status == 401


async def test_curl_gets_401_without_and_200_with_credentials(secured: Secured) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (aiohttp covers the same ground)")

    async def status(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
            "--cacert", str(secured.pki.cert), *args, f"{secured.url}/metrics",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
        return out.decode()

    assert await status() == "401"
    assert await status("-u", "prometheus:wrong") == "401"
    assert await status("-u", f"prometheus:{PASSWORD}") == "200"


async def test_plain_http_to_the_tls_port_gets_no_answer(secured: Secured) -> None:
    plain = secured.url.replace("https://", "http://")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{plain}/metrics", headers=right()) as response:
                await response.read()


async def test_a_client_that_does_not_trust_the_certificate_cannot_connect(
    secured: Secured,
) -> None:
    async with secured.session(ssl=ssl.create_default_context()) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(f"{secured.url}/metrics", headers=right())


async def test_probes_answer_without_credentials_but_nothing_else_does(secured: Secured) -> None:
    async with secured.session() as session:
        for path in ("/healthz", "/readyz"):
            async with session.get(f"{secured.url}{path}") as response:
                assert response.status == 200, path
        for path in ("/", "/metrics", "/healthz/", "/readyz?x=1"):
            async with session.get(f"{secured.url}{path}") as response:
                # "/readyz?x=1" is still /readyz: open. The others need a user.
                assert response.status == (200 if path.startswith("/readyz") else 401), path
        async with session.post(f"{secured.url}/-/pause") as response:
            assert response.status == 401
        assert not secured.switches.paused
        async with session.post(f"{secured.url}/-/pause", headers=right()) as response:
            assert response.status == 200
        assert secured.switches.paused


async def test_probes_can_be_protected_too(pki: Pki, tmp_path: Path) -> None:
    path = write_config(tmp_path, tls_and_auth(pki))
    config = load_web_config(path, public_paths=frozenset())
    application, _ = app()
    async with (
        serve(application, "127.0.0.1:0", web_config=config) as server,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=pki.trust())) as session,
    ):
        async with session.get(f"{server.url}/healthz") as response:
            assert response.status == 401
        async with session.get(f"{server.url}/healthz", headers=right()) as response:
            assert response.status == 200


async def test_configured_headers_are_on_every_response_even_refusals(secured: Secured) -> None:
    async with secured.session() as session:
        for path, auth in (("/metrics", {}), ("/metrics", right()), ("/nowhere", right())):
            async with session.get(f"{secured.url}{path}", headers=auth) as response:
                assert response.headers["X-Frame-Options"] == "deny"
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_client_certificates_signed_by_the_client_ca_are_required(pki: Pki) -> None:
    config = parse_web_config(
        {
            "tls_server_config": {
                "cert_file": str(pki.cert),
                "key_file": str(pki.key),
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": str(pki.ca),
            }
        },
        file="web.yml",
    )
    application, _ = app()
    async with serve(application, "127.0.0.1:0", web_config=config) as server:
        trusted = pki.trust(client=(pki.client_cert, pki.client_key))
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusted)) as session,
            session.get(f"{server.url}/metrics") as response,
        ):
            assert response.status == 200
        for ctx in (pki.trust(), pki.trust(client=(pki.stranger_cert, pki.stranger_key))):
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
                with pytest.raises(aiohttp.ClientError):
                    async with session.get(f"{server.url}/metrics") as response:
                        await response.read()


async def test_min_version_tls13_refuses_a_tls12_client(pki: Pki, tmp_path: Path) -> None:
    text = f"tls_server_config:\n  cert_file: {pki.cert}\n  key_file: {pki.key}\n"
    config = load_web_config(write_config(tmp_path, text + "  min_version: TLS13\n"))
    application, _ = app()
    async with serve(application, "127.0.0.1:0", web_config=config) as server:
        old = pki.trust()
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=old)) as session:
            with pytest.raises(aiohttp.ClientError):
                await session.get(f"{server.url}/metrics")
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=pki.trust())) as session,
            session.get(f"{server.url}/metrics") as response,
        ):
            assert response.status == 200


async def test_inline_pem_and_relative_paths_load_like_files(pki: Pki, tmp_path: Path) -> None:
    def block(path: Path) -> str:
        return "|\n" + "".join(f"    {line}\n" for line in path.read_text().splitlines())

    inline_dir = tmp_path / "inline"
    inline_dir.mkdir()
    inline = load_web_config(
        write_config(
            inline_dir, f"tls_server_config:\n  cert: {block(pki.cert)}  key: {block(pki.key)}"
        )
    )
    assert inline.tls
    shutil.copy(pki.cert, tmp_path / "server.crt")
    shutil.copy(pki.key, tmp_path / "server.key")
    relative = load_web_config(
        write_config(tmp_path, "tls_server_config: {cert_file: server.crt, key_file: server.key}")
    )
    for config in (inline, relative):
        application, _ = app()
        async with (
            serve(application, "127.0.0.1:0", web_config=config) as server,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=pki.trust())) as session,
            session.get(f"{server.url}/healthz") as response,
        ):
            assert response.status == 200


async def test_basic_auth_works_without_tls_and_an_empty_file_changes_nothing(
    tmp_path: Path,
) -> None:
    auth_only = load_web_config(write_config(tmp_path, f"basic_auth_users:\n  ops: '{HASH}'\n"))
    assert not auth_only.tls
    application, _ = app()
    async with (
        serve(application, "127.0.0.1:0", web_config=auth_only) as server,
        aiohttp.ClientSession() as session,
    ):
        assert server.url.startswith("http://")
        async with session.get(f"{server.url}/metrics") as response:
            assert response.status == 401
        async with session.get(f"{server.url}/metrics", headers=basic("ops", PASSWORD)) as response:
            assert response.status == 200
    empty = load_web_config(write_config(tmp_path, ""))
    assert empty == WebConfig(file=str(tmp_path / "web.yml"))
    application, _ = app()
    async with (
        serve(application, "127.0.0.1:0", web_config=empty) as server,
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/metrics") as response,
    ):
        assert response.status == 200


async def test_the_rate_limit_answers_429_past_the_burst(tmp_path: Path) -> None:
    config = load_web_config(write_config(tmp_path, "rate_limit: {interval: 1h, burst: 2}\n"))
    application, _ = app()
    async with (
        serve(application, "127.0.0.1:0", web_config=config) as server,
        aiohttp.ClientSession() as session,
    ):
        statuses = []
        for _ in range(3):
            async with session.get(f"{server.url}/metrics") as response:
                statuses.append(response.status)
                retry_after = response.headers.get("Retry-After")
        assert statuses == [200, 200, 429]
        assert retry_after is not None
        assert int(retry_after) > 3000
        async with session.get(f"{server.url}/healthz") as response:
            assert response.status == 200  # probes are not rate limited


# --- the authenticator --------------------------------------------------------------------------


@pytest.fixture
def checkpw_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


async def test_a_success_is_cached_and_a_failure_is_not(checkpw_calls: list[bytes]) -> None:
    auth = Authenticator({"prometheus": HASH.encode()})
    assert await auth.check("prometheus", PASSWORD)
    assert await auth.check("prometheus", PASSWORD)
    assert len(checkpw_calls) == 1
    assert not await auth.check("prometheus", "guess")
    assert not await auth.check("prometheus", "guess")
    assert len(checkpw_calls) == 3


async def test_an_unknown_user_costs_a_bcrypt_check_like_a_known_one(
    checkpw_calls: list[bytes],
) -> None:
    auth = Authenticator({"prometheus": HASH.encode()})
    assert not await auth.check("mallory", PASSWORD)
    assert len(checkpw_calls) == 1


async def test_a_changed_hash_invalidates_what_was_cached() -> None:
    old = Authenticator({"prometheus": HASH.encode()})
    assert await old.check("prometheus", PASSWORD)
    new_hash = bcrypt.hashpw(b"new password", bcrypt.gensalt(4))
    new = Authenticator({"prometheus": new_hash})
    assert not await new.check("prometheus", PASSWORD)
    assert await new.check("prometheus", "new password")


async def test_htpasswd_2y_hashes_and_over_long_passwords_are_handled() -> None:
    y_hash = "$2y$" + HASH[4:]  # what `htpasswd -nBC 10` prints
    config = parse_web_config({"basic_auth_users": {"ops": y_hash}}, file="web.yml")
    auth = Authenticator(config.users)
    assert await auth.check("ops", PASSWORD)
    assert not await auth.check("ops", "x" * 100)  # bcrypt refuses > 72 bytes: a plain no


def test_nothing_secret_is_in_the_reprs(pki: Pki) -> None:
    config = parse_web_config(
        {
            "tls_server_config": {"cert_file": str(pki.cert), "key_file": str(pki.key)},
            "basic_auth_users": {"ops": HASH},
        },
        file="web.yml",
    )
    for text in (repr(config), repr(Authenticator(config.users))):
        assert HASH not in text
        assert HASH[7:29] not in text
    assert "ops" in repr(Authenticator(config.users))


# --- bad files ----------------------------------------------------------------------------------


def bad_configs(pki: Pki) -> list[tuple[str, str, str]]:
    """(YAML, the key the error must name, a word of the reason)."""
    tls = f"tls_server_config:\n  cert_file: {pki.cert}\n  key_file: {pki.key}\n"
    return [
        (
            f"tls_server_config:\n  cert_file: {pki.dir}/missing.crt\n  key_file: {pki.key}\n",
            "tls_server_config.cert_file",
            "No such file",
        ),
        (
            f"tls_server_config:\n  cert_file: {pki.cert}\n",
            "tls_server_config.key_file",
            "required",
        ),
        (
            f"tls_server_config:\n  cert_file: {pki.cert}\n  key_file: {pki.other_key}\n",
            "tls_server_config.key_file",
            "does not match",
        ),
        (
            f"tls_server_config:\n  cert_file: {pki.cert}\n  key_file: {pki.encrypted_key}\n",
            "tls_server_config.key_file",
            "encrypted",
        ),
        (
            f"tls_server_config:\n  cert_file: {pki.key}\n  key_file: {pki.key}\n",
            "tls_server_config.cert_file",
            "no PEM certificate",
        ),
        (tls + "  min_version: TLS1.3\n", "tls_server_config.min_version", "TLS13"),
        (tls + "  min_version: TLS11\n", "tls_server_config.min_version", "obsolete"),
        (
            tls + "  min_version: TLS13\n  max_version: TLS12\n",
            "tls_server_config.min_version",
            "above",
        ),
        (tls + "  certfile: x\n", "tls_server_config.certfile", "unknown key"),
        (
            tls + "  client_auth_type: RequireAnyClientCert\n",
            "tls_server_config.client_auth_type",
            "unverified",
        ),
        (
            tls + "  client_auth_type: RequireAndVerifyClientCert\n",
            "tls_server_config.client_ca_file",
            "required",
        ),
        (
            tls + f"  client_ca_file: {pki.ca}\n",
            "tls_server_config.client_auth_type",
            "NoClientCert",
        ),
        (
            tls + "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_RC4]\n",
            "tls_server_config.cipher_suites[1]",
            "unknown",
        ),
        (
            tls + f"  cert: '{pki.cert.read_text()}'\n",
            "tls_server_config.cert",
            "not both",
        ),
        (tls + "  client_allowed_sans: [a]\n", "tls_server_config.client_allowed_sans", "not"),
        ("basic_auth_users:\n  alice: '$2b$10$tooshort'\n", "basic_auth_users.alice", "bcrypt"),
        (f"basic_auth_users:\n  alice: '{HASH}x'\n", "basic_auth_users.alice", "bcrypt"),
        ("basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice", "bcrypt"),
        ("basic_auth_users: [alice]\n", "basic_auth_users", "mapping"),
        ("tls_config: {}\n", "tls_config", "unknown key"),
        (
            "http_server_config:\n  headers:\n    X-Powered-By: taskwatch\n",
            "http_server_config.headers.X-Powered-By",
            "unknown key",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "http_server_config.headers.X-Frame-Options",
            "deny",
        ),
        ("http_server_config:\n  http2: maybe\n", "http_server_config.http2", "true or false"),
        ("rate_limit: {interval: soon, burst: 1}\n", "rate_limit.interval", "duration"),
        ("rate_limit: {interval: 1s}\n", "rate_limit.burst", "≥ 1"),
    ]


def test_bad_files_are_refused_naming_the_key(pki: Pki, tmp_path: Path) -> None:
    key_text = pki.key.read_text()
    for text, key, reason in bad_configs(pki):
        path = write_config(tmp_path, text)
        with pytest.raises(ConfigError) as caught:
            load_web_config(path)
        error = caught.value
        assert (error.file, error.key) == (str(path), key), text
        assert reason in error.reason, (text, error.reason)
        message = str(error)
        assert HASH not in message
        assert "$2b$10$tooshort" not in message
        assert "hunter2" not in message
        assert key_text.splitlines()[1] not in message


def test_a_file_that_is_not_yaml_or_not_there_is_refused_without_quoting_it(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path, f"basic_auth_users:\n  alice: '{HASH}'\n   bob: [\n")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_web_config(path)
    assert HASH not in str(caught.value)
    with pytest.raises(ConfigError, match="No such file"):
        load_web_config(tmp_path / "absent.yml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_web_config(write_config(tmp_path, "- just\n- a list\n"))


def test_curve_preferences_are_accepted_with_a_warning(pki: Pki) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        config = parse_web_config(
            {
                "tls_server_config": {
                    "cert_file": str(pki.cert),
                    "key_file": str(pki.key),
                    "curve_preferences": ["CurveP256"],
                    "cipher_suites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
                    "prefer_server_cipher_suites": False,
                }
            },
            file="web.yml",
        )
    assert config.tls
    assert [e["key"] for e in logs if e["event"] == "webconfig.ignored"] == [
        "tls_server_config.curve_preferences"
    ]
