"""Property tests: no hostile token or header ever gets a 500 (or worse, a 200)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given

from jwt_guard.asgi import JWTGuardMiddleware
from jwt_guard.testing import LocalIssuer
from tests.strategies import authorization_values, mutated_tokens

ISSUER = LocalIssuer(token_lifetime=10 * 365 * 86400)
VALID = ISSUER.token(scope="read")
VERIFIER = ISSUER.verifier()


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


MIDDLEWARE = JWTGuardMiddleware(_ok, verifier=VERIFIER, allow_query_token=True)


def status_for(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": query}
    asyncio.run(MIDDLEWARE(scope, receive, send))
    return int(sent[0]["status"])


def test_the_valid_token_passes():
    """Guards the properties below: the unmutated token is accepted."""
    assert status_for([(b"authorization", f"Bearer {VALID}".encode())]) == 200


# Spaces around a header value are not part of it (RFC 9110 §5.5), nor part
# of the credentials (``1*SP`` after the scheme): such a mutant is the token.
@given(mutated_tokens(VALID).filter(lambda token: token.strip(" ") != VALID))
def test_mutated_tokens_are_refused_never_500(token):
    assert status_for([(b"authorization", f"Bearer {token}".encode("utf-8", "surrogatepass"))]) in (400, 401)


@given(mutated_tokens(VALID))
def test_mutated_query_tokens_are_refused_never_500(token):
    from urllib.parse import quote

    query = ("access_token=" + quote(token, safe="", errors="surrogatepass")).encode()
    assert status_for([], query) in (400, 401)


@given(authorization_values())
def test_arbitrary_authorization_headers_never_500(value):
    assert status_for([(b"authorization", value.encode("utf-8", "surrogatepass"))]) in (400, 401)
