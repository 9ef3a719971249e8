"""Credentials checked where they are, without calling any API: what ``check-config`` reports.

Why: a configuration that validates can still fail at its first call because the variable is not
set in this environment, the profile has no such section, or the projected token is missing. An
operator wants that before deploying, from the machine (or pod) that will run the daemon, and
without sending a key anywhere.

What is resolved, per source, with the daemon's own readers (:mod:`taskwatch.tencent.credentials`
and :func:`~taskwatch.tencent.credentials_role.read_tke_environment`), so what passes here is read
the same way there:

* ``env``, ``profile``, ``directory``, ``static``: the key pair itself (present, non-empty, no
  surrounding whitespace); the result shows only the masked SecretId;
* ``oidc``: the four ``TKE_*`` variables set, the token file readable and non-empty, and
  ``TKE_ROLE_ARN`` shaped like a role ARN;
* ``assume-role``: its ``source``, by the same rules (its ``role_arn`` was checked by the loader);
* ``cvm-role``: nothing; its credentials exist only at the metadata service, which is not
  contacted, so the result is a note, not a warning.

Not guaranteed: that the API accepts the keys, that the role may be assumed, that STS or the
metadata service is reachable; a file readable now may not be at run time (another user, another
mount namespace). Results never carry a SecretKey, a token or a whole SecretId.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from taskwatch.errors import CredentialError
from taskwatch.settings.accounts import _role_arn
from taskwatch.tencent.credentials import from_config
from taskwatch.tencent.credentials_role import METADATA_URL, TKE_ENV, read_tke_environment

__all__ = ["CredentialCheck", "check_credentials"]

Status = Literal["ok", "warning", "note"]


@dataclass(frozen=True, slots=True)
class CredentialCheck:
    """What was found: ``source`` says where from, ``detail`` what was found or what is wrong.

    ``warning``: the daemon would fail to get credentials here; ``note``: nothing could be checked
    locally (``cvm-role``); ``ok``: the credentials were read (``detail`` has the masked id)."""

    status: Status
    source: str
    detail: str


async def check_credentials(
    spec: Mapping[str, Any], *, environ: Mapping[str, str]
) -> CredentialCheck:
    """Resolve the ``credentials`` block ``spec`` (an ``Account.credentials.to_spec()``) locally.

    ``environ`` stands for the daemon's environment (variables of ``env``, ``directory``'s
    ``$CREDENTIALS_DIRECTORY``, ``oidc``'s ``TKE_*``)."""
    kind = spec.get("from")
    if kind == "cvm-role":
        return _cvm_role(spec)
    if kind == "oidc":
        return _oidc(environ)
    if kind == "assume-role":
        inner = await check_credentials(spec["source"], environ=environ)
        source = f"assume-role {spec['role_arn']} (source: {inner.source})"
        return CredentialCheck(inner.status, source, inner.detail)
    try:
        reader = from_config(spec, environ=environ)
    except CredentialError as exc:  # static keys that cannot be used
        return CredentialCheck("warning", str(kind), str(exc))
    try:
        credentials = await reader.get()
    except CredentialError as exc:
        return CredentialCheck("warning", reader.describe(), str(exc))
    return CredentialCheck("ok", reader.describe(), f"ok ({credentials.masked_id})")


def _cvm_role(spec: Mapping[str, Any]) -> CredentialCheck:
    role = spec.get("role") or "(the instance role)"
    where = spec.get("endpoint") or METADATA_URL
    return CredentialCheck(
        "note",
        f"cvm-role {role} via {where}",
        "note: only the instance metadata service has them, read at run time (not contacted here)",
    )


def _oidc(environ: Mapping[str, str]) -> CredentialCheck:
    source = "oidc (" + ", ".join(TKE_ENV) + ")"
    try:
        _region, provider, _token, role_arn = read_tke_environment(environ)
    except CredentialError as exc:
        return CredentialCheck("warning", source, str(exc))
    try:
        _role_arn(role_arn)
    except ValueError as exc:
        return CredentialCheck("warning", source, f"oidc: TKE_ROLE_ARN {exc}")
    token_file = environ[TKE_ENV[2]]
    detail = f"ok (role {role_arn}, provider {provider}, token file {token_file} readable)"
    return CredentialCheck("ok", source, detail)
