"""A private PostgreSQL 15 + PostGIS on a free loopback port (tests, bench and the demo).

Debian's server binaries (`postgresql-15-postgis-3`, deploy/dev/setup.sh) run from a
cluster made by `initdb` in a temporary folder. PostgreSQL refuses to run as root, so
under root the cluster belongs to the `postgres` system user the package creates. The
system server on 5432 is never touched.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from drivers.errors import LenteraError

BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL_HINT = ("install it with `sudo apt-get install postgresql-15-postgis-3` "
                "(deploy/dev/setup.sh does it for you)")


class LocalDbUnavailable(LenteraError, RuntimeError):
    """This machine cannot run a private PostgreSQL (binaries missing, no non-root user)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """The user the server runs as: ourselves, or `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise LocalDbUnavailable("running as root and there is no `postgres` user to run "
                                 f"the server as; {INSTALL_HINT}") from None
    return "postgres"


class LocalPostgres:
    """initdb + postgres as a child process; stop/start keeps the data (a DB restart)."""

    def __init__(self, port: int | None = None):
        if not (BIN / "initdb").exists():
            raise LocalDbUnavailable(f"{BIN / 'initdb'} not found; {INSTALL_HINT}")
        if not Path("/usr/share/postgresql/15/extension/postgis.control").exists():
            raise LocalDbUnavailable(f"PostGIS for PostgreSQL 15 is missing; {INSTALL_HINT}")
        self.user = _run_as()
        self._port_chosen = port is None      # ours to change if another process takes it
        self.port = port or _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lentera-pg-"))
        self.data = self.dir / "data"
        if self.user:
            shutil.chown(self.dir, self.user, self.user)
        self.proc: subprocess.Popen | None = None
        self._initdb()

    @property
    def dsn(self) -> str:
        """libpq URL of the `lentera` database (superuser `lentera`, trust on loopback)."""
        return self.dsn_for("lentera")

    def dsn_for(self, database: str) -> str:
        """libpq URL of another database on this server."""
        return f"postgresql://lentera@127.0.0.1:{self.port}/{database}"

    def _initdb(self) -> None:
        subprocess.run([str(BIN / "initdb"), "-D", str(self.data), "-U", "lentera", "-A",
                        "trust", "-E", "UTF8", "--no-sync"], check=True, user=self.user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "LocalPostgres":
        """Start the server (the first time also create the database) and wait for it."""
        for _ in range(5):
            try:
                return self._start_once()
            except LocalDbUnavailable:
                # the free port was only free when we looked: parallel tests (xdist) start
                # servers too. Before the first start nobody knows the port yet: take another.
                first = not (self.dir / ".created").exists()
                if not (first and self._port_chosen and self._port_taken()):
                    raise
                self.port = _free_port()
        return self._start_once()

    def _port_taken(self) -> bool:
        try:
            text = (self.dir / "postgres.log").read_text(errors="replace")
        except OSError:
            return False
        return "Address already in use" in text.rsplit("starting PostgreSQL", 1)[-1]

    def _start_once(self) -> "LocalPostgres":
        log = open(self.dir / "postgres.log", "ab")
        # fsync off: a test database needs no durability across power cuts of the test box
        self.proc = subprocess.Popen(
            [str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h",
             "127.0.0.1", "-k", str(self.dir), "-c", "fsync=off", "-c",
             "synchronous_commit=off", "-c", "full_page_writes=off", "-c",
             "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, user=self.user)
        self._wait_ready()
        if not (self.dir / ".created").exists():
            subprocess.run([str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "lentera", "lentera"], check=True, user=self.user)
            (self.dir / ".created").write_text("")
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LocalDbUnavailable("postgres exited at start; see "
                                         f"{self.dir / 'postgres.log'}")
            ready = subprocess.run([str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p",
                                    str(self.port)])
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres not ready on port {self.port} after {timeout} s")

    def stop(self, fast: bool = True) -> None:
        """Stop the server: `fast` shutdown drops every client connection at once."""
        if self.proc and self.proc.poll() is None:
            subprocess.run([str(BIN / "pg_ctl"), "-D", str(self.data), "-m",
                            "fast" if fast else "smart", "-w", "stop"], user=self.user,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        """Stop and delete the cluster."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
