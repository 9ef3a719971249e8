"""The HTTP face over a real socket: metrics formats, probes following the health view, index."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from taskwatch.clock import ManualClock
from taskwatch.metrics.registry import Metrics, TaskGroup
from taskwatch.models import SourceKey
from taskwatch.web.server import HttpServer, build_app, parse_listen, serve

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
SOURCE = SourceKey("acct-a", "mps", "global")


@dataclass
class FakeHealth:
    """A health view the test flips by hand."""

    live: bool = True
    ready: bool = True
    details: dict[str, Any] = field(default_factory=dict)
    calls: int = 0

    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        self.calls += 1
        return self.live, {"loops": {"mps": "running"}, **self.details}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        self.calls += 1
        if self.details.get("explode"):
            raise RuntimeError("the view itself is broken")
        return self.ready, {"config": "loaded" if self.ready else "missing", **self.details}


@dataclass
class Served:
    url: str
    health: FakeHealth
    metrics: Metrics
    session: aiohttp.ClientSession


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    metrics = Metrics(CollectorRegistry(), clock=ManualClock())
    metrics.publish_tasks(SOURCE, {("WorkflowTask", "WAITING"): TaskGroup(2, None)})
    health = FakeHealth()
    async with (
        serve(build_app(metrics=metrics, health=health), "127.0.0.1:0") as server,
        aiohttp.ClientSession() as session,
    ):
        yield Served(server.url, health, metrics, session)


async def test_metrics_are_plain_text_by_default(served: Served) -> None:
    async with served.session.get(f"{served.url}/metrics") as response:
        body = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE taskwatch_tasks gauge" in body
    assert (
        'taskwatch_tasks{account="acct-a",product="mps",region="global",'
        'status="WAITING",type="WorkflowTask"} 2.0'
    ) in body
    assert "# EOF" not in body


@pytest.mark.parametrize("accept", [OPENMETRICS, PROMETHEUS_ACCEPT])
async def test_metrics_are_openmetrics_when_the_scraper_asks_for_them(
    served: Served, accept: str
) -> None:
    async with served.session.get(f"{served.url}/metrics", headers={"Accept": accept}) as response:
        body = await response.text()
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")
    assert "# TYPE taskwatch_build info" in body


async def test_metrics_are_gzipped_when_the_client_accepts_it(served: Served) -> None:
    headers = {"Accept-Encoding": "gzip"}
    async with (
        aiohttp.ClientSession(auto_decompress=False) as raw_session,
        raw_session.get(f"{served.url}/metrics", headers=headers) as response,
    ):
        raw = await response.read()
    assert response.headers["Content-Encoding"] == "gzip"
    assert b"taskwatch_tasks" in gzip.decompress(raw)


async def test_metrics_can_be_restricted_to_some_families(served: Served) -> None:
    params = {"name[]": "taskwatch_leader"}
    async with served.session.get(f"{served.url}/metrics", params=params) as response:
        body = await response.text()
    assert "taskwatch_leader 0.0" in body
    assert "taskwatch_tasks" not in body


async def test_metrics_are_rendered_fresh_on_every_scrape(served: Served) -> None:
    served.metrics.set_leader(True)
    async with served.session.get(f"{served.url}/metrics") as response:
        assert "taskwatch_leader 1.0" in await response.text()


async def test_liveness_is_200_with_details_while_the_view_says_alive(served: Served) -> None:
    async with served.session.get(f"{served.url}/healthz") as response:
        body = await response.json()
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert body == {"status": "ok", "loops": {"mps": "running"}}


async def test_liveness_is_503_with_details_when_the_view_says_dead(served: Served) -> None:
    served.health.live = False
    async with served.session.get(f"{served.url}/healthz") as response:
        body = await response.json()
    assert response.status == 503
    assert body["status"] == "unavailable"
    assert body["loops"] == {"mps": "running"}


async def test_readiness_follows_the_view_both_ways(served: Served) -> None:
    served.health.ready = False
    async with served.session.get(f"{served.url}/readyz") as response:
        assert response.status == 503
        assert await response.json() == {"status": "unavailable", "config": "missing"}
    served.health.ready = True
    async with served.session.get(f"{served.url}/readyz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "config": "loaded"}


async def test_a_detail_cannot_override_the_status_the_server_reports(served: Served) -> None:
    served.health.live = False
    served.health.details = {"status": "ok"}
    async with served.session.get(f"{served.url}/healthz") as response:
        assert (await response.json())["status"] == "unavailable"


async def test_a_health_view_that_raises_makes_the_probe_fail_with_a_reason(
    served: Served,
) -> None:
    served.health.details = {"explode": True}
    async with served.session.get(f"{served.url}/readyz") as response:
        assert response.status == 503
        assert await response.json() == {"status": "unavailable", "error": "RuntimeError"}


async def test_the_index_links_the_endpoints_and_nothing_else(served: Served) -> None:
    async with served.session.get(f"{served.url}/") as response:
        page = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    for path in ("metrics", "healthz", "readyz"):
        assert f'href="{path}"' in page
    assert page.count("href=") == 3


async def test_unknown_paths_are_404_and_writes_are_refused(served: Served) -> None:
    async with served.session.get(f"{served.url}/status/secret") as response:
        assert response.status == 404
    async with served.session.post(f"{served.url}/metrics") as response:
        assert response.status == 405


async def test_probes_call_the_view_once_per_request(served: Served) -> None:
    for path in ("healthz", "readyz", "healthz"):
        async with served.session.get(f"{served.url}/{path}") as response:
            assert response.status == 200
    assert served.health.calls == 3


async def test_port_zero_binds_a_free_port_that_is_released_on_stop() -> None:
    metrics = Metrics(CollectorRegistry())
    server = HttpServer(build_app(metrics=metrics, health=FakeHealth()))
    await server.start("127.0.0.1:0")
    port = server.port
    assert port > 0
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/healthz") as r:
        assert json.loads(await r.text())["status"] == "ok"
    await server.stop()
    with pytest.raises(RuntimeError):
        _ = server.port
    again = HttpServer(build_app(metrics=metrics, health=FakeHealth()))
    await again.start(f"127.0.0.1:{port}")
    assert again.port == port
    await again.stop()


@pytest.mark.parametrize(
    ("listen", "parsed"),
    [
        ("127.0.0.1:10911", ("127.0.0.1", 10911)),
        (":10911", (None, 10911)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_listen_addresses_are_host_and_port(listen: str, parsed: tuple[str | None, int]) -> None:
    assert parse_listen(listen) == parsed


@pytest.mark.parametrize("listen", ["10911", "host:", "host:http", "host:70000", ""])
def test_listen_addresses_without_a_valid_port_are_refused(listen: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_listen(listen)


@dataclass
class FakeControls:
    """Switches the test reads back; ``reload`` answers what the test set."""

    paused: bool = False
    reload_result: tuple[bool, str] = (True, "reloaded")
    reload_raises: bool = False
    reloads: int = 0

    def pause(self, *, actor: str, reason: str) -> dict[str, Any]:
        self.paused = True
        return {"actions_paused": True}

    def resume(self, *, actor: str, reason: str) -> dict[str, Any]:
        self.paused = False
        return {"actions_paused": False}

    async def reload(self) -> tuple[bool, str]:
        self.reloads += 1
        if self.reload_raises:
            raise RuntimeError("the reload itself is broken")
        return self.reload_result


@pytest.fixture
async def controlled() -> AsyncIterator[tuple[str, FakeControls, aiohttp.ClientSession]]:
    controls = FakeControls()
    app = build_app(
        metrics=Metrics(CollectorRegistry()), health=FakeHealth(), controls=controls, lifecycle=True
    )
    async with serve(app, "127.0.0.1:0") as server, aiohttp.ClientSession() as session:
        yield server.url, controls, session


async def test_reload_answers_200_when_the_new_configuration_is_applied(
    controlled: tuple[str, FakeControls, aiohttp.ClientSession],
) -> None:
    url, controls, session = controlled
    async with session.post(f"{url}/-/reload") as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert await response.json() == {"reloaded": True}
    assert controls.reloads == 1


async def test_reload_answers_400_with_the_reason_when_the_file_is_refused(
    controlled: tuple[str, FakeControls, aiohttp.ClientSession],
) -> None:
    url, controls, session = controlled
    controls.reload_result = (False, "taskwatch.yaml: api.budget: must be ≤ 1")
    async with session.post(f"{url}/-/reload") as response:
        assert response.status == 400
        assert await response.json() == {
            "reloaded": False,
            "error": "taskwatch.yaml: api.budget: must be ≤ 1",
        }


async def test_a_reload_that_raises_is_a_500_naming_only_the_error_class(
    controlled: tuple[str, FakeControls, aiohttp.ClientSession],
) -> None:
    url, controls, session = controlled
    controls.reload_raises = True
    async with session.post(f"{url}/-/reload") as response:
        assert response.status == 500
        assert await response.json() == {"reloaded": False, "error": "RuntimeError"}


async def test_switches_are_post_only(
    controlled: tuple[str, FakeControls, aiohttp.ClientSession],
) -> None:
    url, controls, session = controlled
    for path in ("/-/pause", "/-/resume", "/-/reload"):
        async with session.get(f"{url}{path}") as response:
            assert response.status == 405, path
    assert controls.reloads == 0
    async with session.post(f"{url}/-/pause") as response:
        assert await response.json() == {"actions_paused": True}
    assert controls.paused
    async with session.post(f"{url}/-/resume") as response:
        assert await response.json() == {"actions_paused": False}
    assert not controls.paused
