"""The official Tencent Cloud Python SDK as an offline test oracle: what would it put on the wire?

Tests (signing now, the emulator later) compare taskwatch against the *real* SDK code path
(``AbstractClient.call_json`` / a product client method → request building → TC3 or v1 signing →
``requests``), not just the SDK's low-level ``Sign`` helper. Two seams make that offline and
deterministic:

- the clock: ``abstract_client`` reads ``int(time.time())``; :func:`sdk_wire` replaces the module's
  ``time`` name for the duration of the block with a frozen one (nothing process-wide is patched);
- the transport: the SDK sends through ``requests.Session`` (``client.request.conn._session``);
  :func:`sdk_wire` mounts a recording adapter on that session for ``http://`` and ``https://``,
  so the request is fully prepared by ``requests`` (session headers, URL, ``Content-Length``) and
  then recorded instead of sent. A canned response goes back through
  ``HTTPAdapter.build_response``, so the SDK's own response handling runs too.

Usage::

    client = common_client(service="mps", secret_id=..., secret_key=..., endpoint="127.0.0.1:9460")
    sent = capture_sdk_call(client, "DescribeTasks", {"Limit": 10}, now=1_700_000_000)
    sent.body, sent.query, sent.headers["authorization"], sent.timestamp

    # or any client / method, several calls, custom responses:
    client = mps_client.MpsClient(cred, "", profile)
    with sdk_wire(client, now=ts, respond=my_responder) as sent:
        client.DescribeTasks(req)

``SentRequest.body`` is the bytes ``http.client`` would write: the SDK passes a ``str`` body, which
``http.client`` encodes as ISO-8859-1 (harmless: ``json.dumps`` escapes non-ASCII by default).

Not covered: the async clients (``*_client_async``, httpx), retries, the region breaker.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tencentcloud.common import abstract_client
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

API_VERSIONS = {"mps": "2019-06-12", "dlc": "2021-01-25", "live": "2018-08-01"}
"""API version per product, as taskwatch uses them (reference §5-§7)."""

OK_RESPONSE = b'{"Response": {"RequestId": "00000000-0000-4000-8000-000000000000"}}'


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One request exactly as the SDK would have sent it."""

    method: str
    url: str
    host: str
    """The ``Host`` header value (the signed host, ``:port`` included)."""
    query: str
    """The raw query string as on the wire, ``""`` when there is none."""
    headers: Mapping[str, str]
    """Every header sent, names lower-cased."""
    body: bytes

    @property
    def timestamp(self) -> int:
        """``X-TC-Timestamp`` (TC3 requests only)."""
        return int(self.headers["x-tc-timestamp"])

    @property
    def content_type(self) -> str:
        return self.headers["content-type"]

    @property
    def authorization(self) -> str:
        return self.headers["authorization"]


Responder = Callable[[SentRequest], tuple[int, dict[str, str], bytes]]
"""Maps a recorded request to ``(status, headers, body)`` of the canned response."""


def ok_response(_: SentRequest) -> tuple[int, dict[str, str], bytes]:
    """An empty successful envelope, ``Content-Type: application/json``."""
    return 200, {"Content-Type": "application/json"}, OK_RESPONSE


class _RecordingAdapter(HTTPAdapter):
    def __init__(self, sent: list[SentRequest], respond: Responder) -> None:
        super().__init__()
        self._sent = sent
        self._respond = respond

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("iso-8859-1")  # what http.client does with a str body
        assert isinstance(body, bytes), "the SDK never streams a body"
        headers = {
            k.lower(): v if isinstance(v, str) else v.decode("iso-8859-1")
            for k, v in request.headers.items()
        }
        url = request.url or ""
        sent = SentRequest(
            method=request.method or "",
            url=url,
            host=headers.get("host", urlsplit(url).netloc),
            query=urlsplit(url).query,
            headers=headers,
            body=body,
        )
        self._sent.append(sent)
        status, resp_headers, resp_body = self._respond(sent)
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(resp_body),
            headers=resp_headers,
            status=status,
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


@contextmanager
def sdk_wire(
    client: abstract_client.AbstractClient,
    *,
    now: float,
    respond: Responder = ok_response,
) -> Iterator[list[SentRequest]]:
    """Freeze the SDK clock at ``now`` and record every request ``client`` sends in the block."""
    sent: list[SentRequest] = []
    session: requests.Session = client.request.conn._session
    saved_adapters = dict(session.adapters)
    adapter = _RecordingAdapter(sent, respond)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    saved_time = abstract_client.time
    abstract_client.time = SimpleNamespace(time=lambda: now)
    try:
        yield sent
    finally:
        abstract_client.time = saved_time
        session.adapters.clear()
        session.adapters.update(saved_adapters)


def common_client(
    *,
    service: str,
    secret_id: str,
    secret_key: str,
    token: str | None = None,
    region: str = "",
    version: str | None = None,
    endpoint: str | None = None,
    root_domain: str | None = None,
    method: str = "POST",
    scheme: str = "https",
    sign_method: str = "TC3-HMAC-SHA256",
    unsigned_payload: bool = False,
    language: str = "zh-CN",
) -> CommonClient:
    """A ``CommonClient`` for one product, configured the way a user of the SDK would.

    ``endpoint`` overrides the host completely (``127.0.0.1:9460``); otherwise the host is
    ``<service>.<root_domain>``. ``region=""`` omits ``X-TC-Region``.
    """
    http_profile = HttpProfile(
        protocol=scheme, endpoint=endpoint, reqMethod=method, rootDomain=root_domain
    )
    profile = ClientProfile(signMethod=sign_method, httpProfile=http_profile, language=language)
    profile.unsignedPayload = unsigned_payload
    credential = Credential(secret_id, secret_key, token)
    return CommonClient(service, version or API_VERSIONS[service], credential, region, profile)


def capture_sdk_call(
    client: abstract_client.AbstractClient,
    action: str,
    params: Mapping[str, Any],
    *,
    now: float,
) -> SentRequest:
    """Run ``client.call_json(action, params)`` offline at ``now``; return the one request sent."""
    with sdk_wire(client, now=now) as sent:
        response = client.call_json(action, dict(params))
    assert json.loads(OK_RESPONSE) == response
    (request,) = sent
    return request
