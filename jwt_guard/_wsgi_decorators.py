"""The WSGI adapter's view decorators: :func:`require_scopes`,
:func:`require_any_scope` and :func:`require_auth` on plain WSGI callables,
Werkzeug and Flask views and Django views. The requirement itself is the
request layer's (:class:`~jwt_guard._endpoint.Requirement`); this module
finds the request among the view's arguments and answers through the
middleware's responder, in the view's own framework."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from werkzeug.wrappers import Request, Response

from jwt_guard._challenge import Challenge
from jwt_guard._endpoint import EndpointCheck, Requirement, argument, is_async, read_signature, record_requirement
from jwt_guard._responder import responder_of
from jwt_guard._wsgi_access import flask_environ
from jwt_guard.errors import JWTGuardError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = ["require_any_scope", "require_auth", "require_scopes"]

_F = TypeVar("_F", bound=Callable[..., Any])


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
                environ = flask_environ()
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
       :class:`~jwt_guard.wsgi.JWTGuardMiddleware`, which must wrap the application: it never
       reads or verifies credentials itself, so without the middleware every
       request is answered ``401`` (and a warning is logged once per view).
    """
    return _scope_decorator("require_scopes", Requirement.for_decorator("require_scopes", scopes, any_of=False))


def require_any_scope(*scopes: str) -> Callable[[_F], _F]:
    """Like :func:`require_scopes`, satisfied by *at least one* of *scopes*.

    The ``403`` challenge lists all of them in its ``scope`` attribute.

    .. warning::
       As for :func:`require_scopes`: only a token verified by
       :class:`~jwt_guard.wsgi.JWTGuardMiddleware` counts.
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
       :class:`~jwt_guard.wsgi.JWTGuardMiddleware` counts.
    """
    requirement = Requirement.for_step_up("require_auth", misuse, scopes=scopes, acr_values=acr_values, max_age=max_age)
    return _scope_decorator("require_auth", requirement)
