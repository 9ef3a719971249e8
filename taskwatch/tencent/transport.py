"""One pooled aiohttp session per process; foreign exceptions become taskwatch errors here.

The transport moves bytes and nothing else: it does not sign, parse or retry. What it guarantees is
the mapping at the boundary, so nothing above it ever sees an aiohttp or OS exception:

- the connection could not be opened → :class:`ConnectError` (the request never left);
- reset, broken pipe, TLS or payload errors after connecting → :class:`NetworkError`
  (the server may have acted);
- no complete answer within the timeouts → :class:`RequestTimeout` (the server may have acted).

Proxies come from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) as in every
aiohttp client with ``trust_env``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiohttp
from yarl import URL

from taskwatch.tencent.errors import NOWHERE, CallSite, ConnectError, NetworkError, RequestTimeout


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
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self._pool_size = pool_size
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None

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
                trust_env=self._trust_env,
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
        try:
            async with self._session.request(
                method,
                URL(url, encoded=True),  # as signed: yarl would re-quote %2C to "," and so on
                headers=headers,
                data=body if method == "POST" else None,
                allow_redirects=False,
            ) as resp:
                data = await resp.read()
                return RawResponse(
                    status=resp.status,
                    content_type=resp.headers.get("Content-Type", ""),
                    body=data,
                )
        except (aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError) as exc:
            raise ConnectError(f"cannot connect: {_describe(exc)}", site=site) from None
        except TimeoutError as exc:
            raise RequestTimeout(
                f"no answer within {self.timeouts.total:g}s: {_describe(exc)}", site=site
            ) from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            raise NetworkError(f"connection failed: {_describe(exc)}", site=site) from None


def _describe(exc: BaseException) -> str:
    """A one-line description of a foreign exception (its class and text, no traceback)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
