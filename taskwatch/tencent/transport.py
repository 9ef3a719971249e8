"""One pooled aiohttp session per process; foreign exceptions become taskwatch errors here.

The transport moves bytes and nothing else: it does not sign, parse or retry. What it guarantees is
the mapping at the boundary, so nothing above it ever sees an aiohttp or OS exception (the foreign
one stays the mapped error's ``__cause__``, for the traceback an operator reads; its text is
already in the message):

- the connection could not be opened → :class:`ConnectError` (the request never left);
- reset, broken pipe, TLS or payload errors after connecting → :class:`NetworkError`
  (the server may have acted);
- no complete answer within the timeouts → :class:`RequestTimeout` (the server may have acted);
- a body larger than ``max_body`` → :class:`ResponseTooLarge` (a :class:`ProtocolError`), or for a
  non-200 status an :class:`HttpStatusError` without its body. The body is never read past the
  limit: a ``Content-Length`` above it is refused before a byte is read, one within it on an
  unencoded answer is read whole (the common case, and the cheap one: streaming every answer cost
  about 5 % more client CPU per call), a chunked or compressed body is counted
  as it arrives (after decompression, so a small gzip bomb counts as what it inflates to), and the
  connection is closed rather than returned to the pool, where the rest of the body would still
  be waiting. The limit is on one answer; what the caller then builds from it (parsed JSON, several
  times the bytes) is not bounded here.

Proxies come from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) as in every
aiohttp client with ``trust_env``, but they are looked up once per origin (scheme and host) and
remembered for the life of the session, not on every request: aiohttp's ``trust_env`` sends each
request through two thread-pool hops (a ``.netrc`` lookup and a proxy lookup), which cost about
half of this client's CPU per call (tests/bench P4). ``.netrc`` credentials are not used: every
call carries its own ``Authorization`` header, which aiohttp refuses to combine with them anyway.
A change to the proxy variables takes effect with the next session (``close()`` then use).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn, Self

import aiohttp
from aiohttp.helpers import BasicAuth, get_env_proxy_for_url
from yarl import URL

from taskwatch.tencent.errors import (
    NOWHERE,
    CallSite,
    ConnectError,
    HttpStatusError,
    NetworkError,
    RequestTimeout,
    ResponseTooLarge,
)

DEFAULT_MAX_BODY = 16 * 1024 * 1024
"""16 MiB. A real answer is far smaller: a page of 100 MPS list records is about 30 KB, a page of
100 DLC records (each with its base64 SQL) a few hundred KB unless the SQL is huge, a detail answer
tens of KB; and the API refuses *requests* above 10 MB, so no task carries more than that. Parsed,
an answer takes about ten times its size (a 50 MB body peaked at 528 MB), so 16 MiB keeps one answer
near 200 MB, under the 512 MiB of ``deploy/kubernetes`` with the daemon's own ~60 MB."""
MIN_MAX_BODY = 1024
"""Below this not even an error envelope fits."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``total`` bounds a whole request, ``connect`` the wait for a pooled connection
    plus the TCP/TLS handshake."""

    connect: float = 5.0
    total: float = 30.0


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What came back, before any interpretation."""

    status: int
    content_type: str
    body: bytes


class Transport:
    """Sends prepared requests over a shared, pooled aiohttp session.

    Create it inside a running loop (``async with Transport() as t``); one per process is enough.
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        pool_size: int = 100,
        trust_env: bool = True,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if max_body < MIN_MAX_BODY:
            raise ValueError(f"max_body must be at least {MIN_MAX_BODY} bytes")
        self.max_body = max_body
        """The largest answer body read, in bytes (decompressed)."""
        self.timeouts = timeouts or Timeouts()
        self._pool_size = pool_size
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], tuple[URL | None, BasicAuth | None]] = {}
        self._urls: dict[str, URL] = {}

    async def __aenter__(self) -> Self:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def open(self) -> None:
        """Create the session (idempotent)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, ttl_dns_cache=300, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # proxies: see _proxy (once per origin, not per request)
                timeout=aiohttp.ClientTimeout(
                    total=self.timeouts.total,
                    connect=self.timeouts.connect,
                ),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
            # aiohttp silently sends a GET again when a pooled connection breaks (aio-libs/aiohttp
            # #10790); retrying is the client's decision, and a GET may be a destructive action.
            # A private switch, the one aiohttp's own test client uses; there is no public one.
            self._session._retry_connection = False
            self._proxies.clear()

    def _proxy(self, url: URL) -> tuple[URL | None, BasicAuth | None]:
        """The environment's proxy for this URL's origin (``None`` when none applies), looked
        up on first use of the origin; honours ``NO_PROXY``."""
        key = (url.scheme, url.host or "")
        found = self._proxies.get(key)
        if found is None:
            found = (None, None)
            if self._trust_env:
                with suppress(LookupError):
                    found = get_env_proxy_for_url(url)
            self._proxies[key] = found
        return found

    async def close(self) -> None:
        """Close the session and its pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes = b"",
        site: CallSite = NOWHERE,
    ) -> RawResponse:
        """Send one request; ``url`` already carries any query string, exactly as signed."""
        if self._session is None:
            self.open()
        assert self._session is not None
        target = self._urls.get(url)
        if target is None:
            target = URL(url, encoded=True)  # as signed: yarl would re-quote %2C to "," etc.
            if "?" not in url:  # endpoints are few; GET queries vary
                self._urls[url] = target
        proxy, proxy_auth = self._proxy(target)
        try:
            async with self._session.request(
                method,
                target,
                proxy=proxy,
                proxy_auth=proxy_auth,
                headers=headers,
                data=body if method == "POST" else None,
                allow_redirects=False,
            ) as resp:
                data = await self._read(resp, site)
                return RawResponse(
                    status=resp.status,
                    content_type=resp.headers.get("Content-Type", ""),
                    body=data,
                )
        except (aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError) as exc:
            raise ConnectError(f"cannot connect: {_describe(exc)}", site=site) from exc
        except TimeoutError as exc:
            raise RequestTimeout(
                f"no answer within {self.timeouts.total:g}s: {_describe(exc)}", site=site
            ) from exc
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            raise NetworkError(f"connection failed: {_describe(exc)}", site=site) from exc

    async def _read(self, resp: aiohttp.ClientResponse, site: CallSite) -> bytes:
        """The body, at most ``max_body`` bytes of it; past that the connection is closed (not
        pooled: the unread rest would be the next answer's prefix) and the answer refused."""
        limit = self.max_body
        announced = resp.content_length
        if announced is not None and announced > limit:
            self._refuse(resp, site, announced=announced)
        if announced is not None and "Content-Encoding" not in resp.headers:
            return await resp.read()  # exactly `announced` (≤ limit) bytes: nothing to count
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                chunks.clear()
                self._refuse(resp, site, announced=None)
            chunks.append(chunk)
        return b"".join(chunks)

    def _refuse(
        self, resp: aiohttp.ClientResponse, site: CallSite, *, announced: int | None
    ) -> NoReturn:
        resp.close()
        if resp.status != 200:  # a gateway's page: still an HTTP error, without its body
            raise HttpStatusError(resp.status, b"", site=site)
        raise ResponseTooLarge(self.max_body, announced=announced, site=site)


def _describe(exc: BaseException) -> str:
    """A one-line description of a foreign exception (its class and text, no traceback)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
