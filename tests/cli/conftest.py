"""Helpers for the command-line tests: run ``jwt-guard`` in process or as a
subprocess (``python -m jwt_guard`` and the console script)."""

from __future__ import annotations

import io
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jwt_guard.cli import main

#: Generous bounds: a subprocess that takes this long is stuck, not slow.
TIMEOUT = 60.0


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``run(*argv, stdin="...")``: ``main(argv)`` in process, output captured."""

    def invoke(*argv: str, stdin: str = "") -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def console_script() -> str:
    """The installed ``jwt-guard`` script next to this interpreter."""
    found = shutil.which("jwt-guard", path=str(Path(sys.executable).parent))
    assert found is not None, "the jwt-guard console script is not installed next to the interpreter"
    return found


ENTRY_POINTS = {
    "python-m": lambda: [sys.executable, "-m", "jwt_guard"],
    "console-script": lambda: [console_script()],
}


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("JWT_GUARD_ISSUER", None)
    return env


def run_process(entry: str, *argv: str, stdin: str = "") -> Result:
    """Run ``jwt-guard`` through *entry* (a key of ENTRY_POINTS) to completion."""
    completed = subprocess.run(
        [*ENTRY_POINTS[entry](), *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_environment(),
        check=False,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


class Background:
    """A long-running ``jwt-guard`` subprocess whose stdout is read line by line."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix: str) -> str:
        """The first stdout line starting with *prefix* (bounded wait)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line starting with {prefix!r}; saw {self.seen!r}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"the process ended before printing {prefix!r}; saw {self.seen!r}"
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def interrupt(self) -> tuple[int, str, str]:
        """Send SIGINT (Ctrl-C); return (exit code, rest of stdout, stderr)."""
        self.process.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self) -> tuple[int, str, str]:
        code = self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        rest: list[str] = []
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                rest.append(line)
        assert self.process.stderr is not None
        return code, "\n".join(self.seen + rest), self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def background() -> Iterator[Callable[..., Background]]:
    """Start long-running subprocesses; any still running at teardown are killed."""
    started: list[Background] = []

    def start(argv: list[str]) -> Background:
        process = Background(argv)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
