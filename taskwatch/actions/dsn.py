"""What the PostgreSQL driver is given to connect to the journal: :func:`connect_kwargs`.

Pure and free of the driver (``psycopg`` is imported by :mod:`taskwatch.actions.postgres` only):
this module turns the ``state`` section into keyword arguments for ``psycopg.connect``, reading the
password where the section says, *at the moment of connecting*. That is the point of reading it
here rather than at configuration load: a Kubernetes Secret mounted after the start, or a password
rotated in the file or the variable, is picked up by the next connection (a restart at the latest)
without reloading anything.

Where the password comes from, in order: ``state.password_file`` (the file's one line, a trailing
newline dropped), ``state.password_env`` (the named variable); neither set: no ``password`` is
passed, and libpq's own sources apply as they do for ``psql`` (``PGPASSWORD``, ``~/.pgpass`` or
``PGPASSFILE``, ``passfile=`` in the URL). ``application_name=taskwatch`` (what
``pg_stat_activity`` shows) and ``connect_timeout=5`` are added unless the URL or libpq's
``PGAPPNAME`` / ``PGCONNECT_TIMEOUT`` set them: without a timeout libpq waits for TCP's own, minutes
when a host is down, while the journal's health should fail fast.

Errors are :class:`~taskwatch.errors.StoreError` naming the file or the variable and the key, never
what the file or variable holds. Not guaranteed: that the password is right (the server says so
when connecting), nor that the file is private (its mode is the deployment's business).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from taskwatch.errors import StoreError
from taskwatch.settings import State

__all__ = ["APPLICATION_NAME", "CONNECT_TIMEOUT", "MAX_PASSWORD_BYTES", "connect_kwargs"]

APPLICATION_NAME = "taskwatch"
CONNECT_TIMEOUT = 5
"""Seconds libpq may take to connect (per host of the URL), unless the URL or the environment
says otherwise."""
MAX_PASSWORD_BYTES = 4096
"""A larger ``password_file`` is refused unread: it is the wrong file, not a password."""


def connect_kwargs(state: State, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Keyword arguments for ``psycopg.connect(**kwargs)``: ``conninfo`` (the URL), and
    ``password``, ``application_name``, ``connect_timeout`` as described in the module
    docstring. ``environ`` defaults to ``os.environ`` (the variables libpq itself reads are
    always the process's own). Raises :class:`StoreError` when the configured password source
    is missing, unreadable or empty; :class:`ValueError` if ``state`` selects SQLite."""
    if state.url is None:
        raise ValueError("state selects the SQLite journal: there is no URL to connect to")
    env = os.environ if environ is None else environ
    kwargs = {"conninfo": state.url}
    given = state.url_parameters()
    if "application_name" not in given and not env.get("PGAPPNAME"):
        kwargs["application_name"] = APPLICATION_NAME
    if "connect_timeout" not in given and not env.get("PGCONNECT_TIMEOUT"):
        kwargs["connect_timeout"] = str(CONNECT_TIMEOUT)
    if state.password_file is not None:
        kwargs["password"] = _from_file(state.password_file, state.display())
    elif state.password_env is not None:
        kwargs["password"] = _from_variable(state.password_env, env, state.display())
    return kwargs


def _from_file(path: Path, journal: str) -> str:
    """The one line of ``path``; every error names the file, never its content."""
    where = f"the database password file {path} (state.password_file)"
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PASSWORD_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StoreError(f"cannot read {where}: {reason}", path=journal) from exc
    if len(data) > MAX_PASSWORD_BYTES:
        raise StoreError(
            f"{where} is larger than {MAX_PASSWORD_BYTES} bytes: it should hold only the password",
            path=journal,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{where} is not UTF-8 text", path=journal) from exc
    password = text.removesuffix("\n").removesuffix("\r")
    return _checked(password, where, journal)


def _from_variable(name: str, environ: Mapping[str, str], journal: str) -> str:
    """The value of the variable ``name``; errors name the variable, never its value."""
    where = f"the environment variable {name} (state.password_env)"
    value = environ.get(name)
    if value is None:
        raise StoreError(f"{where} is not set: it should hold the database password", path=journal)
    return _checked(value, where, journal)


def _checked(password: str, where: str, journal: str) -> str:
    if not password:
        raise StoreError(f"{where} is empty: it should hold the database password", path=journal)
    if "\n" in password or "\r" in password:
        raise StoreError(f"{where} holds more than one line: only the password", path=journal)
    if "\0" in password:
        raise StoreError(f"{where} holds a NUL character, which libpq cannot send", path=journal)
    return password
