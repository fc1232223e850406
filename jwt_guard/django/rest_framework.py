"""
Django REST framework: token authentication and scope permissions
=================================================================

::

    # settings.py
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["jwt_guard.django.rest_framework.JWTAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["jwt_guard.django.rest_framework.HasScopes"],
    }

    # views.py
    class Items(APIView):
        required_scopes = ["read:items"]       # read by HasScopes

        def get(self, request):
            return Response({"for": request.auth.subject})

:class:`JWTAuthentication` makes ``request.auth`` the verified
:class:`~jwt_guard.AccessToken` and ``request.user`` a
:class:`~jwt_guard.django.TokenUser` (no database row; ``is_authenticated``
is true). With :class:`~jwt_guard.django.JWTGuardMiddleware` installed it
takes the middleware's result; without it, it verifies the ``Authorization``
header itself with ``settings.JWT_GUARD``'s verifier and options.

:class:`HasUserAuthentication` adds step-up authentication (RFC 9470):
``required_acr_values`` and ``required_max_age`` on the view.

DRF's conventions stay, with RFC 6750 headers: a request without a token
gets 401 with ``WWW-Authenticate: Bearer`` (``authenticate_header``, so DRF
answers 401 rather than 403), an invalid token 401 ``error="invalid_token"``,
a token without the view's ``required_scopes`` 403 with ``WWW-Authenticate:
Bearer error="insufficient_scope", scope="…"``, and unobtainable keys 503
with ``Retry-After``. Refusals are :class:`JWTGuardAPIException`, an
``APIException`` carrying those headers, so DRF's own exception handler
renders them (body ``{"detail": …}``); set
``"EXCEPTION_HANDLER": "jwt_guard.django.rest_framework.exception_handler"``
to send the middleware's JSON body byte for byte instead.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission

from jwt_guard._access_token import AccessToken
from jwt_guard._challenge import Challenge
from jwt_guard._endpoint import Requirement
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY, Responder
from jwt_guard.django._request import DjangoRequest, http_request, response_for
from jwt_guard.django._settings import guard_settings
from jwt_guard.django._user import TokenUser
from jwt_guard.errors import JWTGuardError, MissingToken

__all__ = ["HasScopes", "HasUserAuthentication", "JWTAuthentication", "JWTGuardAPIException", "exception_handler"]


class JWTGuardAPIException(APIException):
    """A refused request as REST framework raises it: status, code and
    detail of the :class:`~jwt_guard.JWTGuardError`, and the RFC 6750
    ``WWW-Authenticate`` (``auth_header``) or ``Retry-After`` (``wait``) of
    its :class:`~jwt_guard.Challenge`, which DRF's exception handler sends."""

    def __init__(self, error: JWTGuardError, challenge: Challenge) -> None:
        super().__init__(detail=error.description, code=error_code(error))
        self.status_code = challenge.status_code
        #: The jwt_guard error and the middleware's full answer to it.
        self.error = error
        self.challenge = challenge
        #: Read by DRF's exception handler.
        self.auth_header = challenge.header("www-authenticate")
        retry_after = challenge.header("retry-after")
        self.wait = int(retry_after) if retry_after is not None else None


def error_code(error: JWTGuardError) -> str:
    """The RFC 6750 code of *error* (DRF's ``get_codes()``)."""
    code = getattr(error, "error", None)
    if isinstance(code, str):
        return code
    return "not_authenticated" if isinstance(error, MissingToken) else "temporarily_unavailable"


def _responder(request: Any) -> Responder:
    """The middleware's responder when it ran, else the one of ``settings.JWT_GUARD``."""
    responder = http_request(request).META.get(RESPONDER_KEY)
    return responder if isinstance(responder, Responder) else guard_settings().responder


def _refusal(error: JWTGuardError, request: Any) -> JWTGuardAPIException:
    return JWTGuardAPIException(error, _responder(request).challenge(error))


class JWTAuthentication(BaseAuthentication):
    """REST framework authentication by a verified bearer token.

    ``request.auth`` is the :class:`~jwt_guard.AccessToken`, ``request.user``
    a :class:`~jwt_guard.django.TokenUser`. A request without credentials is
    not authenticated by this class (the permission classes decide; with
    :class:`HasScopes` it gets 401). Invalid credentials raise
    :class:`JWTGuardAPIException` (401 ``invalid_token``, 400
    ``invalid_request``, 503 when no keys can be had).
    """

    def authenticate(self, request: Any) -> tuple[TokenUser, AccessToken] | None:
        django_request = http_request(request)
        meta = django_request.META
        if TOKEN_KEY in meta:
            # JWTGuardMiddleware ran: its verification (or its decision to let
            # the request through without a token) stands.
            token = meta[TOKEN_KEY]
            return (TokenUser(token), token) if isinstance(token, AccessToken) else None
        configured = guard_settings()
        view = DjangoRequest(django_request)
        try:
            if configured.guard.exempt(view):
                return None
            try:
                credentials = configured.guard.authenticate(view)
            except MissingToken:
                return None  # anonymous: for the permission classes to judge
            if credentials is None:
                return None
            if credentials.dpop is None:
                token = configured.verifier.verify(credentials.token)
            else:
                token = configured.verifier.verify(credentials.token, dpop=credentials.dpop)
        except JWTGuardError as error:
            raise JWTGuardAPIException(error, configured.responder.challenge(error)) from None
        meta[TOKEN_KEY] = token
        meta[RESPONDER_KEY] = configured.responder
        django_request.access_token = token  # type: ignore[attr-defined]
        return TokenUser(token), token

    def authenticate_header(self, request: Any) -> str:
        """The ``WWW-Authenticate`` challenge of a 401 (RFC 6750 §3): DRF
        answers 401, not 403, when authentication is missing."""
        return _responder(request).challenge(MissingToken()).header("www-authenticate") or "Bearer"


