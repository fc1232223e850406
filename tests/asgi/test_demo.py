"""The demo (``jwt-guard demo``): run it for real in a subprocess."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

STARTUP_TIMEOUT = 60.0


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[str], list[str], Callable[[], str]]]:
    """The demo process, the lines it printed up to "Press Ctrl-C", and a
    function returning what it printed after them (call it once it exited)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from jwt_guard.cli._demo import run_demo; raise SystemExit(run_demo())"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while not any("Press Ctrl-C" in line for line in seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the demo did not print its banner in time")
            line = lines.get(timeout=remaining)
            if line is None:
                assert process.stderr is not None
                raise RuntimeError(f"the demo exited early: {process.stderr.read()}")
            seen.append(line)

        def rest() -> str:
            printed = []
            while (line := lines.get(timeout=STARTUP_TIMEOUT)) is not None:
                printed.append(line)
            return "".join(printed)

        yield process, seen, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_demo_serves_200_401_403_and_stops_cleanly_on_ctrl_c(demo):
    process, lines, rest = demo
    text = "".join(lines)
    assert "DEVELOPMENT ONLY" in text
    curls = [shlex.split(line.strip()) for line in lines if line.strip().startswith("curl -i")]
    assert len(curls) == 4
    token = re.search(r"TOKEN=(\S+)", text)
    assert token is not None

    statuses = []
    with httpx.Client(timeout=10, trust_env=False) as client:
        for argv in curls:
            url = argv[-1]
            assert url.startswith("http://127.0.0.1:")
            headers = dict([argv[argv.index("-H") + 1].split(": ", 1)]) if "-H" in argv else {}
            statuses.append(client.get(url, headers=headers).status_code)
        assert statuses == [200, 401, 403, 401]
        first_url = curls[0][-1]
        assert client.get(first_url, headers={"Authorization": f"Bearer {token.group(1)}"}).status_code == 200

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None
    # On its way out the demo sums up what it saw: three tokens verified (the
    # 403 one too), one refused before verification, two after it.
    assert (
        "jwt-guard demo: verified 3, refused 3 (missing_token 1, insufficient_scope 1, invalid_audience 1), keys fresh"
    ) in rest()
    assert process.stderr is not None
    logged = process.stderr.read()
    # The token for another API is refused, and the log says why (never the token).
    assert (
        "jwt_guard: request rejected (invalid_audience, 401): the access token is not meant for this audience; "
        "aud: expected 'https://api.jwt-guard.demo', received 'https://other-api.jwt-guard.demo'"
    ) in logged
    foreign = curls[3][curls[3].index("-H") + 1].split(" ")[-1]
    assert foreign.split(".")[1] not in logged
