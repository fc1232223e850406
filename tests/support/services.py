"""Real services for tests: find the binary, run it on a free 127.0.0.1 port, stop it.

One rule for every service a test needs (redis-server, Chromium, Node.js, ...):
when the binary (or its package) is missing the test skips with a message
that says how to install it, unless ``JWT_GUARD_REQUIRE_SERVICES=1`` (set by
CI), where it fails.
Benchmarks use :class:`RedisServer` too (pytest is imported only to skip).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import NoReturn

REQUIRE_SERVICES = "JWT_GUARD_REQUIRE_SERVICES"
START_TIMEOUT = 20.0


def unavailable(message: str) -> NoReturn:
    """Skip with *message*, or fail under ``JWT_GUARD_REQUIRE_SERVICES=1``."""
    import pytest

    if os.environ.get(REQUIRE_SERVICES) == "1":
        pytest.fail(f"{message} ({REQUIRE_SERVICES}=1)")
    pytest.skip(message)


def require_binary(name: str, install: str) -> str:
    """The path of *name*; skip (or fail under JWT_GUARD_REQUIRE_SERVICES=1) if absent."""
    found = shutil.which(name)
    if found is not None:
        return found
    unavailable(f"{name} not found: {install}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` of our own on 127.0.0.1, in a temporary directory.

    Without *appendonly* nothing is persisted (``--save "" --appendonly no``);
    with it every write is fsynced before Redis answers (``appendfsync
    always``), so a record acknowledged before a kill survives the restart.
    """

    def __init__(self, directory: Path, *, appendonly: bool = False, port: int | None = None) -> None:
        self.binary = require_binary("redis-server", "apt-get install redis-server")
        self.directory = directory
        self.appendonly = appendonly
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (again, on the same port) and wait until it answers PING."""
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")]
        if self.appendonly:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing is answered (a hung server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None:
            return
        self.resume()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentServer:
    """A TCP listener on 127.0.0.1 that completes handshakes and never answers.

    The kernel accepts connections into the backlog; nothing ever reads them.
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.sock.close()
