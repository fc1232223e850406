"""The HTTP semantics table (DESIGN.md), written once for every face that answers HTTP.

Each :class:`Row` is one request to ``GET /read`` — ``Authorization`` header
lines and a query string — and the exact answer every adapter must give: the
status, the whole ``WWW-Authenticate`` value and the JSON body's ``error``.
The faces (``test_semantics.py`` in ``tests/asgi``, ``tests/wsgi`` and
``tests/django``) serve the same route with their own application, in process and behind a
real server on 127.0.0.1, and hold each answer to :func:`problems`:

* ``/read`` requires the scope ``read``, under ``realm="api"``, with the
  ``access_token`` query parameter allowed (RFC 6750 §2.3);
* a refusal carries ``Cache-Control: no-store`` and a JSON body
  ``{"error", "error_description"[, "scope"]}`` naming the challenge's code
  (``"unauthorized"`` when the challenge names none, RFC 6750 §3.1);
* a valid token reaches the handler, which answers ``{"sub": <subject>}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from jwt_guard.testing import LocalIssuer, SigningKey
from tests.conftest import signing_key

REALM = "api"
SCOPE = "read"
PATH = "/read"
SUBJECT = "user-1"

#: One header line: name and value (``bytes`` for a value that is not ASCII).
Header = tuple[str, "str | bytes"]


@dataclass(frozen=True)
class Answer:
    """What came back: status, headers (lower-cased names, repeated values joined with ``, ``), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def joined_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header lines as :attr:`Answer.headers`: names lower-cased, repeated values joined with ``, ``."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


@dataclass(frozen=True)
class Row:
    """One request and the answer it must get."""

    request: Callable[[LocalIssuer], tuple[list[Header], str]]
    status: int
    #: The RFC 6750 error code (challenge and body); ``None``: none (401 without credentials, or 200).
    error: str | None = None
    #: The exact ``error_description`` of the challenge.
    description: str = ""
    #: ``False``: no HTTP client sends this over a connection (a header value
    #: ending in a space, RFC 9110 §5.5); in process only.
    wire: bool = True
    #: The description where repeated header lines reach the application
    #: joined with ``", "`` (WSGI: one environ value per name, PEP 3333;
    #: Django under either handler: one ``META`` value per name), so
    #: that a comma inside one line reads as two lines; ``None``: the same.
    joined_description: str | None = None

    def expected_description(self, *, joined: bool = False) -> str:
        return self.joined_description if joined and self.joined_description is not None else self.description

    def challenge(self, *, joined: bool = False) -> str | None:
        """The whole ``WWW-Authenticate`` value this row must carry (``None`` for a 200)."""
        if self.status == 200:
            return None
        value = f'Bearer realm="{REALM}"'
        if self.error is not None:
            value += f', error="{self.error}", error_description="{self.expected_description(joined=joined)}"'
        if self.error == "insufficient_scope":
            value += f', scope="{SCOPE}"'
        return value


def _bearer(token: str) -> list[Header]:
    return [("Authorization", f"Bearer {token}")]


def _good(issuer: LocalIssuer) -> str:
    return issuer.token(scope=SCOPE)


def _forged(issuer: LocalIssuer) -> str:
    """Signed by a key the issuer never published, under the issuer's own kid."""
    own = issuer.signing_key
    impostor = SigningKey(own.alg, kid=own.kid, private_key=signing_key(own.alg, "impostor").private_key)
    return issuer.token(key=impostor, scope=SCOPE)


_ONE_TOKEN = "the Authorization header must hold exactly one bearer token"
_TWO_HEADERS = "more than one Authorization header"
_TWO_PLACES = "the access token was sent in more than one place"

