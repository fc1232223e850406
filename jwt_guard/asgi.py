"""ASGI adapter: a pure ASGI middleware and scope decorators for Starlette.

::

    from jwt_guard import Verifier
    from jwt_guard.asgi import JWTGuardMiddleware, get_access_token, require_scopes

    verifier = Verifier(issuer="https://idp.example.com/", audience="https://api.example.com")
    app = Starlette(routes=routes, middleware=[Middleware(JWTGuardMiddleware, verifier=verifier)])

    @require_scopes("read:messages")
    async def messages(request):
        token = get_access_token(request)
        ...

On success the middleware follows Starlette's conventions: ``scope["user"]``
is a :class:`TokenUser` (a ``starlette.authentication.BaseUser``) and
``scope["auth"]`` an ``AuthCredentials`` holding the token's scopes, so
``request.user``, ``request.auth.scopes`` and Starlette's own ``@requires``
work unchanged. The verified :class:`~jwt_guard.AccessToken` itself is under
``scope["jwt_guard.token"]`` (:data:`~jwt_guard.TOKEN_KEY`; ``None`` for a
request let through anonymously or on an excluded path); read it with
:func:`get_access_token`. The middleware's :class:`~jwt_guard.Responder`,
under ``scope["jwt_guard.responder"]``, lets the decorators answer like it.

Every decision (where credentials come from, excluded paths, optional mode,
scope requirements, the error answer) is taken by jwt_guard's framework-free
request layer; this module only translates between it and ASGI/Starlette.

Trust assumptions
-----------------
- **TLS ends before this middleware.** Bearer tokens are credentials: anyone
  who sees one can replay it until it expires. Serve the API over https only.
- **The server's scope is the truth.** The ``Authorization`` headers, the
  query string and the path are read from the ASGI scope as the server (or a
  proxy in front of it) produced them. Nothing here reads ``X-Forwarded-*``;
  a proxy that adds, merges or strips ``Authorization`` headers changes what
  is verified. The URL a DPoP proof names (``htu``) is compared with the
  scope's scheme, ``Host`` and path, or with ``public_url`` when configured.
- **Excluded paths match the raw ``scope["path"]``**, without normalisation
  (no ``..`` resolution, no case folding, no trailing-slash games). Exclude
  only paths whose routing cannot reach a protected endpoint: a prefix such
  as ``"/docs/"`` exempts everything below it.
- **Only the verified token grants anything.** :func:`require_scopes`,
  :func:`require_any_scope` and :func:`get_access_token` read
  ``scope["jwt_guard.token"]``, which only this middleware and the
  :mod:`jwt_guard.fastapi` dependency set after verification, and accept
  nothing but an :class:`~jwt_guard.AccessToken` there; they never trust
  ``request.auth``, which any other middleware may fill.
- **Key-server outages are not the client's fault**: they answer 503 with
  ``Retry-After``, never 401 and never 500.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from jwt_guard._access_token import AccessToken
from jwt_guard._asgi_access import (
    TokenRequired,
    require_access_token,
    scope_refusal,
)
from jwt_guard._asgi_answer import challenge_response, deny, send_challenge
from jwt_guard._asgi_cookies import clear_token_cookie, set_token_cookie
from jwt_guard._asgi_decorators import require_any_scope, require_auth, require_scopes
from jwt_guard._asgi_lifecycle import lifespan_with_prefetch, run_until_expiry, with_nonce
from jwt_guard._asgi_routes import route_scopes
from jwt_guard._challenge import WS_POLICY_VIOLATION, WS_TRY_AGAIN_LATER, Challenge
from jwt_guard._guard import middleware_layer
from jwt_guard._request import ScopeRequest, scope_header_pair, scope_header_values
from jwt_guard._resource import ProtectedResource
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY
from jwt_guard._verifier import Verifier
from jwt_guard.errors import ConfigurationError, JWTGuardError

__all__ = [
    "RESPONDER_KEY",
    "TOKEN_KEY",
    "WS_POLICY_VIOLATION",
    "WS_TRY_AGAIN_LATER",
    "ErrorRenderer",
    "JWTGuardMiddleware",
    "TokenRequired",
    "TokenUser",
    "challenge_response",
    "clear_token_cookie",
    "get_access_token",
    "require_access_token",
    "require_any_scope",
    "require_auth",
    "require_scopes",
    "scope_refusal",
    "set_token_cookie",
]

#: The name :data:`~jwt_guard.TOKEN_KEY` had in this module before 0.2.
TOKEN_SCOPE_KEY = TOKEN_KEY

_AUTHORIZATION = b"authorization"
_COOKIE = b"cookie"
_new = object.__new__

#: ``on_error(error, connection) -> Response | None``: render the
#: application's own answer to a refused request; ``None`` keeps the default.
ErrorRenderer = Callable[[JWTGuardError, HTTPConnection], "Response | None"]


class TokenUser(BaseUser):
    """The user of a request that carried a verified access token.

    ``display_name`` and ``identity`` are the token's ``sub`` (``""`` when it
    has none, e.g. some client-credentials tokens); ``access_token`` is the
    :class:`~jwt_guard.AccessToken` itself.
    """

    def __init__(self, access_token: AccessToken) -> None:
        self.access_token = access_token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.access_token.subject or ""

    @property
    def identity(self) -> str:
        return self.access_token.subject or ""

    @property
    def scopes(self) -> frozenset[str]:
        """The scopes the token grants."""
        return self.access_token.scopes

    def __repr__(self) -> str:
        return f"TokenUser({self.access_token!r})"


class _TokenCredentials(AuthCredentials):
    """``scope["auth"]`` for a verified token: Starlette's ``AuthCredentials``
    whose ``scopes`` list (the token's scopes) is made on first use, since
    most requests never read it. Each request gets its own list."""

    _token: AccessToken
    _scopes: list[str]

    def __init__(self, token: AccessToken) -> None:  # no super().__init__(): scopes come from the token
        self._token = token

    @property
    def scopes(self) -> list[str]:
        try:
            return self._scopes
        except AttributeError:
            self._scopes = list(self._token.scopes)
            return self._scopes

    @scopes.setter
    def scopes(self, value: list[str]) -> None:
        self._scopes = value


def get_access_token(connection: HTTPConnection | Mapping[str, Any]) -> AccessToken | None:
    """The verified :class:`~jwt_guard.AccessToken` of a request, websocket or
    ASGI scope; ``None`` when the request carried none (optional mode, an
    excluded path, or no middleware)."""
    scope = connection.scope if isinstance(connection, HTTPConnection) else connection
    token = scope.get(TOKEN_KEY)
    return token if isinstance(token, AccessToken) else None


class JWTGuardMiddleware:
    """Verify the bearer token of every HTTP request and WebSocket connection.

    A pure ASGI middleware (no ``BaseHTTPMiddleware``) for Starlette, FastAPI
    or any ASGI application::

        app.add_middleware(JWTGuardMiddleware, verifier=verifier, exclude_paths=["/health"])

    Requests without a valid token are answered here, per RFC 6750 and the
    README's table of HTTP semantics: 401 (no error attribute) without credentials, 400
    ``invalid_request`` for malformed or duplicated credentials, 401
    ``invalid_token``, and 503 with ``Retry-After`` when signing keys cannot
    be had. Bodies are JSON with ``Cache-Control: no-store``. Verification
    never produces a 500. Lifespan and other scope types pass through.

    :param app: the ASGI application to protect.
    :param verifier: the :class:`~jwt_guard.Verifier` checking tokens.
    :param realm: the ``realm`` of ``WWW-Authenticate`` challenges.
    :param optional: let requests without a token through with Starlette's
        ``UnauthenticatedUser``, empty ``AuthCredentials`` and
        ``scope["jwt_guard.token"] = None``. A token that is present but
        invalid is still refused.
    :param exclude_paths: paths served without verification (no
        ``scope["user"]``; ``scope["jwt_guard.token"]`` is ``None``): exact
        paths, or prefixes when they end with ``/`` or ``*`` (``"/docs/"``,
        ``"/static*"``).
    :param allow_query_token: also accept the ``access_token`` query
        parameter (RFC 6750 §2.3). Off by default.
    :param on_error: ``on_error(error, connection) -> Response | None``, a
        plain function rendering the application's own answer; return
        ``None`` to keep the default. For a WebSocket the response becomes the
        denial response when the server supports it.
    :param prefetch: fetch discovery and keys during lifespan startup. A
        failure logs a warning and startup goes on (requests retry later).
    :param fail_fast: with *prefetch*, a failure aborts startup instead
        (``lifespan.startup.failed``; the server exits).
    :param close_expired_websockets: close an accepted WebSocket with 1008
        when its token's ``exp`` passes.
    :param clock: epoch seconds, for *close_expired_websockets* (tests).
    :param cookie: without an ``Authorization`` header, take the token from
        this cookie (see :func:`set_token_cookie`). An unsafe request or a
        WebSocket handshake carrying it, on any path, must pass the
        cross-origin check, else 403 (docs/cookies.md).
    :param trusted_origins: origins whose pages may send those requests.
    :param public_url: the URL under which clients reach the server's root,
        when the server sees another (a proxy that ends TLS, or strips
        ``/api``: ``https://example.com/api``): its origin is the request's
        own origin for the cookie's cross-origin check, and DPoP proofs
        (``htu``) are checked against it. ``X-Forwarded-*`` is never read.
    :param resource: a :class:`~jwt_guard.ProtectedResource`: serve its RFC
        9728 metadata, without a token and cross-origin, and add
        ``resource_metadata`` to every challenge (as :mod:`jwt_guard.wsgi`).
        Without ``scopes_supported`` of its own, the metadata lists the
        scopes the routes of *app* require (jwt_guard decorators, FastAPI
        ``Security`` scopes of a ``JWTBearer``), read at its first request.

    With ``Verifier(dpop=DPoPOptions(...))``, ``Authorization: DPoP <token>``
    and exactly one ``DPoP`` proof are verified too (RFC 9449); a WebSocket
    handshake proves ``GET`` and its ``ws(s)`` URL. A nonce due for renewal
    goes out in the answer's ``DPoP-Nonce``.

    .. warning::
       Excluded paths are compared with the raw ``scope["path"]``: a prefix
       exempts every path under it. Scopes are not checked here: protect
       endpoints with :func:`require_scopes`, Starlette's ``@requires`` or
       the FastAPI dependency.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: Verifier,
        realm: str | None = None,
        optional: bool = False,
        exclude_paths: Iterable[str] = (),
        allow_query_token: bool = False,
        on_error: ErrorRenderer | None = None,
        prefetch: bool = False,
        fail_fast: bool = False,
        close_expired_websockets: bool = False,
        clock: Callable[[], float] = time.time,
        cookie: str | None = None,
        trusted_origins: Iterable[str] = (),
        public_url: str | None = None,
        resource: ProtectedResource | None = None,
    ) -> None:
        self.guard, self.responder = middleware_layer(
            verifier,
            on_error,
            on_error_returns="a Response or None",
            realm=realm,
            optional=optional,
            exclude_paths=exclude_paths,
            allow_query_token=allow_query_token,
            cookie=cookie,
            trusted_origins=trusted_origins,
            public_url=public_url,
            resource=resource,
            route_scopes=functools.partial(route_scopes, app),
            adapter="asgi",
        )
        if fail_fast and not prefetch:
            raise ConfigurationError("fail_fast=True needs prefetch=True")
        self.app = app
        self.verifier = verifier
        self._prefetch = bool(prefetch)
        self._fail_fast = bool(fail_fast)
        self._watch_expiry = bool(close_expired_websockets)
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            scope[RESPONDER_KEY] = self.responder
            guard = self.guard
            if guard.metadata is not None and kind == "http":
                # RFC 9728 metadata: public, answered before any credential is read.
                answer = guard.metadata.answer_scope(scope)
                if answer is not None:
                    await send_challenge(answer, send)
                    return
            token: AccessToken | None = None
            # Only the Authorization (and Cookie) values, unless the guard reads more of the request.
            request = None if guard.header_only or guard.values_only else ScopeRequest(scope)
            if request is None or not guard.exempt(request):
                try:
                    if request is not None:
                        credentials = guard.authenticate(request)
                    elif guard.header_only:
                        credentials = guard.authenticate_header(scope_header_values(scope, _AUTHORIZATION))
                    else:  # a WebSocket scope has no method: checked like an unsafe request
                        authorization, cookie = scope_header_pair(scope, _AUTHORIZATION, _COOKIE)
                        method = scope.get("method")
                        credentials = guard.authenticate_values(authorization, cookie, method, ScopeRequest, scope)
                    if credentials is None:
                        scope["user"] = UnauthenticatedUser()
                        scope["auth"] = AuthCredentials()
                    else:
                        dpop = credentials.dpop
                        if dpop is None:
                            token = await self.verifier.verify_async(credentials.token)
                        else:
                            token = await self.verifier.verify_async(credentials.token, dpop=dpop)
                            if dpop.next_nonce is not None:
                                send = with_nonce(send, dpop.next_nonce)
                        # TokenUser(token) and _TokenCredentials(token) without a call of
                        # their Python __init__: this runs on every request.
                        user = _new(TokenUser)
                        user.access_token = token
                        scope["user"] = user
                        auth = _new(_TokenCredentials)
                        auth._token = token
                        scope["auth"] = auth
                except JWTGuardError as error:
                    if kind == "http":
                        await self._reject(error, scope, receive, send)
                    else:
                        await self._reject_websocket(error, scope, receive, send)
                    return
                if kind == "websocket" and self._watch_expiry and token is not None:
                    scope[TOKEN_KEY] = token
                    await run_until_expiry(self.app, token, self._clock, scope, receive, send)
                    return
            elif (refusal := guard.exempt_refusal(request)) is not None:  # excluded: the cross-origin check only
                await (self._reject if kind == "http" else self._reject_websocket)(refusal, scope, receive, send)
                return
            scope[TOKEN_KEY] = token
        elif kind == "lifespan" and self._prefetch:
            await lifespan_with_prefetch(self.app, self.verifier, self._fail_fast, scope, receive, send)
            return
        await self.app(scope, receive, send)

    # -- answers -----------------------------------------------------------

    async def _reject(self, error: JWTGuardError, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive) if self.responder.on_error is not None else None
        answer = self.responder.answer(error, request)
        if isinstance(answer, Challenge):
            await send_challenge(answer, send)
        else:
            await answer(scope, receive, send)

    async def _reject_websocket(self, error: JWTGuardError, scope: Scope, receive: Receive, send: Send) -> None:
        # ASGI: the application answers the websocket.connect event.
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left already
        await deny(error, self.responder, HTTPConnection(scope, receive), receive, send)
