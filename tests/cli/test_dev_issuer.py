"""``jwt-guard dev-issuer``: a local identity provider, end to end over loopback."""

from __future__ import annotations

import base64
import io
import json
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jwt_guard import UnknownKey, Verifier
from jwt_guard.cli._common import DEV_AUDIENCE, Streams
from jwt_guard.cli._dev_issuer import Address, dev_issuer_address, serve_dev_issuer
from tests.cli.conftest import TIMEOUT, console_script, run_process


class Running:
    """A dev issuer served in a thread of this process."""

    def __init__(self, **options: Any) -> None:
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.streams = Streams(io.StringIO(), io.StringIO(), io.StringIO())
        self.server: Any = None
        self.code: int | None = None
        defaults = {"issuer_url": None, "port": 0, "audience": DEV_AUDIENCE, "algorithm": "ES256", "lifetime": 600}
        self._options = {**defaults, **options}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.code = serve_dev_issuer(**self._options, streams=self.streams, stop=self.stop, on_ready=self._ready)
        finally:
            self.ready.set()

    def _ready(self, server: Any) -> None:
        self.server = server
        self.ready.set()

    def start(self) -> Running:
        self._thread.start()
        assert self.ready.wait(TIMEOUT)
        assert self.server is not None, self.streams.stderr.getvalue()
        return self

    @property
    def issuer(self) -> str:
        return str(self.server.issuer.issuer)

    def close(self) -> int | None:
        self.stop.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()
        return self.code


@pytest.fixture
def dev_issuer() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**options: Any) -> Running:
        running = Running(**options).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def _token_response(client: httpx.Client, url: str, **form: str) -> httpx.Response:
    discovery = client.get(url.rstrip("/") + "/.well-known/openid-configuration").json()
    return client.post(discovery["token_endpoint"], data={"grant_type": "client_credentials", **form})


def test_serves_discovery_jwks_and_a_token_endpoint(dev_issuer):
    running = dev_issuer()
    with httpx.Client(timeout=TIMEOUT) as client:
        discovery = client.get(running.issuer + "/.well-known/openid-configuration").json()
        assert discovery["issuer"] == running.issuer
        assert discovery["grant_types_supported"] == ["client_credentials"]
        jwks = client.get(discovery["jwks_uri"]).json()
        assert [key["alg"] for key in jwks["keys"]] == ["ES256"]
        response = _token_response(client, running.issuer, scope="read write", client_id="my-app")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    with Verifier(issuer=running.issuer, audience=DEV_AUDIENCE) as verifier:
        token = verifier.verify(body["access_token"])
    assert token.scopes == {"read", "write"}
    assert token.client_id == "my-app"
    assert token.subject == "my-app"


def test_token_endpoint_extensions_and_refusals(dev_issuer):
    running = dev_issuer(audience="default-api", lifetime=60)
    basic = base64.b64encode(b"basic-client:secret-not-checked").decode()
    with httpx.Client(timeout=TIMEOUT) as client, Verifier(issuer=running.issuer, audience="default-api") as verifier:
        plain = _token_response(client, running.issuer, sub="alice")
        token = verifier.verify(plain.json()["access_token"])
        assert token.subject == "alice"
        assert token.client_id == "dev-client"
        assert plain.json()["expires_in"] == 60

        discovery = client.get(running.issuer + "/.well-known/openid-configuration").json()
        authed = client.post(
            discovery["token_endpoint"],
            data={"grant_type": "client_credentials"},
            headers={"authorization": f"Basic {basic}"},
        )
        assert verifier.verify(authed.json()["access_token"]).client_id == "basic-client"

        refused = client.post(discovery["token_endpoint"], data={"grant_type": "password"})
        assert refused.status_code == 400
        assert refused.json() == {"error": "unsupported_grant_type"}


def test_issuer_option_keeps_host_name_path_and_trailing_slash(dev_issuer):
    running = dev_issuer(issuer_url="http://localhost/realms/dev/")
    port = running.server.port
    assert running.issuer == f"http://localhost:{port}/realms/dev/"
    out = running.streams.stdout.getvalue()
    assert f"issuer:          http://localhost:{port}/realms/dev/\n" in out
    assert f"discovery:       http://localhost:{port}/realms/dev/.well-known/openid-configuration\n" in out
    with httpx.Client(timeout=TIMEOUT) as client:
        body = _token_response(client, running.issuer, scope="admin").json()
    with Verifier(issuer=running.issuer, audience=DEV_AUDIENCE) as verifier:
        assert verifier.verify(body["access_token"]).issuer == running.issuer


