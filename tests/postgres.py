"""A real PostgreSQL for tests: one throwaway cluster per test session, a fresh database per test.

The journal's PostgreSQL backend is tested against the real server, never a mock: Debian's
``postgresql`` package (installed when missing and running as root, like :mod:`tests.components`;
a test that cannot have it fails under ``CI=true`` and skips otherwise). The cluster:

- is made by ``initdb`` in a new directory under the system's temporary directory (not pytest's
  ``tmp_path``: that one is private to root, and the server refuses to run as root, so as root it
  runs as the ``postgres`` user the package creates; as anyone else, as whoever runs the tests);
- listens on ``127.0.0.1`` at a free port and on a Unix socket in its own directory, with
  ``fsync=on`` (what the journal promises is durability, so the tests measure it with the real
  cost; ``initdb`` itself runs with ``--no-sync``: a cluster that lives for one session needs no
  durable bootstrap);
- has two roles: the superuser ``tw`` (``trust``: no password in any test that does not test
  passwords) and ``tw_pw``, which must give its password over TCP (``scram-sha-256``; over the
  Unix socket every role is trusted). Each fresh database is owned by ``tw_pw``, so either role can
  create tables in it;
- starts only when a test asks for it (0.5-0.7 s here: ``initdb`` 0.4 s, start 0.1 s) and is
  stopped (``pg_ctl stop -m immediate``) and removed when the session ends, however it ends short
  of the test process being killed (then a ``postgres`` process and a ``/tmp/taskwatch-pg-*``
  directory are left behind).

Fixtures (import both into a test module:
``from tests.postgres import postgres_fixture, postgres_url_fixture  # noqa: F401``; they are
named ``postgres`` and ``postgres_url``, as :mod:`tests.components` names ``prometheus``):

- ``postgres_url``: ``postgresql://tw@127.0.0.1:PORT/<fresh empty database>``, dropped after the
  test. A database rather than a schema per test: creating one takes 15-70 ms here with fsync on,
  connection included (dropping it 15-30 ms), under the 100 ms where a schema per test would be
  worth its ``search_path`` tricks, and a database isolates more: advisory lock keys and
  ``LISTEN`` channels are per database, so the journal's locks in one test never meet another's
  (roles and server settings are shared by the cluster);
- ``postgres``: the :class:`PostgresServer`, for tests that need more: :meth:`~PostgresServer.kill`
  and :meth:`~PostgresServer.restart` for outages (same data directory and port), the password
  role, more databases. A test may leave the server stopped: the fixture starts it again after.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import components
from tests.components import free_port, missing

SUPERUSER = "tw"
PASSWORD_ROLE = "tw_pw"
PASSWORD = "pw-for-tests-3f9c2e71"
"""The password of :data:`PASSWORD_ROLE`; not a secret (the cluster lives on loopback for one
session), distinctive so that a test can assert it appears in no message."""
RUN_AS = "postgres"
"""The user the server runs as when the tests run as root (Debian's package creates it)."""
START_TIMEOUT = 30
_HBA = f"""\
local all all trust
host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256
host all {PASSWORD_ROLE} ::1/128 scram-sha-256
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
"""


def _bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``."""
    found = [
        d
        for d in Path("/usr/lib/postgresql").glob("*/bin")
        if (d / "initdb").exists() and (d / "pg_ctl").exists() and d.parent.name.isdigit()
    ]
    return max(found, key=lambda d: int(d.parent.name)) if found else None


def require_postgres() -> Path:
    """The server's ``bin`` directory; installs Debian's ``postgresql`` once if root and missing."""
    if (found := _bindir()) is not None:
        return found
    package = "postgresql"
    if package not in components._attempted:
        if os.geteuid() != 0:
            components._attempted[package] = "not root, so cannot apt-get install"
        elif shutil.which("apt-get") is None:
            components._attempted[package] = "no apt-get on this system"
        else:
            components._attempted[package] = components._apt_install(package)
    if (found := _bindir()) is not None:
        return found
    why = components._attempted[package] or "no /usr/lib/postgresql/*/bin/initdb after install"
    missing(f"PostgreSQL server not found (Debian package {package}): {why}")


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (see the module docstring)."""

    bindir: Path
    root: Path
    port: int
    run_as: str | None
    host: str = "127.0.0.1"
    _databases: Iterator[int] = field(default_factory=itertools.count, repr=False)

    superuser = SUPERUSER
    password_role = PASSWORD_ROLE
    password = PASSWORD

    @property
    def data(self) -> Path:
        return self.root / "pg" / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "pg"

    @property
    def logfile(self) -> Path:
        return self.root / "pg" / "server.log"

    def url(self, database: str = "postgres", *, user: str = SUPERUSER) -> str:
        """A URL to ``database`` over TCP as ``user`` (no password in it)."""
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    @property
    def superuser_url(self) -> str:
        return self.url()

    @classmethod
    def create(cls) -> PostgresServer:
        """``initdb``, configure and start a new cluster; the caller must :meth:`close` it."""
        try:
            import psycopg  # noqa: F401 - the tests' client, from the dev extras
        except ImportError:
            missing("psycopg is not installed: install the dev extras (pip install -e '.[dev]')")
        bindir = require_postgres()
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(RUN_AS)
            except KeyError:
                missing(f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as")
            run_as = RUN_AS
        root = Path(tempfile.mkdtemp(prefix="taskwatch-pg-"))
        server = cls(bindir, root, free_port(), run_as)
        try:
            server._initdb()
            server._start_on_a_free_port()
            server._create_password_role()
        except BaseException:
            server.close()
            raise
        return server

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server program, as :attr:`run_as` when set."""
        as_user: dict[str, Any] = {}
        if self.run_as is not None:
            as_user = {"user": self.run_as, "group": self.run_as, "extra_groups": []}
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.socket_dir,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT + 30,
            check=False,
            **as_user,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed (rc {done.returncode}): {done.stderr or done.stdout}\n"
                f"{self.log_tail()}"
            )
        return done

    def _initdb(self) -> None:
        self.root.chmod(0o755)  # the server user must reach its directory
        self.socket_dir.mkdir()
        if self.run_as is not None:
            shutil.chown(self.socket_dir, self.run_as, self.run_as)
        self._run(
            *("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        )
        (self.data / "pg_hba.conf").write_text(_HBA)
        self._configure()

    def _configure(self) -> None:
        """Append this run's settings (a later line wins in ``postgresql.conf``)."""
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\n"
                f"listen_addresses = '{self.host}'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
                "max_connections = 200\n"
            )

    def _start_on_a_free_port(self) -> None:
        """Start; if the port was taken meanwhile (rare), try another, twice."""
        for attempt in range(3):
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 2 or "could not bind" not in self.log_tail(40):
                    raise
                self.port = free_port()
                self._configure()

    def _create_password_role(self) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(PASSWORD_ROLE), sql.Literal(PASSWORD)
                )
            )

    def start(self) -> None:
        """Start the server on its data directory and port; return once it accepts connections."""
        self._run(
            *("pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile)),
            *("-w", "-t", str(START_TIMEOUT)),
        )

    def kill(self) -> None:
        """Stop at once, as a crash would (``pg_ctl stop -m immediate``: no checkpoint)."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def restart(self) -> None:
        """:meth:`kill`, then :meth:`start` on the same data directory and port."""
        if self.running():
            self.kill()
        self.start()

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def connect(self, database: str = "postgres") -> Any:
        """An autocommit superuser connection over the Unix socket (a ``psycopg.Connection``)."""
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self) -> str:
        """A new empty database owned by the password role; its name."""
        from psycopg import sql

        name = f"tw_test_{os.getpid()}_{next(self._databases)}"
        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(PASSWORD_ROLE)
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing any connection a test left open (the server must be up)."""
        from psycopg import sql

        self.ensure_running()
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def close(self) -> None:
        """Stop the server if it runs, and remove its directory."""
        try:
            if self.data.exists() and self.running():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


_server: PostgresServer | None = None


def _session_server(config: pytest.Config) -> PostgresServer:
    """The session's cluster, created by the first test that asks and closed at the session's
    end (``config.add_cleanup`` runs however the session ends), so that a test module only has
    to import the two fixtures below, and the server costs nothing to sessions without them."""
    global _server
    if _server is None:
        _server = PostgresServer.create()
        config.add_cleanup(_close_session_server)
    return _server


def _close_session_server() -> None:
    global _server
    if _server is not None:
        server, _server = _server, None
        server.close()


@pytest.fixture(name="postgres")
def postgres_fixture(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """The session's running PostgreSQL server; running again after the test if it killed it."""
    server = _session_server(request.config)
    server.ensure_running()
    yield server
    server.ensure_running()


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a fresh empty database as the superuser ``tw``; dropped after the test."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)