ROWS = [
    pytest.param(Row(lambda i: ([], ""), 401), id="no-credentials"),
    pytest.param(Row(lambda i: ([("Authorization", "Basic dXNlcjpwYXNz")], ""), 401), id="other-scheme-only"),
    pytest.param(
        Row(
            lambda i: ([("Authorization", "Bearer")], ""),
            400,
            "invalid_request",
            "the Authorization header has no bearer token",
        ),
        id="scheme-without-token",
    ),
    pytest.param(
        Row(
            lambda i: ([("Authorization", "Bearer ")], ""),
            400,
            "invalid_request",
            "the Authorization header has no bearer token",
            wire=False,
        ),
        id="scheme-and-space",
    ),
    pytest.param(
        Row(lambda i: ([("Authorization", f"Bearer {_good(i)} {_good(i)}")], ""), 400, "invalid_request", _ONE_TOKEN),
        id="two-tokens-in-one-header",
    ),
    pytest.param(
        Row(lambda i: ([("Authorization", "Bearer abc$def")], ""), 400, "invalid_request", _ONE_TOKEN),
        id="token-not-token68",
    ),
    pytest.param(
        Row(lambda i: ([("Authorization", "Bearer a{b}c")], ""), 400, "invalid_request", _ONE_TOKEN),
        id="token-with-braces",
    ),
    pytest.param(
        Row(
            lambda i: ([("Authorization", f"Bearer {_good(i)}, Basic x")], ""),
            400,
            "invalid_request",
            _ONE_TOKEN,
            joined_description=_TWO_HEADERS,
        ),
        id="comma-separated-credentials",
    ),
    pytest.param(
        Row(
            lambda i: ([("Authorization", "Bearer t\u00f6ken".encode("latin-1"))], ""),
            400,
            "invalid_request",
            _ONE_TOKEN,
        ),
        id="non-ascii-token",
    ),
    pytest.param(
        Row(lambda i: (_bearer(_good(i)) * 2, ""), 400, "invalid_request", _TWO_HEADERS),
        id="two-authorization-headers",
    ),
    pytest.param(
        Row(
            lambda i: ([*_bearer(_good(i)), ("Authorization", "Basic dXNlcjpwYXNz")], ""),
            400,
            "invalid_request",
            _TWO_HEADERS,
        ),
        id="bearer-and-basic-headers",
    ),
    pytest.param(
        Row(
            lambda i: ([("Authorization", "Basic dXNlcjpwYXNz"), *_bearer(_good(i))], ""),
            400,
            "invalid_request",
            _TWO_HEADERS,
        ),
        id="basic-and-bearer-headers",
    ),
    pytest.param(
        Row(lambda i: (_bearer(_good(i)), "access_token=x"), 400, "invalid_request", _TWO_PLACES),
        id="header-and-query",
    ),
    pytest.param(
        Row(lambda i: ([], "access_token=a&access_token=b"), 400, "invalid_request", _TWO_PLACES),
        id="two-query-tokens",
    ),
    pytest.param(
        Row(lambda i: ([], "access_token="), 400, "invalid_request", "the access_token parameter is empty"),
        id="empty-query-token",
    ),
    pytest.param(
        Row(lambda i: (_bearer("abc.def.ghi"), ""), 401, "invalid_token", "the token is not valid base64url"),
        id="malformed-token",
    ),
    pytest.param(
        Row(
            lambda i: (_bearer(i.token(scope=SCOPE, expires_in=-3600)), ""),
            401,
            "invalid_token",
            "the access token has expired",
        ),
        id="expired-token",
    ),
    pytest.param(
        Row(
            lambda i: (_bearer(i.token(scope=SCOPE, aud="https://other.example.test")), ""),
            401,
            "invalid_token",
            "the access token is not meant for this audience",
        ),
        id="wrong-audience",
    ),
    pytest.param(
        Row(lambda i: (_bearer(_forged(i)), ""), 401, "invalid_token", "the token's signature is invalid"),
        id="forged-signature",
    ),
    pytest.param(
        Row(
            lambda i: (_bearer(i.token()), ""),
            403,
            "insufficient_scope",
            "the access token lacks a required scope",
        ),
        id="missing-scope",
    ),
    pytest.param(Row(lambda i: (_bearer(_good(i)), ""), 200), id="valid-token"),
    pytest.param(Row(lambda i: ([("Authorization", f"bearer {_good(i)}")], ""), 200), id="lower-case-scheme"),
    pytest.param(Row(lambda i: ([("Authorization", f"BEARER {_good(i)}")], ""), 200), id="upper-case-scheme"),
    pytest.param(Row(lambda i: ([("Authorization", f"Bearer   {_good(i)}")], ""), 200), id="several-spaces"),
    pytest.param(Row(lambda i: ([], f"access_token={_good(i)}"), 200), id="query-token-opt-in"),
]

#: The rows a client can send over a real connection.
WIRE_ROWS = [row for row in ROWS if row.values[0].wire]


def problems(row: Row, answer: Answer, *, joined: bool = False) -> list[str]:
    """What is wrong with *answer* as the answer to *row* ([] if nothing);
    *joined*: the face joins repeated header lines (WSGI)."""
    found = []
    if answer.status != row.status:
        found.append(f"status {answer.status}, expected {row.status}")
    try:
        body: Any = json.loads(answer.body)
    except ValueError:
        return [*found, f"body is not JSON: {answer.body[:120]!r}"]
    if row.status == 200:
        if body != {"sub": SUBJECT}:
            found.append(f"body {body!r}")
        if "www-authenticate" in answer.headers:
            found.append(f"a 200 with WWW-Authenticate {answer.headers['www-authenticate']!r}")
        return found
    challenge = row.challenge(joined=joined)
    if answer.headers.get("www-authenticate") != challenge:
        found.append(f"WWW-Authenticate {answer.headers.get('www-authenticate')!r}, expected {challenge!r}")
    if answer.headers.get("cache-control") != "no-store":
        found.append(f"Cache-Control {answer.headers.get('cache-control')!r}")
    if answer.headers.get("content-type") != "application/json":
        found.append(f"Content-Type {answer.headers.get('content-type')!r}")
    length = answer.headers.get("content-length")
    if length is None or int(length) != len(answer.body):
        found.append(f"Content-Length {length} for a body of {len(answer.body)} bytes")
    expected: dict[str, Any] = {"error": row.error or "unauthorized"}
    if row.error is not None:
        expected["error_description"] = row.expected_description(joined=joined)
    if row.error == "insufficient_scope":
        expected["scope"] = SCOPE
    if not isinstance(body, dict) or {name: body.get(name) for name in expected} != expected:
        found.append(f"body {body!r}, expected {expected!r}")
    elif not body.get("error_description"):
        found.append("the body has no error_description")
    return found
