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

import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from jwt_guard._access_token import AccessToken
from jwt_guard._challenge import Challenge
from jwt_guard._endpoint import EndpointCheck, Requirement, argument, is_async, read_signature, record_requirement
from jwt_guard._guard import middleware_layer
from jwt_guard._request import EnvironRequest, environ_authorization
from jwt_guard._resource import ProtectedResource
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY, responder_of
from jwt_guard._verifier import Verifier
from jwt_guard._wsgi_cookies import clear_token_cookie, set_token_cookie
from jwt_guard.errors import JWTGuardError, MissingToken

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

_F = TypeVar("_F", bound=Callable[..., Any])

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


def _environ_of(obj: Any) -> WSGIEnvironment:
    if isinstance(obj, Mapping):
        return obj  # type: ignore[return-value]
    meta = getattr(obj, "META", None)  # Django HttpRequest
    if isinstance(meta, Mapping):
        return meta  # type: ignore[return-value]
    environ = getattr(obj, "environ", None)  # Werkzeug / Flask Request
    if isinstance(environ, Mapping):
        return environ  # type: ignore[return-value]
    raise TypeError(
        f"expected a WSGI environ, a Werkzeug/Flask request or a Django HttpRequest, not {type(obj).__name__}"
    )


def _flask_environ() -> WSGIEnvironment:
    flask = sys.modules.get("flask")  # no Flask request without Flask imported
    if flask is not None and flask.has_request_context():
        environ: WSGIEnvironment = flask.request.environ
        return environ
    raise RuntimeError("no request given and no Flask request context: pass the environ or the request")


def get_access_token(environ_or_request: Any = None) -> AccessToken | None:
    """The verified :class:`~jwt_guard.AccessToken` of a request, or ``None``.

    Accepts a WSGI environ, a Werkzeug or Flask request, a Django
    ``HttpRequest``, or nothing inside a Flask request context. ``None``
    means no verified token: an anonymous request in optional mode, an
    excluded path, or a request that did not pass through
    :class:`JWTGuardMiddleware`.
    """
    environ = _flask_environ() if environ_or_request is None else _environ_of(environ_or_request)
    token = environ.get(TOKEN_KEY)
    return token if isinstance(token, AccessToken) else None


class TokenRequired(HTTPException, MissingToken):
    """The :class:`~jwt_guard.MissingToken` that :func:`require_access_token`
    raises. It is also a Werkzeug ``HTTPException`` whose response is the
    middleware's 401 challenge, so Flask answers it instead of a 500."""

    code = 401
    description = MissingToken.description

    def __init__(self, challenge: Challenge) -> None:
        super().__init__()
        #: The answer: the middleware's rendering of :class:`~jwt_guard.MissingToken`.
        self.challenge = challenge

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        challenge = self.challenge
        return Response(challenge.body, status=challenge.status_code, headers=list(challenge.headers))


def require_access_token(environ_or_request: Any = None) -> AccessToken:
    """Like :func:`get_access_token`, typed without ``None``: raises
    :class:`~jwt_guard.MissingToken` (a :class:`TokenRequired`, which Flask
    answers with the 401 challenge) when the request has no verified token.
    Inside a view decorated with :func:`require_scopes` it always returns the
    token."""
    environ = _flask_environ() if environ_or_request is None else _environ_of(environ_or_request)
    token = environ.get(TOKEN_KEY)
    if isinstance(token, AccessToken):
        return token
    raise TokenRequired(responder_of(environ).challenge(MissingToken()))


# -- decorators ---------------------------------------------------------------

_Kind = Literal["wsgi", "flask", "request", "werkzeug", "django"]


def _request_kind(annotation: Any) -> _Kind | None:
    if not isinstance(annotation, type):
        return None
    if issubclass(annotation, Request):
        return "werkzeug"
    django_http = sys.modules.get("django.http")  # a Django annotation means Django is loaded
    if django_http is not None and issubclass(annotation, django_http.HttpRequest):
        return "django"
    return None


def _flask_installed() -> bool:
    return importlib.util.find_spec("flask") is not None