def test_prints_urls_and_a_loud_notice_and_stops_cleanly(dev_issuer):
    running = dev_issuer()
    out = running.streams.stdout.getvalue()
    for label in ("issuer:", "discovery:", "jwks_uri:", "token endpoint:", "audience:", "press Ctrl-C to stop."):
        assert label in out
    assert f"jwt-guard token --issuer {running.issuer} --scope read" in out
    assert "FOR DEVELOPMENT ONLY, NOT FOR PRODUCTION" in running.streams.stderr.getvalue()
    url = running.issuer
    assert running.close() == 0
    assert running.streams.stdout.getvalue().endswith("dev-issuer stopped.\n")
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=TIMEOUT) as client:
        client.get(url + "/.well-known/openid-configuration")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--issuer", "https://127.0.0.1/"], "plain http URL", id="https"),
        pytest.param(["--issuer", "http://idp.example.test/"], "must name 127.0.0.1", id="not-loopback"),
        pytest.param(["--issuer", "http://[::1]:9100/"], "must name 127.0.0.1", id="ipv6"),
        pytest.param(["--issuer", "http://127.0.0.1:9100/", "--port", "9200"], "names port 9100", id="port-clash"),
        pytest.param(["--issuer", "http://127.0.0.1:0/?x=1"], "must not carry a query", id="query"),
        pytest.param(["--issuer", "http://127.0.0.1:0/#top"], "must not carry a query, fragment", id="fragment"),
        pytest.param(["--issuer", "http://dev:pw@127.0.0.1:0/"], "or credentials", id="credentials"),
        pytest.param(["--issuer", "ftp://127.0.0.1/"], "plain http URL", id="scheme"),
        pytest.param(["--issuer", "127.0.0.1:9100"], "plain http URL", id="no-scheme"),
        pytest.param(["--issuer", "http://127.0.0.1:99999/"], "not a valid URL", id="bad-port-in-url"),
        pytest.param(["--port", "70000"], "between 0 and 65535", id="port-range"),
        pytest.param(["--port", "http"], "not a port number", id="port-text"),
        pytest.param(["--lifetime", "0"], "positive number of seconds", id="lifetime"),
        pytest.param(["--lifetime", "1.5"], "not a whole number of seconds: '1.5'", id="lifetime-fraction"),
        pytest.param(["--algorithm", "HS256"], "invalid choice", id="symmetric"),
    ],
)
def test_usage_errors_exit_2(run, args, message):
    result = run("dev-issuer", *args)
    assert result.code == 2
    assert message in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    ("url", "port", "expected"),
    [
        pytest.param(None, None, Address("127.0.0.1", "127.0.0.1", 9000, ""), id="defaults"),
        pytest.param(None, 0, Address("127.0.0.1", "127.0.0.1", 0, ""), id="any-port"),
        pytest.param(
            "http://localhost/realms/dev/",
            None,
            Address("localhost", "127.0.0.1", 9000, "/realms/dev/"),
            id="localhost",
        ),
        pytest.param("http://127.0.0.2:9100", None, Address("127.0.0.2", "127.0.0.2", 9100, ""), id="other-127"),
        pytest.param("http://127.0.0.1:9100/", 9100, Address("127.0.0.1", "127.0.0.1", 9100, "/"), id="same-port"),
    ],
)
def test_address_from_issuer_and_port(url, port, expected):
    """A localhost issuer listens on 127.0.0.1 but keeps its name in the issuer URL."""
    assert dev_issuer_address(url, port) == expected


def test_port_in_use_exits_1(run):
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("dev-issuer", "--port", str(port))
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored


