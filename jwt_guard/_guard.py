"""The request layer: every decision about a request, with no I/O and no framework.

Adapters (:mod:`jwt_guard.asgi`, :mod:`jwt_guard.wsgi`,
:mod:`jwt_guard.fastapi`) only translate. A middleware wraps what its server
gives it in a :class:`~jwt_guard._request.Request` (or, when
:attr:`Guard.header_only` says the ``Authorization`` values are all the
guard reads, hands over just those), then:

1. :meth:`Guard.exempt` — is the path served without authentication?
2. :meth:`Guard.authenticate` — the request's :class:`Credentials`, or
   ``None`` for an anonymous request that may pass (optional mode); raises
   :class:`InvalidRequest` for malformed or duplicated credentials (RFC 6750
   §2) and :class:`MissingToken` for a required but absent token;
3. ``Verifier.verify(credentials.token)`` (or ``verify_async``: the only
   I/O, which is why the adapter calls it);
4. stores the token (or ``None``) under :data:`TOKEN_KEY` and its
   :class:`~jwt_guard.Responder` under :data:`RESPONDER_KEY`, and on any
   :class:`~jwt_guard.JWTGuardError` sends what the responder answers.

Endpoint decorators and dependencies check a
:class:`~jwt_guard._endpoint.Requirement` against :data:`TOKEN_KEY` and answer
through the :data:`RESPONDER_KEY` responder.

With ``cookie=`` the guard also reads the token cookie
(:class:`~jwt_guard._cookie.CookieAuth`) when no ``Authorization`` header
(or query token) gave credentials, and screens every unsafe request that
carries the cookie with the cross-origin check of :mod:`jwt_guard._csrf`:
inside :meth:`Guard.authenticate`, and through :meth:`Guard.exempt_refusal`
on excluded paths, where adapters call it instead. When a cookie is all the
guard reads besides the header (:attr:`Guard.values_only`), adapters hand
over the ``Authorization`` and ``Cookie`` values and the method to
:meth:`Guard.authenticate_values`, which builds a Request only for the check.

Seams for later features (none implemented here yet):

- DPoP (the checks themselves are in :mod:`jwt_guard._dpop`, the flow in
  :mod:`jwt_guard._dpop_flow`): with a verifier that accepts DPoP,
  the ``DPoP`` scheme is read and memoised like a bearer header, and the
  request's :class:`Credentials` carry ``scheme="DPoP"`` and a
  :class:`~jwt_guard.DPoPContext`: the one ``DPoP`` header
  (:func:`~jwt_guard._dpop.single_proof`), the method and
  :meth:`Request.url` under the ``public_url`` option, new on every request
  and never memoised. Adapters pass ``credentials.dpop`` to ``verify`` and
  add ``credentials.dpop.next_nonce``, when set, to the application's
  answer as ``DPoP-Nonce``. :attr:`Guard.header_only` and
  :attr:`Guard.values_only` are then off, so adapters build the Request.

RFC 9728 metadata: with ``resource=``, :func:`middleware_layer` gives the
Guard a :class:`~jwt_guard._metadata.MetadataService` (:attr:`Guard.metadata`)
that adapters ask before step 1 — its answer is sent as it is, the
application never runs and no credentials are read — and gives the
Responder the ``resource_metadata`` URL its challenges carry. Step-up
(RFC 9470) is a :class:`~jwt_guard._endpoint.Requirement` with
``acr_values`` / ``max_age``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from jwt_guard._cookie import CookieAuth, handshake_method, itself
from jwt_guard._csrf import SAFE_METHODS
from jwt_guard._dpop import single_proof
from jwt_guard._dpop_flow import DPoPContext
from jwt_guard._metadata import MetadataService, RouteScopes
from jwt_guard._origin import PublicURL
from jwt_guard._request import Credentials, Request
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY, ErrorHandler, Responder
from jwt_guard._verifier import Verifier
from jwt_guard.errors import ConfigurationError, InsufficientScope, InvalidRequest, JWTGuardError, MissingToken

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken
    from jwt_guard._dpop_options import DPoPOptions
    from jwt_guard._resource import ProtectedResource

__all__ = [
    "RESPONDER_KEY",
    "TOKEN_KEY",
    "Guard",
    "check_scopes",
    "check_verifier",
    "middleware_layer",
    "parse_authorization",
    "parse_dpop_authorization",
]

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_QUERY_PARAM = "access_token"
# The memo of parsed Authorization values: entries and the longest value kept.
# A client sends the same header on every request; parsing it once makes the
# repeated case a dict lookup, and handing out the same token string lets the
# verifier's result cache reuse its hash. Bounded: at most 256 x 8 KiB.
_MEMO_SIZE = 256
_MEMO_MAX_VALUE = 8192
_Entry = tuple[object, "Credentials | None"]  # (Authorization value, its credentials)
_NOTHING = object()  # equal to no header value
# The memo is keyed by the value's tail (the signature: high entropy), so
# that a lookup hashes 32 characters instead of the whole token; a hit is
# confirmed by comparing the whole value.
_MEMO_KEY = 32


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


def parse_dpop_authorization(value: str) -> str | None:
    """The access token in a ``DPoP`` ``Authorization`` header value
    (RFC 9449 §7.1: ``DPoP <token68>``, the scheme matched case-insensitively).

    ``None`` for another scheme. Raises :class:`InvalidRequest` (answered
    with a DPoP challenge) for a DPoP header that is not exactly one token.
    """
    scheme, sep, rest = value.strip(" ").partition(" ")
    lowered = scheme.lower()
    if lowered != "dpop":
        if lowered.startswith("dpop") and lowered[4:5].isspace():
            raise _dpop_request("the Authorization header must be 'DPoP <token>'")
        return None
    token = rest.lstrip(" ")
    if not sep or not token:
        raise _dpop_request("the Authorization header has no DPoP-bound token")
    if " " in token or not _is_token68(token):
        raise _dpop_request("the Authorization header must hold exactly one DPoP-bound token")
    return token


def _dpop_request(description: str) -> InvalidRequest:
    error = InvalidRequest(description)
    error.scheme = "DPoP"
    return error


def _is_token68(value: str) -> bool:
    # The same test as a regex fullmatch of [A-Za-z0-9\-._~+/]+=*, about five
    # times faster on a typical JWT: once the trailing "=" are gone, deleting
    # every allowed byte must leave nothing.
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
    """Which requests need a token, and where the token may come from.

    :param optional: let requests without credentials through anonymously
        (present but invalid credentials are still refused).
    :param exclude_paths: paths served without authentication: exact paths,
        or prefixes when they end with ``/`` or ``*`` (``"/docs/"``,
        ``"/static*"``).
    :param allow_query_token: also accept ``?access_token=`` (RFC 6750 §2.3
        discourages it: URLs end up in logs and browser history).
    :param cookie: the name of a cookie holding the token, read when the
        request has no ``Authorization`` header (or query token); unsafe
        requests carrying it must pass the cross-origin check.
    :param trusted_origins: origins (``scheme://host[:port]``) whose pages
        may send unsafe requests with the cookie; needs *cookie*.
    :param dpop: the verifier's :class:`~jwt_guard.DPoPOptions`: accept the
        ``DPoP`` scheme (RFC 9449), with the request's proof.
    :param public_url: the URL clients use to reach the API, when the server
        sees another one (a proxy ending TLS, a mount prefix): it defines the
        request's own origin (:func:`~jwt_guard._origin.own_origin`) and the
        URL DPoP proofs must name.
    """

    __slots__ = (
        "_cookie",
        "_exact",
        "_last",
        "_memo",
        "_prefixes",
        "allow_query_token",
        "dpop",
        "excludes",
        "header_only",
        "metadata",
        "optional",
        "public_url",
        "values_only",
    )

    def __init__(
        self,
        *,
        optional: bool = False,
        exclude_paths: Iterable[str] = (),
        allow_query_token: bool = False,
        cookie: str | None = None,
        trusted_origins: Iterable[str] = (),
        dpop: DPoPOptions | None = None,
        public_url: str | PublicURL | None = None,
    ) -> None:
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
        self.optional = bool(optional)
        self.allow_query_token = bool(allow_query_token)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        #: False when no path is excluded (then :meth:`exempt` reads no path).
        self.excludes = bool(exact or prefixes)
        #: True when this guard's decisions read nothing of a request but its
        #: ``Authorization`` values (no excluded paths, no query tokens): an
        #: adapter may then pass those values to :meth:`authenticate_header`
        #: instead of wrapping every request in a Request. Features that read
        #: more (cookies, DPoP proofs) will turn it off.
        self.header_only = not (self.excludes or self.allow_query_token or cookie is not None or dpop is not None)
        #: The DPoP options when the ``DPoP`` scheme is accepted, else None.
        self.dpop = dpop
        #: The parsed ``public_url`` (``None``: the request's own scheme and host).
        self.public_url = (
            public_url if public_url is None or isinstance(public_url, PublicURL) else PublicURL.parse(public_url)
        )
        if cookie is None and trusted_origins:
            raise ConfigurationError("trusted_origins applies to the token cookie: give cookie= as well")
        self._cookie = (
            None
            if cookie is None
            else CookieAuth(cookie, _is_token68, trusted_origins=trusted_origins, public_url=self.public_url)
        )
        #: True for a guard with a cookie and nothing else to read (no excluded
        #: path, no query token, no DPoP): an adapter may then pass the
        #: Authorization and Cookie values and the method to
        #: :meth:`authenticate_values`, and build a Request only when that asks for one.
        self.values_only = self._cookie is not None and not (
            self.excludes or self.allow_query_token or dpop is not None
        )
        self._memo: dict[str | bytes, _Entry] = {}
        # The entry seen last: a client repeating its token skips even the
        # memo's lookup (one attribute read, one comparison).
        self._last: _Entry = (_NOTHING, None)
        #: The RFC 9728 metadata served before any authentication (set by
        #: :func:`middleware_layer` for ``resource=``), or ``None``.
        self.metadata: MetadataService | None = None

    def excluded(self, path: str) -> bool:
        """True if *path* is served without authentication."""
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))

    def exempt(self, request: Request) -> bool:
        """True if *request* is served without looking at its credentials."""
        return self.excludes and self.excluded(request.path)

    @property
    def cookie(self) -> str | None:
        """The name of the token cookie, or ``None`` when only the header counts."""
        return None if self._cookie is None else self._cookie.name

    def exempt_refusal(self, request: Request) -> JWTGuardError | None:
        """For an :meth:`exempt` request: the error refusing it anyway, else ``None``.

        An excluded path authenticates nothing, but the application behind it
        could still read the token cookie: an unsafe request that carries the
        cookie must pass the cross-origin check there too.
        """
        return None if self._cookie is None else self._cookie.refusal(request)

    def authenticate(self, request: Request) -> Credentials | None:
        """The credentials to verify, or ``None`` for an anonymous request
        that may go on (optional mode).

        Raises :class:`InvalidRequest` for malformed or duplicated
        credentials, and :class:`MissingToken` when a token is required and
        the request has none.
        """
        authorization = request.raw_header_values("authorization")
        if self.header_only:
            return self.authenticate_header(authorization)
        if self.values_only:
            cookie = request.raw_header_values("cookie")
            return self.authenticate_values(authorization, cookie, handshake_method(request), itself, request)
        found = self._credentials(request, authorization)
        if self.dpop is not None:
            found = self._with_proof(request, found)
        if found is None and not self.optional:
            raise MissingToken()
        return found

    def _with_proof(self, request: Request, found: Credentials | None) -> Credentials | None:
        """DPoP credentials with the request's :class:`DPoPContext` (see the module)."""
        options = self.dpop
        assert options is not None
        if found is None or found.scheme != "DPoP":
            if found is None and request.raw_header_values("dpop"):
                raise _dpop_request("a DPoP proof came without an access token")
            return found  # a Bearer request: its DPoP header, if any, plays no part
        proof = single_proof(request.header_values("dpop"), options)
        return Credentials(
            "DPoP", found.token, found.source, DPoPContext(proof, request.method, request.url(self.public_url))
        )

    def authenticate_header(self, authorization: Sequence[str | bytes]) -> Credentials | None:
        """:meth:`authenticate` from the request's ``Authorization`` values
        alone (as :meth:`~jwt_guard._request.Request.raw_header_values`
        gives them), for a guard that reads nothing else (:attr:`header_only`).
        """
        if len(authorization) == 1:
            # The common case: a header seen before costs a comparison or a dict lookup.
            value = authorization[0]
            last = self._last
            found = last[1] if last[0] == value else self._from_header(value)
        elif authorization:
            raise InvalidRequest("more than one Authorization header")
        else:
            found = None
        if found is None and not self.optional:
            raise MissingToken()
        return found

    def authenticate_values(
        self,
        authorization: Sequence[str | bytes],
        cookie: Sequence[str | bytes],
        method: str | None,
        make_request: Callable[[Any], Request],
        source: Any,
    ) -> Credentials | None:
        """:meth:`authenticate` from a request's ``Authorization`` and
        ``Cookie`` values and its method (``None`` for a WebSocket
        handshake), for a guard with a cookie and nothing else to read
        (:attr:`values_only`). ``make_request(source)`` gives the whole
        request when the cross-origin check needs it (an ASGI adapter passes
        ``ScopeRequest, scope``): nothing is built for a safe request, so a
        repeated cookie costs about what :meth:`authenticate_header` costs
        (benchmarks/asgi.py, part (c)).
        """
        cookie_auth: CookieAuth = self._cookie  # type: ignore[assignment]
        found = None
        if authorization:
            if len(authorization) > 1:
                raise InvalidRequest("more than one Authorization header")
            value = authorization[0]
            last = self._last
            found = last[1] if last[0] == value else self._from_header(value)
            if found is not None and method in SAFE_METHODS:
                return found  # the header wins, and a safe request is not checked
        elif len(cookie) == 1 and method in SAFE_METHODS:
            # A browser's GET repeating its Cookie header: one comparison, as for a header.
            seen = cookie_auth.last
            if seen[0] == cookie[0] and seen[2] is not None:
                return seen[2]
        found = cookie_auth.credentials(found, cookie, method, make_request, source)
        if found is None and not self.optional:
            raise MissingToken()
        return found

    def credentials(self, request: Request) -> Credentials | None:
        """The bearer credentials of *request*, ``None`` if it has none.

        Raises :class:`InvalidRequest` for a malformed header, two headers,
        or a token sent in more than one place (RFC 6750 §2), and, with a
        token cookie, :class:`~jwt_guard.errors.CrossOriginRequest` for an
        unsafe request carrying it that fails the cross-origin check.
        """
        return self._credentials(request, request.raw_header_values("authorization"))

    def _credentials(self, request: Request, authorization: Sequence[str | bytes]) -> Credentials | None:
        found: Credentials | None = None
        if authorization:
            if len(authorization) > 1:
                raise InvalidRequest("more than one Authorization header")
            found = self._from_header(authorization[0])
        if self.allow_query_token:
            query = request.query_string
            if query:
                found = self._from_query(query, found)
        if self._cookie is not None:
            cookie = request.raw_header_values("cookie")
            found = self._cookie.credentials(found, cookie, handshake_method(request), itself, request)
        return found

    def _from_header(self, value: str | bytes) -> Credentials | None:
        """The credentials in one ``Authorization`` value (str, or bytes as an
        ASGI server sends it: decoded only when not memoised)."""
        key = value[-_MEMO_KEY:]
        memo = self._memo
        entry = memo.get(key)
        if entry is None or entry[0] != value:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            token = parse_authorization(text)  # raises for a malformed Bearer header: not memoised
            entry = (value, None if token is None else Credentials("Bearer", token, "header"))
            if token is None and self.dpop is not None:
                token = parse_dpop_authorization(text)
                entry = (value, None if token is None else Credentials("DPoP", token, "header"))
            if len(value) > _MEMO_MAX_VALUE:
                return entry[1]
            if len(memo) >= _MEMO_SIZE:
                memo.clear()  # atomic under threads, unlike evicting one entry
            memo[key] = entry
        self._last = entry
        return entry[1]

    @staticmethod
    def _from_query(query: str, found: Credentials | None) -> Credentials | None:
        # Parsed whole: the name may arrive percent-encoded (access%5Ftoken).
        values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == _QUERY_PARAM]
        if not values:
            return found
        if len(values) > 1 or found is not None:
            raise InvalidRequest("the access token was sent in more than one place")
        if not values[0]:
            raise InvalidRequest("the access_token parameter is empty")
        return Credentials("Bearer", values[0], "query")


