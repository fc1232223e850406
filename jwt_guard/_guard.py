"""The request-side policy both adapters share, with no I/O and no framework:
where a bearer token may come from (RFC 6750 §2), which paths are exempt,
and what an anonymous request gets.

Adapters only translate their framework's request into the plain values
taken here (header values, query string, path) and send what
:mod:`jwt_guard._challenge` renders.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from jwt_guard._challenge import Challenge, render
from jwt_guard._config import realm_ok
from jwt_guard._verifier import Verifier
from jwt_guard.errors import (
    ConfigurationError,
    InsufficientScope,
    InvalidRequest,
    JWTGuardError,
    MissingToken,
)

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken

__all__ = ["ErrorHandler", "Guard", "check_scopes", "check_verifier", "middleware_guard", "parse_authorization"]

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_QUERY_PARAM = "access_token"

#: ``on_error(error, request) -> response``: lets an application render its
#: own answer. The request object is the adapter's (a Starlette ``Request``,
#: a WSGI environ); the response type is the adapter's too.
ErrorHandler = Callable[[JWTGuardError, Any], Any]


def parse_authorization(value: str) -> str | None:
    """The bearer token in one ``Authorization`` header value.

    ``None`` when the header uses another scheme (``Basic`` …): such a
    request simply carries no bearer credentials. Raises
    :class:`InvalidRequest` for a Bearer header that is not exactly
    ``Bearer <token68>`` (scheme matched case-insensitively).
    """
    scheme, sep, rest = value.strip(" ").partition(" ")
    lowered = scheme.lower()
    if lowered != "bearer":
        if lowered.startswith("bearer") and lowered[6:7].isspace():
            # "Bearer<TAB>token": a bearer header with the wrong separator is
            # malformed, not another scheme (which would pass as anonymous).
            raise InvalidRequest("the Authorization header must be 'Bearer <token>'")
        return None
    token = rest.lstrip(" ")  # RFC 9110 §11.4: 1*SP after the scheme
    if not sep or not token:
        raise InvalidRequest("the Authorization header has no bearer token")
    if " " in token or not _is_token68(token):
        raise InvalidRequest("the Authorization header must hold exactly one bearer token")
    return token


def _is_token68(value: str) -> bool:
    # The same test as a regex fullmatch of [A-Za-z0-9\-._~+/]+=*, about five
    # times faster on a typical JWT (this runs on every request): once the
    # trailing "=" are gone, deleting every allowed byte must leave nothing.
    body = value.rstrip("=")
    return bool(body) and body.isascii() and not body.encode("ascii").translate(None, _TOKEN68_CHARS)


def check_scopes(token: AccessToken, required: Sequence[str], *, any_of: bool = False) -> None:
    """Raise :class:`InsufficientScope` unless *token* grants *required*
    (all of them, or with *any_of* at least one)."""
    if not required:
        return
    granted = token.has_any_scope(*required) if any_of else token.has_scopes(*required)
    if not granted:
        raise InsufficientScope(required)


class Guard:
    """Adapter-independent settings and decisions of a middleware.

    :param realm: the ``realm`` of ``WWW-Authenticate`` challenges.
    :param optional: let requests without a token through anonymously (a
        present but invalid token is still refused).
    :param exclude_paths: paths served without authentication: exact paths,
        or prefixes when they end with ``/`` or ``*`` (``"/docs/"``,
        ``"/static*"``).
    :param allow_query_token: also accept ``?access_token=`` (RFC 6750 §2.3
        discourages it: URLs end up in logs and browser history).
    """

    __slots__ = ("_exact", "_prefixes", "allow_query_token", "excludes", "optional", "realm")

    def __init__(
        self,
        *,
        realm: str | None = None,
        optional: bool = False,
        exclude_paths: Iterable[str] = (),
        allow_query_token: bool = False,
    ) -> None:
        if realm is not None and not realm_ok(realm):
            raise ConfigurationError("realm must be printable ASCII without quotes or backslashes")
        if isinstance(exclude_paths, str):
            exclude_paths = (exclude_paths,)
        exact: set[str] = set()
        prefixes: list[str] = []
        for path in exclude_paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigurationError(f"exclude_paths entries must start with '/', got {path!r}")
            if path.endswith("*"):
                prefixes.append(path[:-1])
            elif path.endswith("/") and path != "/":
                prefixes.append(path)
                exact.add(path.rstrip("/"))
            else:
                exact.add(path)
        self.realm = realm
        self.optional = bool(optional)
        self.allow_query_token = bool(allow_query_token)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        #: False when no path is excluded: adapters then skip the path lookup.
        self.excludes = bool(exact or prefixes)

    def excluded(self, path: str) -> bool:
        """True if *path* is served without authentication."""
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))

    def credentials(self, authorization: Sequence[str], query_string: str | bytes | None) -> str | None:
        """The bearer token of a request, ``None`` if it has none.

        *authorization* holds every ``Authorization`` header value received.
        Raises :class:`InvalidRequest` for a malformed header, two headers, or
        a token sent in more than one place (RFC 6750 §2).
        """
        token: str | None = None
        if authorization:
            if len(authorization) > 1:
                raise InvalidRequest("more than one Authorization header")
            token = parse_authorization(authorization[0])
        if self.allow_query_token and query_string:
            query = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
            # Parsed whole: the name may arrive percent-encoded (access%5Ftoken).
            found = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == _QUERY_PARAM]
            if len(found) > 1 or (found and token is not None):
                raise InvalidRequest("the access token was sent in more than one place")
            if found:
                if not found[0]:
                    raise InvalidRequest("the access_token parameter is empty")
                token = found[0]
        return token

    def anonymous(self) -> None:
        """A request without a token: allowed in optional mode, else refused."""
        if not self.optional:
            raise MissingToken()

    def render(self, error: JWTGuardError) -> Challenge:
        return render(error, realm=self.realm)


def check_verifier(verifier: object) -> None:
    """Raise :class:`ConfigurationError` unless *verifier* is a :class:`~jwt_guard.Verifier`."""
    if not isinstance(verifier, Verifier):
        raise ConfigurationError(f"verifier must be a jwt_guard.Verifier, not {type(verifier).__name__}")


def middleware_guard(
    verifier: object,
    on_error: object,
    *,
    on_error_returns: str,
    realm: str | None,
    optional: bool,
    exclude_paths: Iterable[str],
    allow_query_token: bool,
) -> Guard:
    """Check the options the ASGI and WSGI middlewares share and return their :class:`Guard`.

    In this order: *verifier*, then *on_error* (a plain function: an
    ``async def`` would hand back an unawaited coroutine), then the Guard's
    own settings. *on_error_returns* names what the adapter's *on_error*
    returns, for the message.
    """
    check_verifier(verifier)
    if on_error is not None and (not callable(on_error) or inspect.iscoroutinefunction(on_error)):
        raise ConfigurationError(f"on_error must be a plain function returning {on_error_returns}")
    return Guard(realm=realm, optional=optional, exclude_paths=exclude_paths, allow_query_token=allow_query_token)
