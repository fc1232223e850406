"""The Django middleware: the request layer in ``settings.MIDDLEWARE``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from jwt_guard._access_token import AccessToken
from jwt_guard._request import Credentials, environ_authorization
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY
from jwt_guard.django._request import DjangoRequest, answer, metadata_response
from jwt_guard.django._settings import guard_settings
from jwt_guard.errors import AuthError, JWTGuardError, TemporarilyUnavailable

if TYPE_CHECKING:
    from jwt_guard._dpop_flow import DPoPContext

__all__ = ["JWTGuardMiddleware"]


class JWTGuardMiddleware:
    """Verify the bearer token of every request before Django routes it.

    Add it to ``settings.MIDDLEWARE`` and describe it in ``settings.JWT_GUARD``::

        MIDDLEWARE = [
            "django.middleware.security.SecurityMiddleware",
            "jwt_guard.django.JWTGuardMiddleware",
            ...
        ]
        JWT_GUARD = {
            "VERIFIER": "mysite.auth.verifier",   # a jwt_guard.Verifier, or the dotted path to one
            "EXCLUDE_PATHS": ["/admin/"],         # Django's admin keeps its own login
        }

    One class serves WSGI and ASGI Django: it is sync and async capable, so
    Django runs it in the mode of the handler (``verify`` under WSGI,
    ``verify_async`` under ASGI, with no thread hop). A request with a valid
    token reaches the view with ``request.access_token`` set to its
    :class:`~jwt_guard.AccessToken`; any other request is answered here,
    with the status codes, ``WWW-Authenticate`` challenges and JSON bodies of
    the ASGI and WSGI middlewares (401, 400, 503 with ``Retry-After``).

    ``settings.JWT_GUARD`` entries: ``VERIFIER`` (required), ``ON_ERROR``
    (``on_error(error, request) -> HttpResponse | None``, or its dotted path),
    and the request layer's options under their upper-case names:
    ``OPTIONAL`` (let requests without credentials through with
    ``request.access_token = None``; a bad token is still refused),
    ``EXCLUDE_PATHS`` (exact paths, or prefixes ending with ``/`` or ``*``,
    compared with ``request.path_info``), ``REALM``, ``ALLOW_QUERY_TOKEN``,
    and every option the ASGI and WSGI middlewares share.

    ``RESOURCE`` (a :class:`~jwt_guard.ProtectedResource`, one of the
    verifier's audiences) makes the middleware serve the resource's RFC 9728
    metadata at its well-known path (``https://api.example.com/mcp`` →
    ``/.well-known/oauth-protected-resource/mcp``), as the ASGI and WSGI
    middlewares do: GET and HEAD to anyone, without looking at credentials,
    with ``Access-Control-Allow-Origin: *``; OPTIONS as a CORS preflight;
    405 for other methods and 404 for other paths in that namespace. Every
    challenge then carries ``resource_metadata="…"``. The path is matched as
    the client sent it, before Django routes it (``EXCLUDE_PATHS`` and
    ``OPTIONAL`` do not apply to it). Django's URLconf is not read: list
    the scopes in ``ProtectedResource(scopes_supported=[...])``, or the
    document has none.

    The middleware also answers jwt_guard errors that a view raises
    (``process_exception``): :func:`~jwt_guard.django.require_access_token`
    raising :class:`~jwt_guard.MissingToken` becomes a 401, a
    :class:`~jwt_guard.TemporarilyUnavailable` a 503.

    .. warning::
       ``EXCLUDE_PATHS`` are compared with the path Django routes, exactly; a
       prefix exempts every path below it. Exclude only paths whose views need
       no token (``/admin/`` has its own login; ``/health``).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        if not callable(get_response):
            raise TypeError("get_response must be the next handler Django passes to middleware")
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        configured = guard_settings()
        self.verifier = configured.verifier
        self.guard = configured.guard
        self.responder = configured.responder

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        served = self._metadata(request)
        if served is not None:
            return served
        dpop = None
        try:
            credentials = self._credentials(request)
            if credentials is None:
                token = None
            elif (dpop := credentials.dpop) is None:
                token = self.verifier.verify(credentials.token)
            else:
                token = self.verifier.verify(credentials.token, dpop=dpop)  # RFC 9449: the proof too
        except JWTGuardError as error:
            return answer(error, request, self.responder)
        self._attach(request, token)
        return _with_nonce(self.get_response(request), dpop)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        served = self._metadata(request)
        if served is not None:
            return served
        dpop = None
        try:
            credentials = self._credentials(request)
            if credentials is None:
                token = None
            elif (dpop := credentials.dpop) is None:
                token = await self.verifier.verify_async(credentials.token)
            else:
                token = await self.verifier.verify_async(credentials.token, dpop=dpop)
        except JWTGuardError as error:
            response: HttpResponseBase = answer(error, request, self.responder)
            return response
        self._attach(request, token)
        next_handler: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        answered = await next_handler(request)
        _with_nonce(answered, dpop)
        return answered

    def _metadata(self, request: HttpRequest) -> HttpResponseBase | None:
        """The RFC 9728 metadata answer, when ``RESOURCE`` is set and the
        request is for the well-known location: public, so answered before
        any credential is read (RFC 9728 §3)."""
        service = self.guard.metadata
        return None if service is None else metadata_response(service, request)

    def _credentials(self, request: HttpRequest) -> Credentials | None:
        """The credentials to verify; ``None`` for a request that goes on
        without a token (excluded path, optional mode)."""
        meta = request.META
        meta[RESPONDER_KEY] = self.responder
        guard = self.guard
        if guard.header_only:
            return guard.authenticate_header(environ_authorization(meta))
        view = DjangoRequest(request)
        if guard.exempt(view):
            refusal = guard.exempt_refusal(view)  # with COOKIE: the cross-origin check still applies
            if refusal is not None:
                raise refusal
            return None
        return guard.authenticate(view)

    @staticmethod
    def _attach(request: HttpRequest, token: AccessToken | None) -> None:
        # META as the WSGI middleware's environ (the decorators read it there);
        # request.access_token for views.
        request.META[TOKEN_KEY] = token
        request.access_token = token  # type: ignore[attr-defined]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        """Answer a jwt_guard error raised by a view as the middleware would;
        anything else (a :class:`~jwt_guard.ConfigurationError` too) is left to Django."""
        if isinstance(exception, (AuthError, TemporarilyUnavailable)):
            response: HttpResponseBase = answer(exception, request, self.responder)
            return response
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(verifier={self.verifier!r})"


def _with_nonce(response: Any, dpop: DPoPContext | None) -> Any:
    """*response*, with a renewed DPoP nonce when one is due (RFC 9449 §8.2)."""
    if dpop is not None and dpop.next_nonce is not None:
        response["DPoP-Nonce"] = dpop.next_nonce
    return response
