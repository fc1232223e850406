"""How a middleware answers a refused request, as one public object.

Each middleware puts its :class:`Responder` into the request (ASGI scope,
WSGI environ) under :data:`RESPONDER_KEY`, next to the verified token under
:data:`TOKEN_KEY`, so that decorators and dependencies deeper in the
application answer exactly like it — same realm, same ``on_error`` hook —
without ever holding the middleware itself.

The responder is where answer settings that every adapter shares belong:
the ``resource_metadata`` URL of RFC 9728 protected-resource metadata
(:class:`~jwt_guard.ProtectedResource`, set from the middlewares'
``resource=``) is one; the accepted DPoP proof algorithms for a ``DPoP``
challenge and a fresh ``DPoP-Nonce`` join :meth:`challenge` when the
middlewares support them.

Every refusal an adapter sends passes here once (:meth:`Responder.challenge`,
an ``on_error`` answer, :meth:`Responder.close`), so every adapter counts
and logs refusals the same way (:func:`~jwt_guard._events.report_refusal`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jwt_guard._auth_syntax import realm_ok
from jwt_guard._challenge import Challenge, render_error, websocket_close
from jwt_guard._events import Reporter, report_refusal
from jwt_guard._verifier import event_reporter
from jwt_guard.errors import ConfigurationError, JWTGuardError

if TYPE_CHECKING:
    from jwt_guard._verifier import Verifier

__all__ = ["RESPONDER_KEY", "TOKEN_KEY", "ErrorHandler", "Responder", "responder_of"]

#: The key, in an ASGI scope or a WSGI environ, holding the verified
#: :class:`~jwt_guard.AccessToken` — or ``None`` once the middleware let the
#: request through without one (optional mode, excluded path). Absent when
#: no middleware ran.
TOKEN_KEY = "jwt_guard.token"  # noqa: S105 - a dictionary key
#: The key, in an ASGI scope or a WSGI environ, holding the middleware's
#: :class:`Responder`.
RESPONDER_KEY = "jwt_guard.responder"

#: ``on_error(error, request) -> response | None``: the application's own
#: answer to a refused request. The request and response types are the
#: adapter's (a Starlette connection and ``Response``; a WSGI environ and
#: WSGI application).
ErrorHandler = Callable[[JWTGuardError, Any], Any]


class Responder:
    """How refused requests are answered: the challenges' realm and the
    application's ``on_error`` hook.

    A middleware builds one from its options and leaves it under
    ``scope[RESPONDER_KEY]`` / ``environ[RESPONDER_KEY]``;
    :func:`jwt_guard.asgi.require_scopes`, :func:`jwt_guard.wsgi.require_scopes`
    and the FastAPI dependency answer through it.

    :param realm: the ``realm`` of ``WWW-Authenticate`` challenges.
    :param on_error: see :data:`ErrorHandler`; ``None`` keeps the default answers.
    :param verifier: the :class:`~jwt_guard.Verifier` whose result is stored
        under :data:`TOKEN_KEY` (the FastAPI dependency reuses only a result
        of its own verifier).
    :param resource_metadata: the URL of the API's protected resource
        metadata (RFC 9728, :attr:`ProtectedResource.metadata_url
        <jwt_guard.ProtectedResource.metadata_url>`), sent as
        ``resource_metadata="…"`` in every challenge (§5.1).
    :param adapter: the adapter answering (``"asgi"``, ``"wsgi"``,
        ``"fastapi"``, ``"django"``), named in ``request_refused`` events.
    """

    __slots__ = ("_events", "adapter", "dpop", "on_error", "realm", "resource_metadata", "verifier")

    def __init__(
        self,
        *,
        realm: str | None = None,
        on_error: ErrorHandler | None = None,
        verifier: Verifier | None = None,
        resource_metadata: str | None = None,
        adapter: str | None = None,
    ) -> None:
        if realm is not None and not realm_ok(realm):
            raise ConfigurationError("realm must be printable ASCII without quotes or backslashes")
        if resource_metadata is not None and not realm_ok(resource_metadata):
            raise ConfigurationError("resource_metadata must be a URL of printable ASCII without quotes")
        self.realm = realm
        self.on_error = on_error
        self.verifier = verifier
        self.resource_metadata = resource_metadata
        self.adapter = adapter
        self._events: Reporter | None = None if verifier is None else event_reporter(verifier)
        #: The verifier's DPoP options: challenges then name the DPoP scheme too.
        self.dpop = verifier.dpop if verifier is not None else None

    def challenge(self, error: JWTGuardError) -> Challenge:
        """The default answer to *error*, with this responder's realm (and
        ``resource_metadata``, when set, and the DPoP challenge where the
        verifier accepts DPoP)."""
        report_refusal(error, self._events, self.adapter)
        return render_error(error, realm=self.realm, resource_metadata=self.resource_metadata, dpop=self.dpop)

    def answer(self, error: JWTGuardError, request: Any) -> Any:
        """The application's answer to *error* (``on_error(error, request)``)
        when it gives one, else the default :class:`~jwt_guard.Challenge`."""
        if self.on_error is not None:
            custom = self.on_error(error, request)
            if custom is not None:
                report_refusal(error, self._events, self.adapter)
                return custom
        return self.challenge(error)

    def close(self, error: JWTGuardError) -> tuple[int, str]:
        """The WebSocket close code and reason refusing a connection with *error*."""
        report_refusal(error, self._events, self.adapter)
        return websocket_close(error)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(realm={self.realm!r}, on_error={self.on_error!r})"


_DEFAULT = Responder()


def responder_of(values: Mapping[str, Any]) -> Responder:
    """The responder a middleware left in *values* (a scope or an environ),
    else one with default answers."""
    responder = values.get(RESPONDER_KEY)
    return responder if isinstance(responder, Responder) else _DEFAULT
