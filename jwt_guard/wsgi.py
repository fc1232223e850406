"""
WSGI adapter
============

:class:`JWTGuardMiddleware` verifies the bearer token of every request
before the wrapped application sees it, and stores the verified
:class:`~jwt_guard.AccessToken` in ``environ["jwt_guard.token"]``
(:data:`~jwt_guard.TOKEN_KEY`; ``None`` for a request let through
anonymously or on an excluded path) and its :class:`~jwt_guard.Responder`
in ``environ["jwt_guard.responder"]``.
:func:`require_scopes` and :func:`require_any_scope` protect single views
of Flask, Werkzeug and Django applications, or plain WSGI callables.

::

    from jwt_guard import Verifier
    from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token, require_scopes

    verifier = Verifier(issuer="https://idp.example.com/", audience="https://api.example.com")
    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=verifier)

    @app.get("/messages")
    @require_scopes("read:messages")
    def messages():
        return {"for": get_access_token().subject}

Every decision (where credentials come from, excluded paths, optional mode,
scope requirements, the error answer) is taken by jwt_guard's framework-free
request layer; this module only translates between it and WSGI, Werkzeug,
Flask and Django.

Trust assumptions
-----------------

* The credentials are the ``Authorization`` request header and, only with
  ``allow_query_token=True``, the ``access_token`` query parameter. Both are
  client input: nothing in them is believed before
  :meth:`~jwt_guard.Verifier.verify` accepted the token. Scopes are read from
  the verified token only.
* ``environ["jwt_guard.token"]`` is trusted because clients cannot write
  environ keys: HTTP headers arrive as ``HTTP_*`` keys. Only this middleware
  should set it; the decorators refuse any value that is not an
  :class:`~jwt_guard.AccessToken`.
* WSGI servers join repeated request headers with a comma (Werkzeug,
  gunicorn). A joined value holding two sets of credentials is answered
  ``400 invalid_request``, as two ``Authorization`` headers are under ASGI.
  Some servers drop ``Authorization`` unless told otherwise (mod_wsgi needs
  ``WSGIPassAuthorization On``): the request then looks anonymous.
* ``exclude_paths`` are compared with ``PATH_INFO``, the path below
  ``SCRIPT_NAME`` as the application routes it, after percent-decoding and
  without any other normalisation. Wrap the application itself, not a
  dispatcher that rewrites ``PATH_INFO`` afterwards.
* The URL a DPoP proof names (``htu``) is compared with ``wsgi.url_scheme``,
  ``Host`` and ``SCRIPT_NAME`` + ``PATH_INFO``, or with ``public_url`` when
  configured. ``X-Forwarded-*`` is never read: behind a proxy, configure
  ``public_url`` or let Werkzeug's ``ProxyFix`` (trusting only your proxy)
  rewrite the environ first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from jwt_guard._access_token import AccessToken
from jwt_guard._challenge import Challenge
from jwt_guard._guard import middleware_layer
from jwt_guard._request import EnvironRequest, environ_authorization
from jwt_guard._resource import ProtectedResource
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY
from jwt_guard._verifier import Verifier
from jwt_guard._wsgi_access import TokenRequired, get_access_token, require_access_token
from jwt_guard._wsgi_cookies import clear_token_cookie, set_token_cookie
from jwt_guard._wsgi_decorators import require_any_scope, require_auth, require_scopes
from jwt_guard.errors import JWTGuardError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "RESPONDER_KEY",
    "TOKEN_KEY",
    "ErrorRenderer",
    "JWTGuardMiddleware",
    "TokenRequired",
    "clear_token_cookie",
    "get_access_token",
    "require_access_token",
    "require_any_scope",
    "require_auth",
    "require_scopes",
    "set_token_cookie",
]

#: The name :data:`~jwt_guard.TOKEN_KEY` had in this module before 0.2.
ENVIRON_KEY = TOKEN_KEY

#: ``on_error(error, environ) -> WSGI application | None``: render an error
#: yourself. A Werkzeug or Flask ``Response`` is a WSGI application; return
#: ``None`` to send the default answer.
ErrorRenderer = Callable[[JWTGuardError, "WSGIEnvironment"], "WSGIApplication | None"]

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def _status_line(code: int) -> str:
    return _STATUS_LINES.get(code) or f"{code} Error"


class JWTGuardMiddleware:
    """Verify the bearer token of each request before the application runs.

    ::

        app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=verifier)   # Flask
        application = JWTGuardMiddleware(get_wsgi_application(), verifier=verifier)  # Django

    A request with a valid token reaches *app* with
    ``environ["jwt_guard.token"]`` set to its :class:`~jwt_guard.AccessToken`.
    Any other request is answered here, by the HTTP semantics (README) shared with
    :mod:`jwt_guard.asgi`: ``401`` without credentials or with an invalid
    token, ``400`` for a malformed ``Authorization`` header or a token sent
    twice, ``503`` with ``Retry-After`` when no signing keys can be had. The
    bodies are JSON and ``Cache-Control: no-store``.

    The middleware keeps no per-request state: one instance serves any number
    of threads, and the :class:`~jwt_guard.Verifier` it calls is thread-safe
    and fork-safe. WSGI has no startup hook: to fetch the keys before the
    first request, call ``verifier.prefetch()`` when the application is
    built (before workers fork, with gunicorn ``--preload``).

    :param app: the WSGI application to wrap.
    :param verifier: the :class:`~jwt_guard.Verifier` that checks tokens.
    :param realm: the ``realm`` of ``WWW-Authenticate`` challenges.
    :param optional: let requests *without* credentials through, with
        ``environ["jwt_guard.token"] = None``; decorated views still refuse
        them. A request with a bad token is refused all the same.
    :param exclude_paths: paths served without looking at credentials: exact
        paths, or prefixes when they end with ``/`` or ``*``.
    :param allow_query_token: also accept the ``access_token`` query parameter
        (RFC 6750 §2.3).
    :param on_error: ``on_error(error, environ)`` returns the WSGI application
        (a ``Response`` will do) that answers *error*, or ``None`` for the
        default answer. Also used by the decorators.
    :param cookie: without an ``Authorization`` header, take the token from
        this cookie (see :func:`set_token_cookie`). An unsafe request carrying
        it, on any path, must pass the cross-origin check, else 403
        (docs/cookies.md).
    :param trusted_origins: origins whose pages may send those requests.
    :param public_url: the URL under which clients reach the server's root,
        when the server sees another (a proxy that ends TLS, or strips
        ``/api``: ``https://example.com/api``): its origin is the request's
        own origin for the cookie's cross-origin check, and DPoP proofs
        (``htu``) are checked against it. ``X-Forwarded-*`` is never read.
    :param resource: a :class:`~jwt_guard.ProtectedResource`. The middleware
        then serves its RFC 9728 metadata at the well-known path of §3.1
        (``https://api.example.com/mcp`` →
        ``/.well-known/oauth-protected-resource/mcp``): GET and HEAD to
        anyone, without looking at credentials, with
        ``Access-Control-Allow-Origin: *``, and OPTIONS as a CORS preflight;
        other methods get 405 and other paths in that namespace 404. Every
        challenge then carries ``resource_metadata="…"``. ``resource`` must
        be one of the verifier's audiences, compared exactly, or
        :class:`~jwt_guard.ConfigurationError` is raised: ``…/mcp`` and
        ``…/mcp/`` are two identifiers, with two metadata paths. WSGI gives
        no view of the routes: list the scopes in
        ``ProtectedResource(scopes_supported=[...])``, or the document has
        none. Wrap the outermost application: the path is matched as the
        client sent it (``RAW_URI``/``REQUEST_URI``, else ``SCRIPT_NAME`` +
        ``PATH_INFO``).

    With ``Verifier(dpop=DPoPOptions(...))``, ``Authorization: DPoP <token>``
    and exactly one ``DPoP`` proof are verified too (RFC 9449). A nonce due
    for renewal goes out in the answer's ``DPoP-Nonce``.

    .. warning::
       A request that sends credentials is verified even in optional mode:
       an invalid token is never downgraded to an anonymous request.

    .. warning::
       ``exclude_paths`` match ``PATH_INFO`` exactly as the server decoded
       it, with no normalisation, and a prefix exempts every path below it:
       exclude only paths whose routing cannot reach a protected view.

    .. warning::
       ``allow_query_token`` puts credentials in URLs, which end up in access
       logs, proxies and browser history (RFC 6750 §5.3). Prefer the header.
    """

    __slots__ = ("app", "guard", "responder", "verifier")

    def __init__(
        self,
        app: WSGIApplication,
        *,
        verifier: Verifier,
        realm: str | None = None,
        optional: bool = False,
        exclude_paths: Iterable[str] = (),
        allow_query_token: bool = False,
        on_error: ErrorRenderer | None = None,
        cookie: str | None = None,
        trusted_origins: Iterable[str] = (),
        public_url: str | None = None,
        resource: ProtectedResource | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI application")
        self.guard, self.responder = middleware_layer(
            verifier,
            on_error,
            on_error_returns="a WSGI application or None",
            realm=realm,
            optional=optional,
            exclude_paths=exclude_paths,
            allow_query_token=allow_query_token,
            cookie=cookie,
            trusted_origins=trusted_origins,
            public_url=public_url,
            resource=resource,
            adapter="wsgi",
        )
        self.app = app
        self.verifier = verifier

    @property
    def realm(self) -> str | None:
        """The ``realm`` of this middleware's challenges."""
        return self.responder.realm

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Verify the request's credentials, then call the application or
        answer the error."""
        environ[RESPONDER_KEY] = self.responder
        guard = self.guard
        if guard.metadata is not None:
            # RFC 9728 metadata: public, answered before any credential is read.
            answer = guard.metadata.answer_environ(environ)
            if answer is not None:
                start_response(_status_line(answer.status_code), list(answer.headers))
                return [answer.body]
        token: AccessToken | None = None
        # Only the Authorization (and Cookie) values, unless the guard reads more of the request.
        request = None if guard.header_only or guard.values_only else EnvironRequest(environ)
        if request is None or not guard.exempt(request):
            try:
                if request is not None:
                    credentials = guard.authenticate(request)
                elif guard.header_only:
                    credentials = guard.authenticate_header(environ_authorization(environ))
                else:
                    cookie = environ.get("HTTP_COOKIE")
                    method = environ.get("REQUEST_METHOD") or "GET"
                    values = environ_authorization(environ), () if cookie is None else (cookie,), method
                    credentials = guard.authenticate_values(*values, EnvironRequest, environ)
                if credentials is not None:
                    dpop = credentials.dpop
                    if dpop is None:
                        token = self.verifier.verify(credentials.token)
                    else:
                        token = self.verifier.verify(credentials.token, dpop=dpop)
                        if dpop.next_nonce is not None:
                            start_response = _with_nonce(start_response, dpop.next_nonce)
            except JWTGuardError as error:
                return self._respond(error, environ, start_response)
        else:
            refusal = guard.exempt_refusal(request)
            if refusal is not None:  # an excluded path: only the cross-origin check applies
                return self._respond(refusal, environ, start_response)
        environ[TOKEN_KEY] = token
        return self.app(environ, start_response)

    def _respond(
        self, error: JWTGuardError, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        answer = self.responder.answer(error, environ)
        if isinstance(answer, Challenge):
            start_response(_status_line(answer.status_code), list(answer.headers))
            return [answer.body]
        application: WSGIApplication = answer
        return application(environ, start_response)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.app!r}, verifier={self.verifier!r})"


def _with_nonce(start_response: StartResponse, nonce: str) -> StartResponse:
    """Add ``DPoP-Nonce`` to the application's answer (RFC 9449 §8.2)."""

    def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("DPoP-Nonce", nonce)], exc_info)

    return cast("StartResponse", wrapped)
