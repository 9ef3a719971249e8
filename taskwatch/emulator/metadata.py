"""The emulated CVM instance metadata service: the instance role's temporary credentials.

Two paths, as the SDK's ``CVMRoleCredential`` reads them (reference §12), on the emulator's own
port: ``GET /latest/meta-data/cam/security-credentials/`` answers the role name as plain text
(404 when the instance has no role), and ``GET …/security-credentials/<role>`` answers
``{Code: "Success", TmpSecretId, TmpSecretKey, Token, ExpiredTime, Expiration}``, a key the
emulator accepts until ``ExpiredTime`` on its clock. The same key is served until less than
:data:`ROTATE_BEFORE` of its lifetime is left, then a new one [inferred: the real service rotates
ahead of expiry, by an undocumented margin]; an unknown role name is a 404.

Which role the instance has, and how long its keys last, is an :class:`InstanceRole`: the
scenario's ``metadata`` section (:func:`taskwatch.emulator.scenario_sections.instance_role`),
applied when the emulator is built from a scenario and again when a new one is posted
(:meth:`MetadataService.apply`).

Not emulated: the metadata service's other paths; it is not link-local here, only loopback.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from taskwatch.clock import Clock
from taskwatch.emulator.auth import Key
from taskwatch.emulator.sts import TemporaryKey, described, issue

ROLES_PATH = "/latest/meta-data/cam/security-credentials/"
ROTATE_BEFORE = 0.2
"""Fraction of the lifetime left at which the served key is replaced."""
DEFAULT_ROLE = "taskwatch-emulator-role"
DEFAULT_LIFETIME = 7200
"""Seconds a served key lasts by default [inferred: the real lifetime is not documented; two
hours is STS's default ``DurationSeconds``]."""
MAX_LIFETIME = 43200
"""The longest lifetime a scenario may ask for: STS's own maximum (12 h)."""


@dataclass(frozen=True, slots=True)
class InstanceRole:
    """The instance's CAM role (``None``: an instance without one) and its keys' lifetime."""

    role: str | None = DEFAULT_ROLE
    lifetime: int = DEFAULT_LIFETIME


class Owner(Protocol):
    """The emulator, as far as this service needs it (its key table changes on a new scenario)."""

    @property
    def keys(self) -> MutableMapping[str, Key]: ...

    @property
    def clock(self) -> Clock: ...


class MetadataService:
    """One instance's role; ``role=None`` is an instance without a CAM role."""

    def __init__(
        self, owner: Owner, *, role: str | None = DEFAULT_ROLE, lifetime: int = DEFAULT_LIFETIME
    ) -> None:
        self.owner = owner
        self.role = role
        self.lifetime = lifetime
        self.current: TemporaryKey | None = None
        self.served = 0
        """Credential answers given (what a test counts to prove single-flight refreshes)."""

    @property
    def instance(self) -> InstanceRole:
        """The role and lifetime served now."""
        return InstanceRole(self.role, self.lifetime)

    def apply(self, instance: InstanceRole) -> None:
        """Serve ``instance`` from now on. A changed role or lifetime drops the key being
        served (the next answer is a new key); an unchanged one keeps it, as a real instance
        keeps its key across anything the emulator's world does."""
        if instance != self.instance:
            self.current = None
        self.role, self.lifetime = instance.role, instance.lifetime

    def register(self, app: web.Application) -> None:
        app.router.add_get(ROLES_PATH, self._roles)
        app.router.add_get(ROLES_PATH + "{role}", self._credentials)

    async def _roles(self, _request: web.Request) -> web.Response:
        if self.role is None:
            raise web.HTTPNotFound(text="no role")
        return web.Response(text=self.role)

    async def _credentials(self, request: web.Request) -> web.Response:
        if self.role is None or request.match_info["role"] != self.role:
            raise web.HTTPNotFound(text="no such role")
        now = self.owner.clock.now().timestamp()
        key = self.current
        if key is None or key.expires - now < ROTATE_BEFORE * self.lifetime:
            key = self.current = issue(self.owner.keys, now, self.lifetime)
        self.owner.keys[key.secret_id] = key  # a new scenario replaced the table: keep serving
        self.served += 1
        fields = described(key)
        return web.json_response({"Code": "Success", **fields.pop("Credentials"), **fields})