@pytest.mark.one_interpreter
def test_end_to_end_over_loopback(background, run):
    """dev-issuer in a subprocess; token and verify through both entry points and in process."""
    issuer = background([sys.executable, "-m", "jwt_guard", "dev-issuer", "--port", "0", "--audience", "my-api"])
    url = issuer.wait_for("issuer:").split()[1]
    assert url.startswith("http://127.0.0.1:")
    issuer.wait_for("press Ctrl-C to stop.")

    minted = run_process("console-script", "token", "--issuer", url, "--scope", "read write", "--sub", "alice")
    assert minted.code == 0, minted.err
    token = minted.out.strip()
    assert token.count(".") == 2

    verified = run_process(
        "python-m", "verify", token, "--issuer", url, "--audience", "my-api", "--require-scope", "read", "--json"
    )
    assert verified.code == 0, verified.err
    document = json.loads(verified.out)
    assert document["subject"] == "alice"
    assert document["scopes"] == ["read", "write"]

    denied = run_process(
        "console-script", "verify", token, "--issuer", url, "--audience", "my-api", "--require-scope", "admin"
    )
    assert denied.code == 1
    assert "insufficient_scope" in denied.err

    in_process = run("token", "--issuer", url, "--scope", "admin", "--json")
    assert in_process.code == 0
    assert json.loads(in_process.out)["scope"] == "admin"
    admin = json.loads(in_process.out)["access_token"]
    assert run("verify", admin, "--issuer", url, "--audience", "my-api", "--require-scope", "admin").code == 0

    code, out, err = issuer.interrupt()
    assert code == 0
    assert out.endswith("dev-issuer stopped.")
    assert "FOR DEVELOPMENT ONLY, NOT FOR PRODUCTION" in err
    assert "Traceback" not in err

    gone = run_process("python-m", "verify", token, "--issuer", url, "--audience", "my-api")
    assert gone.code == 3
    assert run("token", "--issuer", url).code == 3


def test_sigterm_stops_cleanly(background):
    issuer = background([console_script(), "dev-issuer", "--port", "0"])
    issuer.wait_for("press Ctrl-C to stop.")
    issuer.process.terminate()
    code, out, _ = issuer.finish()
    assert code == 0
    assert out.endswith("dev-issuer stopped.")


def test_a_running_api_keeps_the_earlier_key_until_it_refetches(dev_issuer):
    """What docs/cli.md says of a restart: tokens of the earlier run keep
    verifying with the cached key until the API fetches the key set again
    (here: a token of the new run names an unknown kid), then get 401."""
    first = dev_issuer()
    port = first.server.port
    with httpx.Client(timeout=TIMEOUT) as client:
        old = _token_response(client, first.issuer).json()["access_token"]
    with Verifier(issuer=first.issuer, audience=DEV_AUDIENCE, result_cache_size=0) as verifier:
        verifier.verify(old)
        first.close()
        verifier.verify(old)  # the dev issuer is down: the cached key still serves
        second = dev_issuer(port=port)
        assert second.issuer == first.issuer
        verifier.verify(old)  # restarted with a new key, not fetched yet
        with httpx.Client(timeout=TIMEOUT) as client:
            new = _token_response(client, second.issuer).json()["access_token"]
        verifier.verify(new)  # its unknown kid makes the verifier refetch
        with pytest.raises(UnknownKey):
            verifier.verify(old)


@pytest.mark.parametrize(
    "issuer_url",
    [pytest.param(None, id="default"), pytest.param("http://localhost:0/realms/dev", id="localhost-name")],
)
def test_forged_host_gets_no_token(dev_issuer, issuer_url):
    """DNS rebinding: a page on a name the attacker points at 127.0.0.1 sends
    that name as Host. The development issuer refuses it (421) on every
    endpoint; the loopback names it serves keep working."""
    running = dev_issuer(issuer_url=issuer_url, port=0) if issuer_url else dev_issuer()
    port = running.server.port
    token_url = running.issuer.rstrip("/") + "/oauth/token"
    form = {"grant_type": "client_credentials", "scope": "admin"}
    with httpx.Client(timeout=TIMEOUT) as client:
        for path in ("/.well-known/openid-configuration", "/oauth/token"):
            url = running.issuer.rstrip("/") + path
            forged = client.request(
                "POST" if path.endswith("token") else "GET",
                url,
                data=form if path.endswith("token") else None,
                headers={"host": f"rebound.attacker.example:{port}"},
            )
            assert forged.status_code == 421, path
            assert "access_token" not in forged.text
        assert client.post(token_url, data=form).status_code == 200
