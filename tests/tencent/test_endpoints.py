"""Where a call goes and which Host is signed (reference §1). The override's signed host carrying
its port is also shown end to end in test_client (the fake endpoint verifies it)."""

from __future__ import annotations

import pytest

from taskwatch.tencent.endpoints import INTL_ROOT_DOMAIN, Endpoint, EndpointPolicy


def test_the_default_is_the_nearest_region_host() -> None:
    assert EndpointPolicy().resolve("mps", "ap-guangzhou") == Endpoint(
        url="https://mps.tencentcloudapi.com/", host="mps.tencentcloudapi.com"
    )


def test_the_international_site_is_a_root_domain() -> None:
    endpoint = EndpointPolicy(root_domain=INTL_ROOT_DOMAIN).resolve("mps", None)
    assert endpoint.host == "mps.intl.tencentcloudapi.com"
    assert endpoint.url == "https://mps.intl.tencentcloudapi.com/"


def test_regional_hosts_name_the_region() -> None:
    endpoint = EndpointPolicy(regional=True).resolve("dlc", "ap-shanghai-fsi")
    assert endpoint.host == "dlc.ap-shanghai-fsi.tencentcloudapi.com"
    assert endpoint.url == "https://dlc.ap-shanghai-fsi.tencentcloudapi.com/"


def test_a_regional_policy_without_a_region_uses_the_nearest_host() -> None:
    assert EndpointPolicy(regional=True).resolve("mps", None).host == "mps.tencentcloudapi.com"


def test_a_regional_host_on_the_international_site() -> None:
    endpoint = EndpointPolicy(root_domain=INTL_ROOT_DOMAIN, regional=True).resolve(
        "live", "ap-singapore"
    )
    assert endpoint.host == "live.ap-singapore.intl.tencentcloudapi.com"


@pytest.mark.parametrize(
    ("override", "url", "host"),
    [
        ("http://127.0.0.1:9460", "http://127.0.0.1:9460/", "127.0.0.1:9460"),
        ("http://127.0.0.1:9460/", "http://127.0.0.1:9460/", "127.0.0.1:9460"),
        ("https://proxy.example.com", "https://proxy.example.com/", "proxy.example.com"),
        ("http://[::1]:8080", "http://[::1]:8080/", "[::1]:8080"),
    ],
)
def test_an_override_wins_and_its_signed_host_keeps_the_port(
    override: str, url: str, host: str
) -> None:
    policy = EndpointPolicy(override=override, regional=True, root_domain=INTL_ROOT_DOMAIN)
    assert policy.resolve("mps", "ap-guangzhou") == Endpoint(url=url, host=host)
    assert policy.resolve("dlc", None) == Endpoint(url=url, host=host)


@pytest.mark.parametrize(
    "override",
    [
        "127.0.0.1:9460",
        "mps.tencentcloudapi.com",
        "ftp://127.0.0.1:9460",
        "http://",
        "http:///path",
        "http://127.0.0.1:9460/api",
        "http://127.0.0.1:9460/?x=1",
        "http://user:secret@127.0.0.1:9460",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:port",
    ],
)
def test_an_override_that_is_not_a_bare_http_origin_is_refused(override: str) -> None:
    with pytest.raises(ValueError, match=r"^endpoint override") as caught:
        EndpointPolicy(override=override)
    assert "secret" not in str(caught.value)
