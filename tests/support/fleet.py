"""A fleet of API processes: ``uvicorn --workers N`` serving an example app
(examples/revocation_app.py by default, examples/dpop_app.py for DPoP).

Used by the multi-process revocation and DPoP tests and by benchmarks/revocation.py.
Every answer of the app, refusals included, names the worker's process id
(``X-Worker-Pid``): that is how a client tells the workers apart. Every
request here opens a new connection, which the kernel hands to whichever
worker accepts first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from jwt_guard.testing import LocalIssuer
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0


class Fleet:
    """``uvicorn --workers N`` running the revocation example on 127.0.0.1.

    The verifier of each worker is configured through ``JWT_GUARD_*``
    variables: *issuer*'s keys (a JWKS file, no network), a
    :class:`~jwt_guard.stores.RedisStore` on *redis_url*, and *environ*;
    *uvicorn_args* are added to uvicorn's command line. *app* is the
    example's factory, *redis_variable* the variable that hands it
    *redis_url*, and *ready* tells from a worker's ``/health`` answer
    whether it is ready.
    Standard error (uvicorn's and jwt_guard's log lines) goes to ``log_path``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        issuer: LocalIssuer,
        redis_url: str,
        workers: int = 4,
        environ: Mapping[str, str] | None = None,
        uvicorn_args: Sequence[str] = (),
        app: str = "revocation_app:create_app",
        redis_variable: str = "JWT_GUARD_REVOCATION_REDIS_URL",
        ready: Callable[[Mapping[str, Any]], bool] = lambda answer: bool(answer["revocation_ready"]),
    ) -> None:
        self.directory = directory
        self.issuer = issuer
        self.redis_url = redis_url
        self.workers = workers
        self.environ = dict(environ or {})
        self.uvicorn_args = list(uvicorn_args)
        self.app = app
        self.redis_variable = redis_variable
        self.ready = ready
        self.port = free_port()
        self.log_path = directory / "uvicorn.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.pids: set[int] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Fleet:
        """Start the workers; return once every one of them answers with its mirror current."""
        self.directory.mkdir(parents=True, exist_ok=True)
        keys = self.directory / "jwks.json"
        keys.write_text(json.dumps(self.issuer.jwks()))
        env = {name: value for name, value in os.environ.items() if not name.startswith("JWT_GUARD_")}
        env.update(
            JWT_GUARD_ISSUER=self.issuer.issuer,
            JWT_GUARD_AUDIENCE=self.issuer.audience,
            JWT_GUARD_KEYS_FILE=str(keys),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
        env[self.redis_variable] = self.redis_url
        env.update(self.environ)
        command = [sys.executable, "-m", "uvicorn", "--factory", self.app]
        command += ["--app-dir", str(ROOT / "examples"), "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers), "--log-level", "warning", "--no-access-log", *self.uvicorn_args]
        with self.log_path.open("wb") as log:
            # Its own process group: stop() reaches the workers too, and nothing else.
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self.pids = self.wait_for_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_workers(self, timeout: float = START_TIMEOUT) -> set[int]:
        """The pids of all workers, once each has answered ``/health`` with its mirror current."""
        ready: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(ready) < self.workers:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ready)} of {self.workers} workers became ready:\n{self.log()}")
            try:
                answer = self.get("/health").json()
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if self.ready(answer):
                ready.add(answer["pid"])
        return ready

    def get(self, path: str, token: str | None = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """One request on a new connection (so that any worker may answer)."""
        sent = {"Connection": "close", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return httpx.get(self.url + path, headers=sent, timeout=10, trust_env=False)

    def until_every_worker(
        self, token: str, done: Callable[[httpx.Response], bool], *, timeout: float = 60.0
    ) -> list[tuple[int, int]]:
        """Request ``/me`` with *token* until every worker has answered at least once
        with a response for which *done* is true (a hang guard bounds the wait).

        Returns every (pid, status) seen, in order; the pid is the answering
        worker's ``X-Worker-Pid`` header, present on refusals too.
        """
        seen: list[tuple[int, int]] = []
        waiting = set(self.pids)
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                raise AssertionError(f"workers {sorted(waiting)} never answered as expected; saw {seen[-20:]}")
            response = self.get("/me", token)
            pid = int(response.headers["x-worker-pid"])
            seen.append((pid, response.status_code))
            if done(response):
                waiting.discard(pid)
        return seen

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown of every worker
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
