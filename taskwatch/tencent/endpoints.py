"""Where a call goes: the URL, and the ``Host`` that is signed.

Three shapes, as the official SDKs offer them (reference §1):

- ``mps.tencentcloudapi.com`` (default, "nearest region"), or another root domain such as
  ``intl.tencentcloudapi.com`` for the international site;
- per-region hosts ``mps.ap-guangzhou.tencentcloudapi.com`` (required for the financial regions);
- a full override (``http://127.0.0.1:9460`` for the emulator, or a proxy). The signed host is then
  ``127.0.0.1:9460`` while the credential scope still names the product.

The data region is always the ``X-TC-Region`` header; the host is only the access point.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_ROOT_DOMAIN = "tencentcloudapi.com"
INTL_ROOT_DOMAIN = "intl.tencentcloudapi.com"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resolved access point: the URL to connect to and the host value to sign."""

    url: str
    host: str


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    """How an account reaches the API. ``override`` wins over everything else."""

    root_domain: str = DEFAULT_ROOT_DOMAIN
    regional: bool = False
    override: str | None = None
    scheme: str = "https"

    def __post_init__(self) -> None:
        if self.override is not None:
            parts = urlsplit(self.override)
            if parts.username is not None or parts.password is not None:  # never quoted
                raise ValueError("endpoint override must not carry a user name or password")
            try:
                _ = parts.port  # the HTTP client would raise a bare ValueError on every call
            except ValueError:
                raise ValueError(f"endpoint override {self.override!r} has a bad port") from None
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(
                    f"endpoint override {self.override!r} must be an absolute http(s) URL"
                )
            if parts.path not in ("", "/") or parts.query:
                raise ValueError(f"endpoint override {self.override!r} must have no path or query")

    def resolve(self, service: str, region: str | None) -> Endpoint:
        """The endpoint for ``service`` in ``region``."""
        if self.override is not None:
            parts = urlsplit(self.override)
            # Lower-cased: the specification signs lower-cased header values and the SDKs sign
            # them as given; sending the lower-cased host makes both readings agree.
            host = parts.netloc.lower()
            return Endpoint(url=f"{parts.scheme}://{host}/", host=host)
        if self.regional and region:
            host = f"{service}.{region}.{self.root_domain}"
        else:
            host = f"{service}.{self.root_domain}"
        host = host.lower()
        return Endpoint(url=f"{self.scheme}://{host}/", host=host)
