"""TLS errors of a web config file keep OpenSSL's reason as their cause; file-level errors, whose
foreign exception could quote the file (a bcrypt hash, an inline key), keep none.

The message an operator reads (``file: key: reason``) is unchanged; the cause is what a traceback
adds. Certificates come from the ``pki`` fixture of tests/test_webconfig.py (openssl).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from taskwatch.errors import ConfigError
from taskwatch.web.webconfig import load_web_config, parse_web_config
from tests.test_webconfig import HASH, Pki, write_config
from tests.test_webconfig import pki as pki  # the fixture


def test_a_key_that_does_not_match_its_certificate_keeps_openssls_reason_as_cause(
    pki: Pki,
) -> None:
    data = {"tls_server_config": {"cert_file": str(pki.cert), "key_file": str(pki.other_key)}}
    with pytest.raises(ConfigError, match="does not match") as raised:
        parse_web_config(data, file="web.yml")
    cause = raised.value.__cause__
    assert isinstance(cause, ssl.SSLError)
    assert "PRIVATE KEY" not in str(cause)
    assert pki.other_key.read_text().splitlines()[1] not in repr(cause)


def test_an_encrypted_key_keeps_the_reason_it_was_refused_as_cause(pki: Pki) -> None:
    data = {"tls_server_config": {"cert_file": str(pki.cert), "key_file": str(pki.encrypted_key)}}
    with pytest.raises(ConfigError, match="encrypted") as raised:
        parse_web_config(data, file="web.yml")
    assert isinstance(raised.value.__cause__, ssl.SSLError | ValueError)


def test_a_client_ca_file_without_a_certificate_keeps_the_cause(pki: Pki) -> None:
    data = {
        "tls_server_config": {
            "cert_file": str(pki.cert),
            "key_file": str(pki.key),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(pki.key),
        }
    }
    with pytest.raises(ConfigError, match="client_ca_file") as raised:
        parse_web_config(data, file="web.yml")
    assert raised.value.__cause__ is not None


def test_invalid_yaml_quoting_a_hash_keeps_no_cause_that_could_quote_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, f"basic_auth_users:\n  alice: '{HASH}\n  bob: [\n")
    with pytest.raises(ConfigError, match="not valid YAML") as raised:
        load_web_config(path)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert HASH not in str(raised.value)