class HasScopes(BasePermission):
    """Require the scopes that the view lists in ``required_scopes``.

    Every listed scope is needed (``required_scopes = ["read:items"]``); with
    no list, or an empty one, any verified token passes. A request without a
    verified token is refused with 401 (``WWW-Authenticate: Bearer``), a
    token lacking a scope with 403 ``insufficient_scope`` naming the scopes.
    The token is ``request.auth`` when it is an
    :class:`~jwt_guard.AccessToken` (:class:`JWTAuthentication`), else the
    middleware's.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        requirement = _requirement(getattr(view, "required_scopes", None) or ())
        error = requirement.refusal(_token(request))
        if error is not None:
            raise _refusal(error, request)
        return True


def _token(request: Any) -> AccessToken | None:
    """``request.auth`` when it is an :class:`~jwt_guard.AccessToken`, else the middleware's."""
    if isinstance(request.auth, AccessToken):
        return request.auth
    candidate = http_request(request).META.get(TOKEN_KEY)
    return candidate if isinstance(candidate, AccessToken) else None


class HasUserAuthentication(BasePermission):
    """Step-up authentication (RFC 9470) for REST framework views: require
    the user authentication the view lists, as
    :func:`jwt_guard.django.require_auth` does for one method.

    ::

        class Transfer(APIView):
            permission_classes = [HasScopes, HasUserAuthentication]
            required_scopes = ["pay"]
            required_acr_values = ["urn:example:mfa"]   # the token's acr: one of these
            required_max_age = 300                      # its auth_time: at most 300 s ago

    A token falling short is refused with 401
    ``error="insufficient_user_authentication"`` and the ``acr_values``
    and/or ``max_age`` it needs (judged with the clock and leeway of the
    verifier in ``settings.JWT_GUARD``); a request without a verified token
    with 401 ``WWW-Authenticate: Bearer``. With neither attribute, any
    verified token passes. A list that is not strings, or a ``max_age`` that
    is not a whole number of seconds, raises ``TypeError``/``ValueError``.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        requirement = _step_up(getattr(view, "required_acr_values", None), getattr(view, "required_max_age", None))
        error = requirement.refusal(_token(request), verifier=_responder(request).verifier)
        if error is not None:
            raise _refusal(error, request)
        return True


_REQUIREMENTS: dict[tuple[str, ...], Requirement] = {}
_STEP_UP: dict[tuple[Any, ...], Requirement] = {}


def _step_up(acr_values: Any, max_age: Any) -> Requirement:
    """The checked :class:`Requirement` of a view's ``required_acr_values``
    and ``required_max_age``."""
    if isinstance(acr_values, str):
        raise TypeError("required_acr_values is a list of acr values, not a string")
    values = None if acr_values is None else tuple(acr_values)
    key = (values, type(max_age), max_age)  # the type too: True == 1, and True is refused
    requirement = _STEP_UP.get(key)
    if requirement is None:
        # View classes bound this dict: clients cannot add entries.
        requirement = Requirement(name="HasUserAuthentication", acr_values=values, max_age=max_age)
        _STEP_UP[key] = requirement
    return requirement


def _requirement(scopes: Any) -> Requirement:
    """The checked :class:`Requirement` of a view's ``required_scopes``
    (``TypeError``/``ValueError`` for a list that is not scope tokens)."""
    if isinstance(scopes, str):
        raise TypeError("required_scopes is a list of scope names, not a space-delimited string")
    key = tuple(scopes)
    requirement = _REQUIREMENTS.get(key)
    if requirement is None:
        # View classes bound this dict: clients cannot add scope sets.
        requirement = _REQUIREMENTS[key] = Requirement(key, name="required_scopes")
    return requirement


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """REST framework's exception handler, rendering refusals exactly as the
    middleware does (JSON ``{"error", "error_description"[, "scope"]}``,
    ``Cache-Control: no-store``); every other exception as DRF would."""
    from rest_framework.views import exception_handler as drf_handler
    from rest_framework.views import set_rollback

    if isinstance(exc, JWTGuardAPIException):
        set_rollback()
        return response_for(exc.challenge)
    return drf_handler(exc, context)
