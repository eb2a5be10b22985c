"""Real PostgreSQL and Redis servers for the tests, started on loopback in temporary folders.

Debian's `postgresql` and `redis-server` packages; the tests start, stop, pause (SIGSTOP)
and restart them as they need. Where a server is not installed a test skips with the
command that installs it, except under `CI=true`, where it fails: CI never skips quietly.

PostgreSQL's `initdb` refuses to run as root; as root, the server runs as the `postgres`
user (`runuser`), in a folder that user owns. (pytest-postgresql starts the server the same
way but cannot switch user, which is why this is done here.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require(tool: str, package: str) -> str:
    """The path of `tool`; without it, skip (fail under CI=true) naming the package."""
    debian = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))  # Debian keeps PostgreSQL's off PATH
    found = shutil.which(tool) or (str(debian[-1]) if debian else None)
    if found is None:
        message = f"{tool} not installed; `apt-get install {package}` to run this test"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required under CI=true)")
        pytest.skip(message)
    return found


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {seconds:g} s")
        time.sleep(0.05)


class PostgresServer:
    """One PostgreSQL cluster; `database()` makes a fresh database for each test."""

    USER = "attache"

    def __init__(self) -> None:
        self.initdb = require("initdb", "postgresql")
        self.bin = Path(self.initdb).resolve().parent  # the cluster's own tools, beside initdb
        self.pg_ctl = str(self.bin / "pg_ctl")
        self.root = Path(tempfile.mkdtemp(prefix="attache-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(self.initdb, "-D", str(self.data), "-U", self.USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        self._count = 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start")
        wait_for_port(self.port)

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        self._count += 1
        name = f"attache_test_{os.getpid()}_{self._count}"
        createdb = str(self.bin / "createdb")
        command = [createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, name]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        return self.url(name)


class RedisServer:
    """One redis-server; `stop`/`start` it, or `pause` it (SIGSTOP) to play a hung Redis."""

    def __init__(self) -> None:
        self.binary = require("redis-server", "redis-server")
        self.root = Path(tempfile.mkdtemp(prefix="attache-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.root / "redis.log").open("ab") as log:
            self.process = subprocess.Popen([*command, "--dir", str(self.root)], stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
