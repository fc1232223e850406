"""panva's oidc-provider (an OpenID Certified authorization server for
Node.js) as a real, independent authorization server on 127.0.0.1.

The npm package is installed on first use into ``tests/interop/oidc_provider/
node_modules`` with ``npm ci`` from the committed lockfile (pinned versions,
integrity hashes), and reused while the lockfile is unchanged. Without
``node``/``npm``, or when npm cannot reach its registry, the tests skip with
the reason, unless ``JWT_GUARD_REQUIRE_SERVICES=1``: then they fail, because
CI has both.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from jwt_guard.testing import SigningKey
from tests.support.services import START_TIMEOUT, free_port, require_binary, unavailable

FIXTURE = Path(__file__).resolve().parent.parent / "interop" / "oidc_provider"
INSTALL_TIMEOUT = 300.0

AUDIENCE = "https://api.example.test"
JWT_AUDIENCE = "https://jwt-api.example.test"
SCOPES = "read write"


def install() -> str:
    """The path of ``node`` once oidc-provider is installed (skips or fails when it cannot be)."""
    node = require_binary("node", "apt-get install nodejs npm")
    npm = require_binary("npm", "apt-get install npm")
    lock = FIXTURE / "package-lock.json"
    wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
    marker = FIXTURE / "node_modules" / ".installed-from"
    with open(FIXTURE / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # one installer at a time
        if marker.exists() and marker.read_text() == wanted:
            return node
        try:
            done = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=FIXTURE,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            unavailable(f"npm ci did not finish within {INSTALL_TIMEOUT:.0f} s (no access to the npm registry?)")
        if done.returncode != 0:
            unavailable(f"npm ci failed (no access to the npm registry?): {done.stderr.strip()[-500:]}")
        marker.write_text(wanted)
    return node


@dataclass
class Client:
    """A client registered at the provider."""

    client_id: str
    secret: str | None = None
    key: SigningKey | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def registration(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "client_id": self.client_id,
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "response_types": [],
            **self.metadata,
        }
        if self.secret is not None:
            document["client_secret"] = self.secret
        if self.key is not None:
            document["jwks"] = {"keys": [self.key.public_jwk()]}
        return document


class OidcProvider:
    """One oidc-provider process on a free 127.0.0.1 port."""

    def __init__(self, directory: Path, clients: list[Client], *, short_lived: tuple[str, ...] = ()) -> None:
        self.node = install()
        self.directory = directory
        self.clients = {client.client_id: client for client in clients}
        self.short_lived = short_lived
        self.port = free_port()
        self.signing_key = SigningKey("RS256", kid="provider-key")
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "oidc-provider.log"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OidcProvider:
        jwk = self.signing_key.public_jwk()
        numbers = self.signing_key.private_key.private_numbers()
        for name, value in (("d", numbers.d), ("p", numbers.p), ("q", numbers.q)):
            jwk[name] = _b64int(value)
        jwk.update(dp=_b64int(numbers.dmp1), dq=_b64int(numbers.dmq1), qi=_b64int(numbers.iqmp))
        config = {
            "port": self.port,
            "audience": AUDIENCE,
            "jwt_audience": JWT_AUDIENCE,
            "scopes": SCOPES,
            "short_lived_clients": list(self.short_lived),
            "signing_jwk": jwk,
            "clients": [client.registration() for client in self.clients.values()],
        }
        config_path = self.directory / "oidc-provider.json"
        config_path.write_text(json.dumps(config))
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [self.node, str(FIXTURE / "server.mjs"), str(config_path)],
                cwd=FIXTURE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"oidc-provider did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        return self

    def _ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1.0).status_code == 200
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def metadata(self) -> dict[str, Any]:
        document: dict[str, Any] = httpx.get(f"{self.issuer}/.well-known/openid-configuration").json()
        return document

    def token(self, client_id: str, *, scope: str = "read", resource: str | None = None) -> dict[str, Any]:
        """A token response (client credentials grant) for *client_id*."""
        client = self.clients[client_id]
        assert client.secret is not None
        form = {"grant_type": "client_credentials", "scope": scope}
        if resource is not None:
            form["resource"] = resource
        reply = httpx.post(f"{self.issuer}/token", data=form, auth=(client_id, client.secret))
        assert reply.status_code == 200, reply.text
        document: dict[str, Any] = reply.json()
        return document

    def revoke(self, token: str, client_id: str) -> None:
        """RFC 7009 revocation by the client the token was issued to."""
        client = self.clients[client_id]
        assert client.secret is not None
        reply = httpx.post(
            f"{self.issuer}/token/revocation",
            data={"token": token, "token_type_hint": "access_token"},
            auth=(client_id, client.secret),
        )
        assert reply.status_code == 200, reply.text


def _b64int(value: int) -> str:
    from jwt_guard.testing import b64url

    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))
