"""The ``state`` section: where the journal lives, SQLite (one replica) or PostgreSQL (several).

Two backends, chosen by which key is set: ``path`` (the default, a SQLite file: one replica, a
systemd unit or a pod with a volume) or ``url``, a libpq URI (``postgresql://user@host:port/db``)
for replicas sharing one journal. Setting both is an error, never a silent choice.

**The password is never in the file.** A password in ``url`` (``user:secret@``, or ``password=``,
``sslpassword=`` or ``oauth_client_secret=`` in the query) is refused, and the refusal does not
quote it. The password comes from ``password_file`` (one line; read each time the journal
connects, not here: a Kubernetes Secret may be mounted after the file is loaded, and a rotation
needs only a restart), from the variable named by ``password_env`` (read when connecting too), or
else from libpq's own sources, as for ``psql``: ``PGPASSWORD``, the password file ``~/.pgpass``
(``PGPASSFILE``, or ``passfile=`` in the URL). :mod:`taskwatch.actions.dsn` turns this section into
what the driver takes.

The URL is parsed by libpq itself (``psycopg.conninfo.conninfo_to_dict``, imported only when a URL
is given, so a SQLite deployment needs no driver): what is accepted here is what the driver will
accept. Not guaranteed: the database is not contacted at load time, so a wrong host, role or
``sslmode`` certificate fails only when the journal connects (a ``StoreError``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote

from pydantic import AfterValidator, BeforeValidator, ConfigDict, model_validator

from taskwatch.settings.base import Section
from taskwatch.settings.values import _Invalid, _path

SECRET_PARAMETERS = frozenset({"password", "sslpassword", "oauth_client_secret"})
"""libpq parameters that hold a secret: refused in ``state.url``."""
SHOWN_PARAMETERS = ("host", "hostaddr", "port", "dbname", "user", "sslmode", "target_session_attrs")
"""The query parameters :meth:`State.display` keeps (the others, however harmless today, are left
out of logs: a future libpq parameter could hold a secret this module does not know of)."""
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SCHEMES = ("postgresql://", "postgres://")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_QUOTED = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"[a-z][a-z_]{0,29}")


def _absent_if_empty(value: object) -> object:
    """An empty string counts as absent: ``url: ${TASKWATCH_STATE_URL:-}`` is a switch."""
    return None if value == "" else value


def _scrubbed(message: str) -> str:
    """libpq's reason, without the part of the URI it quotes (it may be a password), unless that
    is an unknown parameter's name that looks like one (a lowercase word: ``sslmod``)."""
    lines = message.strip().splitlines()
    reason = lines[0] if lines else "unreadable"

    def scrub(match: re.Match[str]) -> str:
        keep = reason.startswith("invalid URI query parameter") and _WORD.fullmatch(match[1])
        return match[0] if keep else "(…)"

    return _QUOTED.sub(scrub, reason)


def _url(value: str | None) -> str | None:
    """A libpq URI without a secret in it; the reason never quotes the value."""
    if value is None:
        return None
    if value != value.strip():
        raise ValueError("has leading or trailing whitespace")
    if not value.startswith(_SCHEMES):
        raise ValueError(
            "must be a libpq URI starting postgresql:// or postgres:// "
            "(e.g. postgresql://taskwatch@db.internal:5432/taskwatch?sslmode=verify-full)"
        )
    try:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise ValueError(
            "needs the PostgreSQL driver: install taskwatch[postgresql] (psycopg)"
        ) from None
    try:
        params = conninfo_to_dict(value)
    except ProgrammingError as exc:
        raise ValueError(f"is not a URI libpq accepts: {_scrubbed(str(exc))}") from None
    if SECRET_PARAMETERS & set(params):
        raise ValueError(
            "must not hold a password (user:password@, password=, sslpassword= or "
            "oauth_client_secret=): use state.password_file or state.password_env (or libpq's "
            "PGPASSWORD or ~/.pgpass)"
        )
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in SSLMODES:
        raise ValueError(f"sslmode must be one of {', '.join(SSLMODES)}")
    for port in str(params.get("port", "")).split(","):
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError("has a port that is not a number from 1 to 65535")
    return value


def _variable(value: str | None) -> str | None:
    if value is not None and not _VARIABLE.match(value):
        raise ValueError(
            "must be the name of an environment variable (letters, digits and '_', not starting "
            "with a digit), e.g. TASKWATCH_STATE_PASSWORD; not the password itself"
        )
    return value


class State(Section):
    """Where the journal (intents, outcomes, caps, kill switch, audit) lives: ``path`` (SQLite,
    one replica) or ``url`` (PostgreSQL, replicas sharing one journal), not both."""

    # A pydantic error quotes its input; a refused url holds a password, and code other than the
    # loader (which rewrites every error) may build a State and print its error.
    model_config = ConfigDict(hide_input_in_errors=True)

    path: Annotated[Path, BeforeValidator(_path)] = Path("/var/lib/taskwatch/state.db")
    """The SQLite database (one replica); ``~`` is expanded. Not with ``url``."""
    url: Annotated[
        str | None,
        BeforeValidator(_absent_if_empty),
        AfterValidator(_url),
    ] = None
    """A PostgreSQL database shared by every replica, as a libpq URI
    (``postgresql://user@host:port/dbname?sslmode=verify-full``), without a password: see
    ``password_file`` and ``password_env``. Empty: absent (SQLite at ``path``)."""
    password_file: Annotated[
        Path | None, BeforeValidator(_path), BeforeValidator(_absent_if_empty)
    ] = None
    """A file holding the database password on one line (a trailing newline is ignored), read
    each time the journal connects. Needs ``url``; not with ``password_env``."""
    password_env: Annotated[
        str | None,
        BeforeValidator(_absent_if_empty),
        AfterValidator(_variable),
    ] = None
    """The name of an environment variable holding the database password, read each time the
    journal connects. Needs ``url``; not with ``password_file``. Neither set: libpq's own
    sources (``PGPASSWORD``, ``~/.pgpass``)."""

    @model_validator(mode="after")
    def _coherent(self) -> State:
        if self.url is not None and "path" in self.model_fields_set:
            raise _Invalid(
                "set either path (SQLite, one replica) or url (PostgreSQL, several), not both"
            )
        for key in ("password_file", "password_env"):
            if getattr(self, key) is not None and self.url is None:
                raise _Invalid("is for PostgreSQL: it needs state.url", key)
        if self.password_file is not None and self.password_env is not None:
            raise _Invalid("set either password_file or password_env, not both", "password_env")
        return self

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        """Which journal backend this section selects."""
        return "sqlite" if self.url is None else "postgresql"

    def display(self) -> str:
        """The journal as messages and logs name it: the SQLite path, or the URL with only the
        query parameters of :data:`SHOWN_PARAMETERS` (it never holds a password: refused)."""
        if self.url is None:
            return str(self.path)
        base, _, query = self.url.partition("?")
        kept = [p for p in query.split("&") if unquote(p.partition("=")[0]) in SHOWN_PARAMETERS]
        return f"{base}?{'&'.join(kept)}" if kept else base

    def url_parameters(self) -> dict[str, str]:
        """The query parameters of ``url``, decoded as libpq does (``%XX``; ``+`` is a plus);
        empty for SQLite. E.g. to tell whether the URL sets ``connect_timeout`` itself."""
        if self.url is None:
            return {}
        pairs = (p.partition("=") for p in self.url.partition("?")[2].split("&") if p)
        return {unquote(key): unquote(value) for key, _, value in pairs}
