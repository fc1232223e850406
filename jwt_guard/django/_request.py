"""Django's request as the request layer reads it, and answers as Django responses.

:class:`DjangoRequest` is the one view of a Django request for both of
Django's faces. ``request.META`` is a WSGI environ under WSGI and is built
from the ASGI scope under ASGI, with the same ``HTTP_*`` keys either way
(repeated headers joined with ``,``), so the headers are read as
:class:`~jwt_guard._request.EnvironRequest` reads them. Two values come from
Django itself, because ``META`` cannot give them under ASGI: the scheme
(``request.scheme``: the server's, or ``SECURE_PROXY_SSL_HEADER`` when the
project configured it) and the path Django routes (``request.path_info``,
already decoded).

:func:`metadata_response` serves a resource's RFC 9728 metadata for the
middleware: the answer is decided by
:class:`~jwt_guard._metadata.MetadataService` from the path as the client
sent it (the ASGI scope's, or the WSGI environ's), exactly as for the ASGI
and WSGI middlewares; only the ``HttpResponse`` is made here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse

from jwt_guard._challenge import Challenge
from jwt_guard._request import EnvironRequest
from jwt_guard._responder import Responder
from jwt_guard.errors import JWTGuardError

if TYPE_CHECKING:
    from jwt_guard._metadata import MetadataService

__all__ = ["DjangoRequest", "answer", "http_request", "metadata_response", "response_for"]


class DjangoRequest(EnvironRequest):
    """A :class:`~jwt_guard._request.Request` over a Django ``HttpRequest``
    (``WSGIRequest`` or ``ASGIRequest``)."""

    __slots__ = ("request",)

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request.META)
        self.request = request

    @property
    def scheme(self) -> str:
        return self.request.scheme or "http"

    @property
    def path(self) -> str:
        return self.request.path_info


def http_request(obj: object) -> HttpRequest:
    """The Django ``HttpRequest`` of *obj*: the request itself, or the one a
    REST framework ``Request`` wraps; ``TypeError`` for anything else."""
    if isinstance(obj, HttpRequest):
        return obj
    inner = getattr(obj, "_request", None)  # rest_framework.request.Request
    if isinstance(inner, HttpRequest):
        return inner
    raise TypeError(f"expected a Django HttpRequest or a REST framework Request, not {type(obj).__name__}")


def response_for(challenge: Challenge) -> HttpResponse:
    """A Django ``HttpResponse`` carrying *challenge*.

    Django keeps one value per header name: repeated ``WWW-Authenticate``
    challenges are joined with ``", "``, which RFC 9110 §11.6.1 allows (the
    field is a comma-separated list of challenges).
    """
    response = HttpResponse(challenge.body, status=challenge.status_code)
    joined: dict[str, str] = {}
    for name, value in challenge.headers:
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    for name, value in joined.items():
        response[name] = value
    return response


def answer(error: JWTGuardError, request: HttpRequest, responder: Responder) -> Any:
    """The answer of *responder* to *error*: an ``HttpResponse``, or what the
    application's ``on_error`` returned."""
    result = responder.answer(error, request)
    return response_for(result) if isinstance(result, Challenge) else result


def metadata_response(service: MetadataService, request: HttpRequest) -> HttpResponse | None:
    """The answer to a request for the RFC 9728 metadata (the document, a
    CORS preflight, 404 or 405), or ``None`` for a request that belongs to
    the application.

    The path is the one the client sent: under ASGI the scope's (``raw_path``,
    else ``path``, both with the mount prefix), under WSGI the environ's
    (``RAW_URI``/``REQUEST_URI``, else ``SCRIPT_NAME`` + ``PATH_INFO``), as
    the ASGI and WSGI middlewares read it.
    """
    scope = getattr(request, "scope", None)  # ASGIRequest
    if isinstance(scope, Mapping) and isinstance(scope.get("path"), str) and isinstance(scope.get("method"), str):
        served = service.answer_scope(scope)
    else:
        served = service.answer_environ(request.META)
    if served is None:
        return None
    response = HttpResponse(served.body, status=served.status_code)
    if served.header("content-type") is None:
        del response["Content-Type"]  # a 204 preflight has no content, so no type (HttpResponse adds one)
    for name, value in served.headers:
        response[name] = value
    return response
