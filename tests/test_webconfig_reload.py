"""The web config re-read on reload: a rotated certificate reaches the next TLS handshake, new
users and hashes the next request, and a bad file keeps the last good one (failing the reload).

Real sockets, a real TLS client, certificates made by the real ``openssl``; no sleeping.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import anyio
import bcrypt
import pytest

from taskwatch.supervisor import Supervisor, load_config
from taskwatch.web.server import serve
from taskwatch.web.webconfig import LiveWebConfig, load_web_config, parse_web_config
from tests.components import require_binary
from tests.e2e.test_reload import reload_ok, write
from tests.emulator.harness import running_emulator
from tests.test_webconfig import HASH, PASSWORD, Pki, _openssl, app, basic, write_config
from tests.test_webconfig import pki as pki  # the fixture


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    openssl = require_binary("openssl", "openssl")
    _openssl(
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-keyout", f"{name}.key", "-out", f"{name}.crt",
        "-subj", "/CN=taskwatch-test", "-addext", "subjectAltName=IP:127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.crt", directory / f"{name}.key"


async def _served_serial(port: int, cafile: Path) -> str:
    """The serial number of the certificate a new TLS connection is shown."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        cert = writer.get_extra_info("peercert")
        return str(cert["serialNumber"])
    finally:
        writer.close()
        await writer.wait_closed()


def _serial(cert: Path) -> str:
    """The serial number as openssl prints it (``serial=HEX``)."""
    openssl = require_binary("openssl", "openssl")
    done = subprocess.run(
        [openssl, "x509", "-noout", "-serial", "-in", str(cert)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip().removeprefix("serial=")


async def test_a_rotated_certificate_reaches_new_connections_after_a_reload(
    tmp_path: Path,
) -> None:
    old = _self_signed(tmp_path, "old")
    new = _self_signed(tmp_path, "new")
    both = tmp_path / "both.crt"
    both.write_text(old[0].read_text() + new[0].read_text())
    shutil.copy(old[0], tmp_path / "tls.crt")
    shutil.copy(old[1], tmp_path / "tls.key")
    path = write_config(tmp_path, "tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n")
    live = LiveWebConfig(load_web_config(path))
    application, _ = app()
    async with serve(application, "127.0.0.1:0", web_config=live) as server:
        before = await _served_serial(server.port, both)
        shutil.copy(new[0], tmp_path / "tls.crt")  # what cert-manager does
        shutil.copy(new[1], tmp_path / "tls.key")
        unreloaded = await _served_serial(server.port, both)
        live.swap(load_web_config(path))
        after = await _served_serial(server.port, both)
    assert _serial(old[0]) != _serial(new[0])
    assert before == unreloaded == _serial(old[0])
    assert after == _serial(new[0])


async def test_a_changed_password_hash_applies_to_the_next_request(
    pki: Pki, tmp_path: Path
) -> None:
    path = write_config(tmp_path, f"basic_auth_users:\n  prometheus: {HASH}\n")
    live = LiveWebConfig(load_web_config(path))
    new_hash = bcrypt.hashpw(b"new password", bcrypt.gensalt(4)).decode()
    application, _ = app()
    async with (
        serve(application, "127.0.0.1:0", web_config=live) as server,
        aiohttp.ClientSession() as http,
    ):

        async def status(password: str) -> int:
            url = f"{server.url}/metrics"
            async with http.get(url, headers=basic("prometheus", password)) as response:
                return response.status

        first = (await status(PASSWORD), await status("new password"))
        write_config(tmp_path, f"basic_auth_users:\n  prometheus: {new_hash}\n")
        live.swap(load_web_config(path))
        second = (await status(PASSWORD), await status("new password"))
    assert first == (200, 401)
    assert second == (401, 200)


async def test_a_reload_applies_a_good_web_config_and_a_bad_one_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    web = write_config(tmp_path, f"basic_auth_users:\n  prometheus: {HASH}\n")
    new_hash = bcrypt.hashpw(b"new password", bcrypt.gensalt(4)).decode()
    async with running_emulator() as emu:
        config = tmp_path / "taskwatch.yaml"
        write(config, emu)
        config.write_text(
            config.read_text().replace(
                'http: {listen: "127.0.0.1:0", lifecycle: true}',
                f'http: {{listen: "127.0.0.1:0", lifecycle: true, web_config: {web}}}',
            )
        )
        settings, rules = load_config(config)
        d = Supervisor(settings, rules=rules, config_path=config)
        async with anyio.create_task_group() as tg, aiohttp.ClientSession() as http:
            tg.start_soon(lambda: d.run(install_signal_handlers=False))
            await d.started.wait()
            assert d.http is not None
            url = f"{d.http.url}/metrics"

            async def status(password: str) -> int:
                async with http.get(url, headers=basic("prometheus", password)) as response:
                    return response.status

            web.write_text("basic_auth_users:\n  prometheus: not-a-hash\n")
            bad = await d.reload()
            after_bad = (reload_ok(d), await status(PASSWORD))
            web.write_text(f"basic_auth_users:\n  prometheus: {new_hash}\n")
            good = await d.reload()
            after_good = (reload_ok(d), await status(PASSWORD), await status("new password"))
            d.stop()
    assert not bad[0]
    assert "basic_auth_users.prometheus" in bad[1]
    assert "not-a-hash" not in bad[1]
    assert after_bad == (0.0, 200)
    assert good == (True, "reloaded")
    assert after_good == (1.0, 401, 200)


async def test_required_client_certificates_are_still_required_after_a_reload(pki: Pki) -> None:
    data = {
        "tls_server_config": {
            "cert_file": str(pki.cert),
            "key_file": str(pki.key),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(pki.ca),
        }
    }
    live = LiveWebConfig(parse_web_config(data, file="web.yml"))
    application, _ = app()
    async with serve(application, "127.0.0.1:0", web_config=live) as server:
        live.swap(parse_web_config(data, file="web.yml"))
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