def check_verifier(verifier: object) -> None:
    """Raise :class:`ConfigurationError` unless *verifier* is a :class:`~jwt_guard.Verifier`."""
    if not isinstance(verifier, Verifier):
        raise ConfigurationError(f"verifier must be a jwt_guard.Verifier, not {type(verifier).__name__}")


def middleware_layer(
    verifier: object,
    on_error: object,
    *,
    on_error_returns: str,
    realm: str | None,
    optional: bool,
    exclude_paths: Iterable[str],
    allow_query_token: bool,
    cookie: str | None = None,
    trusted_origins: Iterable[str] = (),
    public_url: str | None = None,
    resource: object = None,
    route_scopes: RouteScopes | None = None,
    adapter: str | None = None,
) -> tuple[Guard, Responder]:
    """Check the options the ASGI and WSGI middlewares share; return their
    :class:`Guard` and :class:`~jwt_guard.Responder`.

    In this order: *verifier*, then *on_error* (a plain function: an
    ``async def`` would hand back an unawaited coroutine), then the realm,
    then the Guard's settings, then *resource* (a
    :class:`~jwt_guard.ProtectedResource` that must be one of the
    verifier's audiences; *route_scopes* supplies its default
    ``scopes_supported``, see :class:`~jwt_guard._metadata.MetadataService`).
    *on_error_returns* names what the adapter's *on_error* returns, for the
    message; *adapter* names the adapter in ``request_refused`` events.
    """
    check_verifier(verifier)
    if on_error is not None and (not callable(on_error) or inspect.iscoroutinefunction(on_error)):
        raise ConfigurationError(f"on_error must be a plain function returning {on_error_returns}")
    handler = cast("ErrorHandler | None", on_error)
    responder = Responder(realm=realm, on_error=handler, verifier=cast(Verifier, verifier))
    guard = Guard(
        optional=optional,
        exclude_paths=exclude_paths,
        allow_query_token=allow_query_token,
        cookie=cookie,
        trusted_origins=trusted_origins,
        dpop=cast(Verifier, verifier).dpop,
        public_url=public_url,
    )
    if resource is not None:
        guard.metadata = MetadataService(
            cast("ProtectedResource", resource), verifier=verifier, guard=guard, route_scopes=route_scopes
        )
        responder.resource_metadata = guard.metadata.metadata_url
    responder.adapter = adapter  # named in request_refused events
    return guard, responder
