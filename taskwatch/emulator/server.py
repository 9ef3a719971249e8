"""The emulator's HTTP face: one aiohttp application for MPS, DLC and Live, plus inspection.

STS (:mod:`taskwatch.emulator.sts`, by host or version ``2018-08-13``) is answered before the
product pipeline, and the CVM metadata service (:mod:`taskwatch.emulator.metadata`) has its own
paths under ``/latest/meta-data/``.

Every API request goes through the same pipeline, in the order the real gateway appears to apply
it: method → size → Action/Version → product → signature and clock skew → action → injected faults
→ rate limit → region → parameters → handler → envelope → log. Each step answers with the real
error code (reference §3 and §9), always HTTP 200 with ``Content-Type: application/json`` and a
fresh ``RequestId``, except the faults that imitate a broken network or gateway.

Dispatch is on ``X-TC-Version`` and ``X-TC-Action`` (both MPS and DLC have ``DescribeTasks``). The
product is the host's first label when the host is a Tencent Cloud domain
(``mps.tencentcloudapi.com``), and otherwise (``127.0.0.1:9460``) the one whose API version was
asked for.

``worlds``: a SecretId's own world (an account per key); notifications, inspection: ``world`` only.

Inspection (loopback by default): ``GET /_emulator/log`` (``?since=SEQ`` for the tail),
``GET /_emulator/tasks``, ``GET /_emulator/faults``, ``POST /_emulator/scenario`` (replace the
world with a YAML or JSON scenario), ``POST /_emulator/advance`` (move a virtual clock),
``GET /_emulator/notifications`` (every notification delivery attempted, bodies included;
``?since=SEQ``). Notifications are sent by :mod:`taskwatch.emulator.pump`, started by
:meth:`Emulator.serve` once some task notifies or notification faults are set.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from taskwatch import catalog
from taskwatch.clock import Clock, ManualClock
from taskwatch.emulator import dlc, live, mps, sts
from taskwatch.emulator.actions import Action, CallContext, Options
from taskwatch.emulator.auth import Key, authenticate
from taskwatch.emulator.fault_answers import answer_fault
from taskwatch.emulator.faults import FaultPlan
from taskwatch.emulator.inspection import LogEntry, snapshot, snapshot_counts
from taskwatch.emulator.metadata import MetadataService
from taskwatch.emulator.notify_config import NotifyFaults
from taskwatch.emulator.outbox import Delivery
from taskwatch.emulator.populate import Scenario
from taskwatch.emulator.pump import Notifier
from taskwatch.emulator.ratelimit import RateLimits
from taskwatch.emulator.scenario import instance_role_of, loads_scenario, notify_faults_of
from taskwatch.emulator.wire import (
    EmulatedError,
    coerce,
    error_payload,
    json_response,
    missing,
    request_id,
    type_error,
    unflatten,
)
from taskwatch.emulator.world import World

VERSIONS: dict[str, tuple[str, str]] = {
    name: (spec.version, spec.name) for name, spec in catalog.PRODUCTS.items()
}
PRODUCT_BY_VERSION = {version: product for product, (version, _) in VERSIONS.items()}
ACTIONS: dict[str, Mapping[str, Action]] = {
    "mps": mps.ACTIONS,
    "dlc": dlc.ACTIONS,
    "live": live.ACTIONS,
}
REGION_REQUIRED = catalog.regional()
MAX_POST = 10 * 1024 * 1024
MAX_GET = 32 * 1024
LANGUAGES = frozenset({"en-US", "zh-CN"})
PURGE_EVERY = 60.0


class _Answered(Exception):
    """A fault already wrote (or broke) the response; the handler only has to return."""

    def __init__(self, response: web.StreamResponse, code: str) -> None:
        self.response = response
        self.code = code


class Emulator:
    """The emulated Tencent Cloud: a world, the keys it accepts, limits, faults and a log."""

    def __init__(
        self,
        *,
        world: World,
        credentials: Iterable[Key],
        options: Options | None = None,
        limits: Mapping[tuple[str, str], float] | None = None,
        faults: FaultPlan | None = None,
        clock: Clock | None = None,
        log_size: int = 200_000,
        scenario_loader: Callable[[bytes, Clock], Emulator] | None = None,
        notify_faults: NotifyFaults | None = None,
        worlds: Mapping[str, World] | None = None,
    ) -> None:
        """Prefer :meth:`from_scenario`; this constructor is for tests that build worlds."""
        self.world = world
        self.worlds: dict[str, World] = dict(worlds or {})  # SecretId → its own world
        self.clock: Clock = clock or world.clock
        self.keys: dict[str, Key] = {k.secret_id: k for k in credentials}
        self.options = options or Options()
        self.limits = RateLimits(limits)
        self.faults = faults or FaultPlan()
        self.log: deque[LogEntry] = deque(maxlen=log_size)
        self._seq = 0
        self._started = self.clock.monotonic()
        self._purged: dict[int, float] = {}  # id(world) → monotonic time of its last purge
        self._release = asyncio.Event()
        self._scenario_loader = scenario_loader
        self.metadata = MetadataService(self)  # the CVM instance role (emulator/metadata.py)
        self.notifier = Notifier(clock=self.clock, faults=notify_faults, on_failure=self._lost)
        self.notifier.attach(world)  # task notifications (emulator/pump.py)

    @property
    def notifications(self) -> deque[Delivery]:
        """Every notification delivery attempted, oldest first (bounded)."""
        return self.notifier.outbox.records

    @property
    def notify_faults(self) -> NotifyFaults:
        return self.notifier.outbox.faults

    @notify_faults.setter
    def notify_faults(self, faults: NotifyFaults) -> None:
        self.notifier.outbox.faults = faults
        self.notifier.attach(self.world)  # starts the pump if serving and now needed

    @classmethod
    def from_scenario(cls, scenario: Scenario, clock: Clock) -> Emulator:
        """An emulator running ``scenario`` on ``clock``; ``POST /_emulator/scenario`` works."""
        world_clock = scenario.clock_for(clock)
        emulator = cls(
            world=scenario.build_world(world_clock),
            credentials=scenario.credentials,
            options=scenario.options,
            limits=scenario.limits,
            faults=scenario.fault_plan(),
            clock=world_clock,
            scenario_loader=_load_posted,
            notify_faults=notify_faults_of(scenario),
        )
        emulator.metadata.apply(instance_role_of(scenario))  # the scenario's `metadata` section
        return emulator

    # --- application --------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_POST + 1)
        app.router.add_get("/_emulator/log", self._get_log)
        app.router.add_get("/_emulator/tasks", self._get_tasks)
        app.router.add_get("/_emulator/faults", self._get_faults)
        app.router.add_post("/_emulator/scenario", self._post_scenario)
        app.router.add_post("/_emulator/advance", self._post_advance)
        app.router.add_route("*", "/", self._api)
        self.metadata.register(app)
        self.notifier.register(app)
        return app

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on ``host:port`` (0 = any free port); yields the base URL."""
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        server = site._server  # the only way to learn the bound port
        assert isinstance(server, asyncio.base_events.Server)
        bound = server.sockets[0].getsockname()[1]
        try:
            self.notifier.serving()
            yield f"http://{host}:{bound}"
        finally:
            self._release.set()
            try:
                await self.notifier.stop()
            finally:
                await runner.cleanup()

    # --- the API pipeline ---------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        language = headers.get("x-tc-language", "zh-CN")
        if language not in LANGUAGES:
            language = "zh-CN"
        rid = request_id()
        product = action = ""
        params: dict[str, Any] = {}
        secret_id = ""
        region = headers.get("x-tc-region") or None
        try:
            if request.method not in ("GET", "POST"):
                raise EmulatedError(
                    "UnsupportedProtocol",
                    "The request method is not supported; use GET or POST.",
                )
            path_query = request.raw_path.partition("?")[2]
            body = await request.read() if request.method == "POST" else b""
            if request.method == "GET" and len(path_query) > MAX_GET:
                raise EmulatedError("RequestSizeLimitExceeded", "The request is too large.")
            if len(body) > MAX_POST:
                raise EmulatedError("RequestSizeLimitExceeded", "The request is too large.")
            action = headers.get("x-tc-action", "")
            version = headers.get("x-tc-version", "")
            if not action:
                raise missing("Action")
            if not version:
                raise missing("Version")
            if sts.addressed(headers.get("host", ""), version):  # STS: emulator/sts.py
                product, params = "sts", self._params(request.method, path_query, body)
                payload, secret_id = sts.answer(action, params, method=request.method,
                    query=path_query if request.method == "GET" else "", headers=headers,
                    body=body, keys=self.keys, now=self.clock.now().timestamp())  # fmt: skip
                self._record(product, action, params, "Success", rid, headers, secret_id, region)
                return json_response({**payload, "RequestId": rid})
            product = self._product(headers.get("host", ""), version)
            secret_id = authenticate(
                method=request.method,
                query=path_query if request.method == "GET" else "",
                headers=headers,
                body=body,
                keys=self.keys,
                product=product,
                now=self.clock.now().timestamp(),
            )
            actions = ACTIONS[product]
            if action not in actions:
                raise EmulatedError(
                    "InvalidAction",
                    f"The request `Action` is invalid or not found: {action}.",
                )
            spec = actions[action]
            params = self._params(request.method, path_query, body)
            delay, fault = self.faults.pick(
                product, action, elapsed=self.clock.monotonic() - self._started, rng=self.world.rng
            )
            if delay:
                await asyncio.sleep(delay)
            if fault is not None and fault.kind != "missing_field":
                raise _Answered(*await answer_fault(request, fault, language, rid, self._release))
            self.limits.check(secret_id, product, action, self.clock.monotonic())
            if product in REGION_REQUIRED:
                if not region:
                    raise missing("Region")
                if product == "live" and region not in self.options.live_regions:
                    raise EmulatedError(
                        "UnsupportedRegion",
                        f"The region `{region}` is not supported by this API.",
                    )
            ctx = CallContext(
                region=region, language=language, secret_id=secret_id, options=self.options
            )
            world = self.worlds.get(secret_id, self.world)
            self._housekeeping(world)
            payload = spec.handler(world, coerce(spec.spec, params), ctx)
            payload = {**payload, "RequestId": rid}
            if fault is not None:  # missing_field
                fault_field = fault.field
                payload.pop(fault_field, None)
                self._record(product, action, params, f"fault:missing:{fault_field}", rid,
                             headers, secret_id, region)  # fmt: skip
                return json_response(payload)
            self._record(product, action, params, "Success", rid, headers, secret_id, region)
            return json_response(payload)
        except EmulatedError as err:
            self._record(product, action, params, err.code, rid, headers, secret_id, region)
            return json_response(error_payload(err, language, rid))
        except _Answered as answered:
            self._record(product, action, params, answered.code, rid, headers, secret_id, region)
            return answered.response

    def _product(self, host: str, version: str) -> str:
        name = host.split(":", 1)[0].lower()
        first = name.split(".", 1)[0]
        if name.endswith("tencentcloudapi.com") and first in VERSIONS:
            product = first if VERSIONS[first][0] == version else None
        else:
            product = PRODUCT_BY_VERSION.get(version)
        if product is None:
            raise EmulatedError("NoSuchVersion", f"The API version `{version}` is not supported.")
        return product

    @staticmethod
    def _params(method: str, query: str, body: bytes) -> dict[str, Any]:
        if method == "GET":
            return unflatten(parse_qsl(query, keep_blank_values=True))
        if not body:
            return {}
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise EmulatedError("InvalidParameter", "The request body is not valid JSON.") from None
        if not isinstance(value, dict):
            raise type_error("body")
        return value

    def _housekeeping(self, world: World) -> None:
        world.tick()
        mono = self.clock.monotonic()
        if mono - self._purged.setdefault(id(world), self._started) >= PURGE_EVERY:
            self._purged[id(world)] = mono
            keep = max(
                self.options.mps_list_window,
                self.options.mps_detail_retention,
                self.options.dlc_query_window,
            )
            world.purge(older_than=world.now() - keep)

    def _lost(self, event: str, params: Mapping[str, Any], code: str) -> None:
        self._record("notify", event, dict(params), code, "", {}, "", None)

    def _record(
        self,
        product: str,
        action: str,
        params: dict[str, Any],
        code: str,
        rid: str,
        headers: Mapping[str, str],
        secret_id: str,
        region: str | None,
    ) -> None:
        self._seq += 1
        self.log.append(
            LogEntry(
                seq=self._seq,
                time=self.clock.now().astimezone(UTC).isoformat(timespec="milliseconds"),
                product=product,
                action=action,
                params=params,
                code=code,
                request_id=rid,
                client=headers.get("x-tc-requestclient", ""),
                secret_id=secret_id,
                region=region,
            )
        )

    # --- inspection ---------------------------------------------------------------------------

    async def _get_log(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since must be an integer") from None
        entries = [e.as_dict() for e in self.log if e.seq > since]
        return web.json_response(entries)

    async def _get_tasks(self, _request: web.Request) -> web.Response:
        self.world.tick()
        return web.json_response(snapshot(self.world))

    async def _get_faults(self, _request: web.Request) -> web.Response:
        return web.json_response(self.faults.counts())

    async def _post_scenario(self, request: web.Request) -> web.Response:
        if self._scenario_loader is None:
            raise web.HTTPNotImplemented(text="this emulator was started without a loader")
        body = await request.read()
        try:
            fresh = self._scenario_loader(body, self.clock)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        self.world, self.worlds, self.keys = fresh.world, fresh.worlds, fresh.keys
        self.options = fresh.options
        self.limits, self.faults = fresh.limits, fresh.faults
        self.notifier.outbox.faults = fresh.notify_faults
        fresh.world.transition_listeners.clear()  # the fresh emulator's own: it never serves
        self.notifier.attach(self.world)
        self.metadata.apply(fresh.metadata.instance)
        return web.json_response({"tasks": snapshot_counts(self.world)})

    async def _post_advance(self, request: web.Request) -> web.Response:
        if not isinstance(self.clock, ManualClock):
            raise web.HTTPConflict(text="the emulator runs on real time")
        try:
            seconds = float((await request.json())["seconds"])
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text='expected {"seconds": N}') from None
        self.clock.advance(seconds)
        self.world.tick()
        return web.json_response({"now": self.clock.now().isoformat()})


def _load_posted(body: bytes, clock: Clock) -> Emulator:
    return Emulator.from_scenario(loads_scenario(body, source="POST /_emulator/scenario"), clock)
