"""The verified token of a WSGI request, for views: :func:`get_access_token`
and :func:`require_access_token` read it from a WSGI environ, a Werkzeug or
Flask request, a Django ``HttpRequest`` or the current Flask request."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from jwt_guard._access_token import AccessToken
from jwt_guard._challenge import Challenge
from jwt_guard._responder import TOKEN_KEY, responder_of
from jwt_guard.errors import MissingToken

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["TokenRequired", "environ_of", "flask_environ", "get_access_token", "require_access_token"]


def environ_of(obj: Any) -> WSGIEnvironment:
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


def flask_environ() -> WSGIEnvironment:
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
    :class:`~jwt_guard.wsgi.JWTGuardMiddleware`.
    """
    environ = flask_environ() if environ_or_request is None else environ_of(environ_or_request)
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
    environ = flask_environ() if environ_or_request is None else environ_of(environ_or_request)
    token = environ.get(TOKEN_KEY)
    if isinstance(token, AccessToken):
        return token
    raise TokenRequired(responder_of(environ).challenge(MissingToken()))