def _signature(view: Callable[..., Any], name: str) -> inspect.Signature:
    if isinstance(view, functools.partial):
        # Django's method_decorator hands over a partial of the bound method
        # whose __wrapped__ is the plain function, self included: read the
        # partial's own parameters.
        try:
            return inspect.signature(view, follow_wrapped=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: cannot read the signature of {view!r}") from exc
    return read_signature(view, name)


def _inspect_view(view: Callable[..., Any], name: str) -> tuple[_Kind, int]:
    """What kind of view *view* is, and where its request or environ arrives."""
    if isinstance(view, type):
        raise TypeError(f"{name} decorates functions, methods and WSGI callables, not classes")
    signature = _signature(view, name)
    positional = [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in positional]
    for index in range(len(names) - 1):
        if names[index] == "environ" and names[index + 1] == "start_response":
            return "wsgi", index
    for index, parameter in enumerate(positional):
        kind = _request_kind(parameter.annotation)
        if kind is not None:
            return kind, index
    if "request" in names:
        return "request", names.index("request")
    if not _flask_installed():
        raise TypeError(
            f"{name}: {getattr(view, '__qualname__', view)!r} takes neither a request nor "
            "(environ, start_response), and Flask is not installed to provide a request context"
        )
    return "flask", -1


def _answer(error: JWTGuardError, environ: WSGIEnvironment) -> WSGIApplication:
    """The WSGI application that answers *error*, as the middleware would (its responder)."""
    answer = responder_of(environ).answer(error, environ)
    if isinstance(answer, Challenge):
        return Response(answer.body, status=answer.status_code, headers=list(answer.headers))
    application: WSGIApplication = answer
    return application


def _werkzeug_response(error: JWTGuardError, environ: WSGIEnvironment) -> Response:
    return Response.force_type(_answer(error, environ), environ)  # type: ignore[arg-type]


def _flask_response(error: JWTGuardError, environ: WSGIEnvironment) -> Any:
    import flask

    response_class: type[Response] = flask.current_app.response_class
    return response_class.force_type(_answer(error, environ), environ)  # type: ignore[arg-type]


def _django_response(error: JWTGuardError, environ: WSGIEnvironment) -> Any:
    # Imported by name: Django ships no type information.
    django_http = importlib.import_module("django.http")
    answer = Response.from_app(_answer(error, environ), environ, buffered=True)
    response = django_http.HttpResponse(answer.get_data(), status=answer.status_code)
    for key, value in answer.headers.items():
        response.headers[key] = value
    return response


def _request_environ(request: Any, kind: _Kind) -> tuple[WSGIEnvironment, Callable[[JWTGuardError, Any], Any]]:
    if kind != "werkzeug":
        django_http = sys.modules.get("django.http")
        if django_http is not None and isinstance(request, django_http.HttpRequest):
            return request.META, _django_response
    if isinstance(request, Request):
        return request.environ, _werkzeug_response
    raise TypeError(f"expected a Werkzeug or Django request, not {type(request).__name__}")


def _scope_decorator(name: str, requirement: Requirement) -> Callable[[_F], _F]:
    def recorded(view: _F) -> _F:
        wrapper = decorate(view)
        record_requirement(wrapper, requirement)  # the documented record of what the view needs
        return wrapper

    def decorate(view: _F) -> _F:
        if not callable(view):
            raise TypeError(f"{name} decorates callables, not {type(view).__name__}")
        kind, index = _inspect_view(view, name)
        view_is_async = is_async(view)
        check = EndpointCheck(requirement, getattr(view, "__qualname__", repr(view)))
        if kind == "wsgi":
            if view_is_async:
                raise TypeError(f"{name}: a WSGI application cannot be a coroutine function")

            @functools.wraps(view)
            def wsgi_view(*args: Any, **kwargs: Any) -> Any:
                environ = argument(args, kwargs, index, "environ")
                error = check.refusal(environ)
                if error is not None:
                    start_response = argument(args, kwargs, index + 1, "start_response")
                    return _answer(error, environ)(environ, start_response)
                return view(*args, **kwargs)

            return wsgi_view  # type: ignore[return-value]

        if kind == "flask":

            def denial(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                environ = _flask_environ()
                error = check.refusal(environ)
                return None if error is None else _flask_response(error, environ)

        else:
            parameter = list(_signature(view, name).parameters)[index]

            def denial(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                environ, respond = _request_environ(argument(args, kwargs, index, parameter), kind)
                error = check.refusal(environ)
                return None if error is None else respond(error, environ)

        if view_is_async:

            @functools.wraps(view)
            async def async_view(*args: Any, **kwargs: Any) -> Any:
                denied = denial(args, kwargs)
                if denied is not None:
                    return denied
                return await view(*args, **kwargs)

            return async_view  # type: ignore[return-value]

        @functools.wraps(view)
        def sync_view(*args: Any, **kwargs: Any) -> Any:
            denied = denial(args, kwargs)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        return sync_view  # type: ignore[return-value]

    return recorded


def require_scopes(*scopes: str) -> Callable[[_F], _F]:
    """Let a view run only for a verified token holding *every* one of *scopes*.

    Works on Flask views (the request comes from ``flask.request``),
    Werkzeug-style views taking a ``Request``, Django function views taking an
    ``HttpRequest``, and plain WSGI callables ``(environ, start_response)``.
    The kind is found from the signature when decorating: a parameter named
    ``environ`` followed by ``start_response``, a parameter annotated with a
    Werkzeug or Django request class or named ``request``; otherwise a Flask
    view. Coroutine functions get an async wrapper. Mistakes (no parentheses,
    a scope that is not a string or not an RFC 6749 scope token) raise
    ``TypeError``/``ValueError`` at decoration time.

    Without a verified token the view answers ``401``; with one lacking a
    scope, ``403`` with ``error="insufficient_scope"`` and the ``scope``
    attribute. The answers are the middleware's (its
    :class:`~jwt_guard.Responder`: realm and ``on_error``),
    as a Flask or Werkzeug ``Response``, a Django ``HttpResponse`` or a WSGI
    response.

    .. warning::
       The decorator trusts only ``environ["jwt_guard.token"]`` as set by
       :class:`JWTGuardMiddleware`, which must wrap the application: it never
       reads or verifies credentials itself, so without the middleware every
       request is answered ``401`` (and a warning is logged once per view).
    """
    return _scope_decorator("require_scopes", Requirement.for_decorator("require_scopes", scopes, any_of=False))


def require_any_scope(*scopes: str) -> Callable[[_F], _F]:
    """Like :func:`require_scopes`, satisfied by *at least one* of *scopes*.

    The ``403`` challenge lists all of them in its ``scope`` attribute.

    .. warning::
       As for :func:`require_scopes`: only a token verified by
       :class:`JWTGuardMiddleware` counts.
    """
    return _scope_decorator("require_any_scope", Requirement.for_decorator("require_any_scope", scopes, any_of=True))


def require_auth(
    *misuse: Any, scopes: Iterable[str] = (), acr_values: Iterable[str] | None = None, max_age: int | None = None
) -> Callable[[_F], _F]:
    """Let a view run only for a verified token whose user authentication
    is strong and recent enough (RFC 9470 step-up), and that grants *scopes*.

    ``@require_auth(acr_values=["urn:example:mfa"], max_age=300)``: the
    token's ``acr`` must be one of *acr_values* and its ``auth_time`` at
    most *max_age* seconds old (with the verifier's leeway and clock).
    Otherwise the view answers ``401`` with
    ``error="insufficient_user_authentication"`` and the ``acr_values``
    and/or ``max_age`` it needs, so that the client can send the user back
    to the authorization server. An ``acr`` that is not a listed string, or
    an ``auth_time`` that is absent, not a finite number or in the future,
    falls short. Stacks with :func:`require_scopes`; views, answers and
    decoration-time mistakes are as for :func:`require_scopes`.

    .. warning::
       As for :func:`require_scopes`: only a token verified by
       :class:`JWTGuardMiddleware` counts.
    """
    requirement = Requirement.for_step_up("require_auth", misuse, scopes=scopes, acr_values=acr_values, max_age=max_age)
    return _scope_decorator("require_auth", requirement)
