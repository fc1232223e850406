"""FastAPI adapter: a security dependency that returns the verified token.

::

    from fastapi import FastAPI, Security
    from jwt_guard import AccessToken, Verifier
    from jwt_guard.fastapi import JWTBearer, install_error_handler

    verifier = Verifier(issuer="https://idp.example.com/", audience="https://api.example.com")
    bearer = JWTBearer(verifier=verifier)
    app = FastAPI()
    install_error_handler(app)          # optional: the middleware's exact JSON bodies

    @app.get("/messages")
    async def messages(token: AccessToken = Security(bearer, scopes=["read:messages"])):
        ...

The dependency answers like :class:`jwt_guard.asgi.JWTGuardMiddleware`: 401,
400, 403 ``insufficient_scope`` and 503 with the same status codes and
headers (``WWW-Authenticate``, ``Retry-After``, ``Cache-Control``). It raises
:class:`JWTGuardHTTPException`, a FastAPI ``HTTPException``; FastAPI's default
handler renders its body as ``{"detail": …}``, and
:func:`install_error_handler` makes it the middleware's body byte for byte.

It registers an OpenAPI security scheme (HTTP bearer with ``bearerFormat:
JWT``, or OAuth2 flows when token/authorization URLs are given), so the docs
page lists, per route, the scopes merged from every ``Security(…, scopes=…)``
on the way. With a verifier that accepts DPoP (RFC 9449), the dependency
takes ``Authorization: DPoP <token>`` with its ``DPoP`` proof header as well,
and the document lists an HTTP ``DPoP`` scheme: as the one scheme when DPoP
is required, else as the alternative to the bearer scheme.

With ``cookie=`` the token may also come from an httpOnly cookie (the
``Authorization`` header wins), with the middlewares' cross-origin check for
unsafe requests carrying it; the OpenAPI document then shows a second
scheme, an API key in that cookie, as an alternative to the first.

It works with or without the middleware. When the middleware already
verified the request's token with the same :class:`~jwt_guard.Verifier` (its
:class:`~jwt_guard.Responder` says which), that result is reused instead of
verifying twice. Credentials, scopes and answers are decided by the same
framework-free request layer as the middlewares'; this module translates.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the
# dependency's annotations at runtime and cannot resolve strings on an instance.

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Security
from fastapi.exceptions import HTTPException, WebSocketException
from fastapi.openapi.models import (
    APIKey,
    APIKeyIn,
    OAuthFlowAuthorizationCode,
    OAuthFlowClientCredentials,
    OAuthFlowImplicit,
    OAuthFlows,
)
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.security import OAuth2, SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from jwt_guard._access_token import AccessToken
from jwt_guard._challenge import Challenge, render_error
from jwt_guard._endpoint import Requirement
from jwt_guard._events import report_refusal
from jwt_guard._guard import Guard, check_verifier
from jwt_guard._request import ScopeRequest
from jwt_guard._resource import ProtectedResource
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY, Responder
from jwt_guard._verifier import Verifier, event_reporter
from jwt_guard.asgi import challenge_response
from jwt_guard.errors import ConfigurationError, JWTGuardError, MissingToken

__all__ = ["JWTBearer", "JWTGuardHTTPException", "install_error_handler"]

# The challenge headers an HTTPException carries; FastAPI sets the body's own.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class JWTGuardHTTPException(HTTPException):
    """A refused request: the :class:`~jwt_guard.JWTGuardError` and the
    :class:`~jwt_guard.Challenge` the middleware would have sent.

    ``status_code`` and ``headers`` are the challenge's; ``detail`` is the
    error's client-safe description.
    """

    def __init__(self, error: JWTGuardError, challenge: Challenge) -> None:
        headers: dict[str, str] = {}
        for name, value in challenge.headers:
            if name.lower() not in _BODY_HEADERS:
                # One value per name here: two challenges (Bearer and DPoP) become
                # one comma-separated field, the same thing (RFC 9110 §5.3, §11.6.1).
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        super().__init__(status_code=challenge.status_code, detail=error.description, headers=headers)
        self.error = error
        self.challenge = challenge


async def _render_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JWTGuardHTTPException)
    return challenge_response(exc.challenge)


def install_error_handler(app: FastAPI) -> None:
    """Render :class:`JWTGuardHTTPException` exactly as the middleware does
    (JSON ``{"error", "error_description"[, "scope"]}`` body, same headers)."""
    app.add_exception_handler(JWTGuardHTTPException, _render_exception)


def _flows(
    token_url: str | None,
    authorization_url: str | None,
    refresh_url: str | None,
    scopes: Mapping[str, str],
) -> OAuthFlows:
    described = dict(scopes)
    if authorization_url and token_url:
        return OAuthFlows(
            authorizationCode=OAuthFlowAuthorizationCode(
                authorizationUrl=authorization_url, tokenUrl=token_url, refreshUrl=refresh_url, scopes=described
            )
        )
    if token_url:
        return OAuthFlows(
            clientCredentials=OAuthFlowClientCredentials(tokenUrl=token_url, refreshUrl=refresh_url, scopes=described)
        )
    assert authorization_url
    return OAuthFlows(
        implicit=OAuthFlowImplicit(authorizationUrl=authorization_url, refreshUrl=refresh_url, scopes=described)
    )


class DPoPScheme(SecurityBase):
    """The HTTP ``DPoP`` authentication scheme (RFC 9449) in the OpenAPI
    document: what :class:`JWTBearer` lists next to its bearer scheme when
    its verifier accepts DPoP. It checks nothing itself."""

    def __init__(self, *, scheme_name: str = "DPoP", description: str | None = None) -> None:
        self.model = HTTPBaseModel(scheme="DPoP", description=description)
        self.scheme_name = scheme_name

    async def __call__(self) -> None:
        return None


class _TokenCookie(SecurityBase):
    """The token cookie as OpenAPI describes it (an API key in a cookie).

    A sub-dependency of :class:`JWTBearer` that only documents: the bearer
    reads and checks the cookie itself.
    """

    def __init__(self, name: str, scheme_name: str, description: str | None) -> None:
        self.model = APIKey(**{"in": APIKeyIn.cookie}, name=name, description=description)  # type: ignore[arg-type]
        self.scheme_name = scheme_name

    async def __call__(self) -> None:
        return None


_DPOP_DESCRIPTION = "A DPoP-bound access token (Authorization: DPoP <token>) and a DPoP proof header (RFC 9449)."


# Subclassing fastapi.security.OAuth2 (rather than its base, SecurityBase)
# makes every supported FastAPI version list the per-route scopes in the
# OpenAPI document: before 0.120 only OAuth2 and OpenID Connect schemes got
# them. The published scheme is still HTTP bearer unless flows are configured.
class JWTBearer(OAuth2):
    """A FastAPI security dependency verifying bearer JWTs.

    Use it as ``Security(bearer, scopes=[...])``; it returns the
    :class:`~jwt_guard.AccessToken`. Scopes from nested dependencies are
    merged by FastAPI (``SecurityScopes``) and all of them are required.

    :param verifier: the :class:`~jwt_guard.Verifier` checking tokens.
    :param realm: the ``realm`` of ``WWW-Authenticate`` challenges.
    :param auto_error: with ``False``, the dependency *used without scopes*
        (``Depends(bearer)``, ``Security(bearer)``) returns ``None`` for a
        request without credentials instead of answering 401, so a route can
        serve anonymous and authenticated callers. Nothing else changes: a
        present but invalid token is still refused, and wherever scopes are
        required (``Security(bearer, scopes=[...])``, or scopes merged from an
        enclosing ``Security``) a request without credentials is answered
        401, as with ``auto_error=True``.
    :param allow_query_token: also accept ``?access_token=`` (RFC 6750 §2.3).
    :param scheme_name: the OpenAPI security scheme name.
    :param description: the scheme's description in the docs.
    :param token_url: with *authorization_url* or alone, publish OAuth2 flows
        (authorization code; client credentials with a token URL only;
        implicit with an authorization URL only) so the docs page can obtain
        tokens; otherwise the scheme is HTTP bearer with ``bearerFormat: JWT``.
    :param authorization_url: see *token_url*.
    :param refresh_url: the flows' refresh URL.
    :param scopes: scope names and descriptions for the OAuth2 flows.
    :param cookie: also take the token from this cookie when the request has
        no ``Authorization`` header, as :class:`jwt_guard.asgi.JWTGuardMiddleware`
        does: unsafe requests carrying it must pass the cross-origin check
        (403 ``cross_origin_request``). The OpenAPI document shows the cookie
        as a second scheme, ``<scheme_name>Cookie``.
    :param trusted_origins: origins whose pages may send such requests.
    :param public_url: the URL clients use, when the server sees another:
        the cookie's cross-origin check and DPoP proofs read it (see
        :class:`jwt_guard.asgi.JWTGuardMiddleware`).
    :param resource: a :class:`~jwt_guard.ProtectedResource` (one of the
        verifier's audiences, compared exactly): its metadata URL goes into
        every challenge as ``resource_metadata="…"`` (RFC 9728 §5.1). Serve
        the metadata itself with the middleware's ``resource=``; without
        this option the dependency uses the ``resource_metadata`` of a
        middleware that shares its verifier.
    :param acr_values: step-up authentication (RFC 9470): the token's
        ``acr`` must be one of these, else 401
        ``insufficient_user_authentication`` with ``acr_values``.
    :param max_age: step-up authentication: the token's ``auth_time`` must
        be at most this many seconds old (with the verifier's leeway), else
        401 ``insufficient_user_authentication`` with ``max_age``. Give routes
        that need a step-up their own ``JWTBearer``; the route's scopes are
        checked first.

    With a verifier that accepts DPoP, a request may also use
    ``Authorization: DPoP <token>`` and one ``DPoP`` proof header; when the
    proof's server nonce is due for renewal, the answer gets a
    ``DPoP-Nonce`` header (for endpoints that return data; a ``Response``
    an endpoint builds itself is sent as it is: use the middleware there).

    Scope names are checked as :func:`jwt_guard.asgi.require_scopes` checks
    them, when a route's scopes are first seen (FastAPI hands them to the
    dependency only with a request): a name that is not an RFC 6749 §3.3
    scope token raises ``ValueError``, a server error on that route rather
    than a silent 403.

    .. warning::
       The token is verified here unless the middleware already verified it
       with the same verifier; a token verified by *another* verifier (other
       issuer or audience) is verified again, never trusted.
    """

    def __init__(
        self,
        *,
        verifier: Verifier,
        realm: str | None = None,
        auto_error: bool = True,
        allow_query_token: bool = False,
        scheme_name: str | None = None,
        description: str | None = None,
        token_url: str | None = None,
        authorization_url: str | None = None,
        refresh_url: str | None = None,
        scopes: Mapping[str, str] | None = None,
        cookie: str | None = None,
        trusted_origins: Iterable[str] = (),
        public_url: str | None = None,
        resource: ProtectedResource | None = None,
        acr_values: Sequence[str] | None = None,
        max_age: int | None = None,
    ) -> None:
        check_verifier(verifier)
        if scopes and not (token_url or authorization_url):
            raise ConfigurationError("scopes describe OAuth2 flows: give token_url and/or authorization_url")
        metadata_url = None
        if resource is not None:
            if not isinstance(resource, ProtectedResource):
                raise ConfigurationError(f"resource must be a ProtectedResource, not {type(resource).__name__}")
            resource.check_audiences(verifier.audiences)
            metadata_url = resource.metadata_url
        # The step-up demand, checked now: the route's scopes join it per route.
        self._step_up = Requirement(name="JWTBearer", acr_values=acr_values, max_age=max_age)
        self.verifier = verifier
        self.responder = Responder(realm=realm, verifier=verifier, resource_metadata=metadata_url, adapter="fastapi")
        dpop = verifier.dpop
        self.guard = Guard(
            optional=not auto_error,
            allow_query_token=allow_query_token,
            cookie=cookie,
            trusted_origins=trusted_origins,
            dpop=dpop,
            public_url=public_url,
        )
        self._requirements: dict[tuple[str, ...], Requirement] = {}
        self.auto_error = auto_error
        self.scheme_name = scheme_name or type(self).__name__
        if dpop is not None and dpop.required:
            self.model = HTTPBaseModel(scheme="DPoP", description=description or _DPOP_DESCRIPTION)
        elif token_url or authorization_url:
            self.model = OAuth2Model(
                flows=_flows(token_url, authorization_url, refresh_url, scopes or {}), description=description
            )
        else:
            self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        # What FastAPI reads to inject the call's arguments (instead of the
        # class's __call__): documentation-only security sub-dependencies,
        # which the OpenAPI document lists as alternatives: a DPoP scheme
        # where bearer and DPoP are both accepted, and the token cookie.
        parameters = list(inspect.signature(type(self).__call__).parameters.values())[1:4]
        if dpop is not None and not dpop.required:
            scheme = DPoPScheme(scheme_name=f"{self.scheme_name}DPoP", description=_DPOP_DESCRIPTION)
            parameters.append(
                inspect.Parameter("dpop_scheme", inspect.Parameter.KEYWORD_ONLY, default=Security(scheme))
            )
        if cookie is not None:
            cookie_scheme = _TokenCookie(cookie, f"{self.scheme_name}Cookie", description)
            parameters.append(
                inspect.Parameter("token_cookie", inspect.Parameter.KEYWORD_ONLY, default=Security(cookie_scheme))
            )
        self.__signature__ = inspect.Signature(parameters)

    async def __call__(  # type: ignore[override]  # FastAPI injects SecurityScopes
        self,
        request: HTTPConnection,
        security_scopes: SecurityScopes,
        response: Response = None,  # type: ignore[assignment]  # FastAPI's sub-response
        **_schemes: Any,
    ) -> AccessToken | None:
        scope = request.scope
        token = scope.get(TOKEN_KEY)
        responder = scope.get(RESPONDER_KEY)
        if not (
            isinstance(token, AccessToken) and isinstance(responder, Responder) and responder.verifier is self.verifier
        ):
            try:
                credentials = self.guard.authenticate(ScopeRequest(scope))
                if credentials is None:
                    if security_scopes.scopes:
                        # No token is never worth more than a token without the scopes.
                        raise self._refusal(MissingToken(), request)
                    return None  # auto_error=False: anonymous
                dpop = credentials.dpop
                if dpop is None:
                    token = await self.verifier.verify_async(credentials.token)
                else:
                    token = await self.verifier.verify_async(credentials.token, dpop=dpop)
            except JWTGuardError as error:
                raise self._refusal(error, request) from None
            if dpop is not None and dpop.next_nonce is not None and response is not None:
                response.headers["DPoP-Nonce"] = dpop.next_nonce
            scope[TOKEN_KEY] = token
            scope[RESPONDER_KEY] = self.responder
        refusal = self._requirement(security_scopes.scopes).refusal(token, verifier=self.verifier)
        if refusal is not None:
            raise self._refusal(refusal, request)
        return token

    def _requirement(self, scopes: list[str]) -> Requirement:
        key = tuple(scopes)
        requirement = self._requirements.get(key)
        if requirement is None:
            # Route definitions bound this dict: clients cannot add scope sets.
            step_up = self._step_up
            requirement = self._requirements[key] = Requirement(
                key, name="Security", acr_values=step_up.acr_values or None, max_age=step_up.max_age
            )
        return requirement

    def _refusal(self, error: JWTGuardError, request: HTTPConnection) -> Exception:
        if request.scope["type"] == "websocket":
            code, reason = self.responder.close(error)
            return WebSocketException(code=code, reason=reason)
        return JWTGuardHTTPException(error, self._challenge(error, request.scope))

    def _challenge(self, error: JWTGuardError, scope: Mapping[str, object]) -> Challenge:
        responder = self.responder
        if responder.resource_metadata is None:
            # The metadata URL of a middleware that verifies with the same verifier.
            seen = scope.get(RESPONDER_KEY)
            if isinstance(seen, Responder) and seen.verifier is self.verifier and seen.resource_metadata is not None:
                report_refusal(error, event_reporter(self.verifier), responder.adapter)
                return render_error(error, realm=responder.realm, resource_metadata=seen.resource_metadata)
        return responder.challenge(error)
