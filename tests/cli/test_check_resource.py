"""``jwt-guard check --resource URL``: a conformance check of a running
protected resource, against real servers on 127.0.0.1 (jwt_guard's
middleware under uvicorn) and against hand-made answers (MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwt_guard import ProtectedResource, Verifier
from jwt_guard.asgi import JWTGuardMiddleware, require_scopes
from jwt_guard.cli._check_resource import check_resource, render_json, render_text
from jwt_guard.testing import LocalIssuer
from tests.mcp.conftest import bound_socket, uvicorn_on

ISSUER = "https://issuer.example.test/"


@require_scopes("notes:read")
async def notes(request: Request) -> JSONResponse:
    return JSONResponse([])


@pytest.fixture
def live() -> Iterator[Callable[..., str]]:
    """``live(path="/mcp", **resource_options)``: a jwt_guard-protected app under
    uvicorn on 127.0.0.1 whose resource is ``http://127.0.0.1:<port><path>``;
    returns that URL."""
    with ExitStack() as stack:

        def start(path: str = "/mcp", **options: Any) -> str:
            sock, port = bound_socket()  # the resource URL (the audience) needs the port first
            url = f"http://127.0.0.1:{port}{path}"
            issuer = LocalIssuer(ISSUER, audience=url)
            verifier = Verifier(issuer=ISSUER, audience=url, keys=issuer.jwks())
            options.setdefault("authorization_servers", [ISSUER])
            resource = ProtectedResource(resource=url, **options)
            app = Starlette(
                routes=[Route(path, notes), Route("/other", notes)],
                middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource)],
            )
            stack.enter_context(uvicorn_on(sock, app))
            return url

        yield start


def statuses(report: Any) -> dict[str, str]:
    return {item.name: item.status for item in report.items}


# -- against jwt_guard's own middleware ---------------------------------------------------------


def test_a_conforming_server_passes(live, run):
    url = live()
    result = run(
        "check", "--resource", url, "--issuer", ISSUER, "--audience", url, "--require-scope", "notes:read", "--json"
    )
    assert result.code == 0, result.out
    document = json.loads(result.out)
    assert document["exit_code"] == 0 and document["unreachable"] is None
    assert {item["name"]: item["status"] for item in document["items"]} == {
        "metadata": "ok",
        "resource": "ok",
        "audience": "ok",
        "authorization_servers": "ok",
        "resource_metadata": "ok",
        "scopes_supported": "ok",
    }
    assert document["metadata"]["resource"] == url
    assert document["metadata_url"] == url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    assert document["challenge"] == f'Bearer resource_metadata="{document["metadata_url"]}"'


def test_text_output_and_environment_configuration(live, run, monkeypatch):
    url = live()
    monkeypatch.setenv("JWT_GUARD_ISSUER", ISSUER)
    monkeypatch.setenv("JWT_GUARD_AUDIENCE", f"https://other.example.test, {url}")
    result = run("check", "--resource", url)
    assert result.code == 0, result.out
    assert "[  ok] audience:" in result.out and "the answers agree" in result.out


def test_a_trailing_slash_disagreement_is_found(live, run):
    url = live()
    result = run("check", "--resource", url, "--issuer", ISSUER, "--audience", url + "/")
    assert result.code == 1
    assert "[FAIL] audience:" in result.out and "differs only by a trailing slash" in result.out


def test_checking_the_url_with_a_slash_added_fails_loudly(live, run):
    """``…/mcp/`` is another identifier: its metadata path is not served."""
    url = live()
    result = run("check", "--resource", url + "/", "--json")
    assert result.code == 1
    items = {item["name"]: item for item in json.loads(result.out)["items"]}
    assert items["metadata"]["detail"] == "answered 404, not 200"
    assert items["resource_metadata"]["status"] == "problem"


def test_an_unlisted_issuer_is_found(live, run):
    url = live(authorization_servers=["https://elsewhere.example.test"])
    result = run("check", "--resource", url, "--issuer", ISSUER, "--audience", url)
    assert result.code == 1
    assert "[FAIL] authorization_servers:" in result.out


def test_a_scope_the_api_needs_but_does_not_advertise(live, run):
    url = live(scopes_supported=["other"])
    result = run("check", "--resource", url, "--require-scope", "notes:read")
    assert result.code == 1
    assert "[FAIL] scopes_supported:" in result.out and '["notes:read"]' in result.out


def test_unreachable_server_is_exit_3(run):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening
    try:
        result = run("check", "--resource", f"http://127.0.0.1:{closed.getsockname()[1]}/mcp")
    finally:
        closed.close()
    assert result.code == 3
    assert "could not be fetched" in result.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param([], "", id="nothing-to-check"),
        pytest.param(["--resource", "http://api.example.test/mcp"], "must use https", id="plain-http"),
        pytest.param(["--resource", "https://api.example.test/mcp?x=1"], "must not have a query", id="query"),
        pytest.param(["--resource", "https://api.example.test/mcp#f"], "fragment", id="fragment"),
        pytest.param(["--resource", "not a url"], "absolute http(s) URL", id="not-a-url"),
        pytest.param(["--resource", "https://api.example.test/mcp", "--timeout", "0"], "timeout", id="zero-timeout"),
    ],
)
def test_usage_errors(run, argv, message):
    result = run("check", *argv)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err


# -- hand-made answers --------------------------------------------------------------------------

URL = "https://api.example.test/mcp"
METADATA_URL = "https://api.example.test/.well-known/oauth-protected-resource/mcp"
GOOD_DOCUMENT = {"resource": URL, "authorization_servers": [ISSUER], "scopes_supported": ["read"]}
GOOD_CHALLENGE = f'Bearer resource_metadata="{METADATA_URL}"'
JSON_HEADERS = {"content-type": "application/json", "access-control-allow-origin": "*"}


def server(
    metadata: Any = GOOD_DOCUMENT,
    *,
    metadata_status: int = 200,
    metadata_headers: dict[str, str] | None = None,
    resource_status: int = 401,
    challenge: str | None = GOOD_CHALLENGE,
) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url) == METADATA_URL:
            body = metadata if isinstance(metadata, bytes) else json.dumps(metadata).encode()
            return httpx.Response(metadata_status, headers=metadata_headers or JSON_HEADERS, content=body)
        if str(request.url) == URL:
            headers = {} if challenge is None else {"www-authenticate": challenge}
            return httpx.Response(resource_status, headers=headers)
        return httpx.Response(404)

    return httpx.MockTransport(handle)


def check(transport: httpx.MockTransport, **options: Any) -> Any:
    options.setdefault("issuers", [ISSUER])
    options.setdefault("audiences", [URL])
    return check_resource(URL, transport=transport, **options)


def test_hand_made_conforming_answers():
    report = check(server())
    assert report.exit_code == 0
    assert set(statuses(report).values()) == {"ok"}


@pytest.mark.parametrize(
    ("transport", "item", "status", "detail"),
    [
        pytest.param(server(metadata_status=404), "metadata", "problem", "answered 404", id="no-metadata"),
        pytest.param(server(metadata_status=301), "metadata", "problem", "answered 301", id="redirect"),
        pytest.param(server(b"<html>"), "metadata", "problem", "not JSON", id="html"),
        pytest.param(server(b"[" * 100_000 + b"]" * 100_000), "metadata", "problem", "not JSON", id="deep"),
        pytest.param(server([GOOD_DOCUMENT]), "metadata", "problem", "not a JSON object", id="array"),
        pytest.param(server(b"x" * 300_000), "metadata", "problem", "size limit", id="huge"),
        pytest.param(server({**GOOD_DOCUMENT, "resource": URL + "/"}), "resource", "problem", "trailing", id="slash"),
        pytest.param(server({**GOOD_DOCUMENT, "resource": 7}), "resource", "problem", "7 is not", id="not-a-string"),
        pytest.param(
            server({"resource": URL}), "authorization_servers", "problem", "missing", id="no-authorization-servers"
        ),
        pytest.param(
            server({**GOOD_DOCUMENT, "authorization_servers": [ISSUER.rstrip("/")]}),
            "authorization_servers",
            "problem",
            "differs only by a trailing slash",
            id="issuer-slash",
        ),
        pytest.param(
            server({**GOOD_DOCUMENT, "scopes_supported": "read"}),
            "scopes_supported",
            "problem",
            "not a list",
            id="scopes-string",
        ),
        pytest.param(server(resource_status=200), "challenge", "problem", "got 200, not 401", id="unprotected"),
        pytest.param(server(challenge=None), "challenge", "problem", "without WWW-Authenticate", id="no-header"),
        pytest.param(server(challenge='Bearer realm="x'), "challenge", "problem", "does not parse", id="broken"),
        pytest.param(server(challenge='Basic realm="x"'), "challenge", "problem", "Bearer or DPoP", id="basic"),
        pytest.param(server(challenge="Bearer"), "resource_metadata", "problem", "no resource_metadata", id="none"),
        pytest.param(
            server(
                challenge='Bearer resource_metadata="https://api.example.test/.well-known/oauth-protected-resource"'
            ),
            "resource_metadata",
            "problem",
            "lives at",
            id="points-elsewhere",
        ),
        pytest.param(
            server(challenge=f'Bearer scope="write", resource_metadata="{METADATA_URL}"'),
            "scopes_supported",
            "problem",
            '["write"] needed',
            id="challenge-scope-not-advertised",
        ),
        pytest.param(
            server(metadata_headers={"content-type": "application/json"}),
            "cors",
            "warning",
            "browser-based clients",
            id="no-cors",
        ),
        pytest.param(
            server(metadata_headers={"content-type": "text/plain", "access-control-allow-origin": "*"}),
            "content-type",
            "warning",
            "text/plain",
            id="content-type",
        ),
    ],
)
def test_each_disagreement_is_reported(transport, item, status, detail):
    report = check(transport)
    found = {entry.name: entry for entry in report.items}
    assert found[item].status == status, render_text(report)
    assert detail in found[item].detail
    assert report.exit_code == (1 if status == "problem" else 0)
    json.dumps(render_json(report))  # always serialisable


def test_dpop_challenges_count():
    report = check(server(challenge=f'DPoP algs="ES256", resource_metadata="{METADATA_URL}"'))
    assert statuses(report)["resource_metadata"] == "ok"


def test_two_joined_challenges():
    report = check(server(challenge=f'Bearer resource_metadata="{METADATA_URL}", DPoP algs="ES256"'))
    assert report.exit_code == 0


def test_without_configuration_the_comparisons_are_skipped():
    report = check(server(), issuers=[], audiences=[])
    assert statuses(report)["audience"] == "skipped"
    assert statuses(report)["authorization_servers"] == "skipped"
    assert report.exit_code == 0


def test_server_values_are_escaped_in_the_text():
    hostile = {**GOOD_DOCUMENT, "resource": "\x1b[31mred\u202e"}
    text = render_text(check(server(hostile)))
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\u001b[31mred\\u202e" in text
