"""The cross-origin check for requests that carry the token cookie.

Browsers attach cookies to requests that other sites make them send (a form
posted from another page, a ``fetch`` with ``credentials: "include"``): a
cookie alone does not show that the user meant the request. The check
refuses such requests when they can change something (cross-site request
forgery), modelled on Go 1.25's ``net/http.CrossOriginProtection``:

1. ``GET``, ``HEAD`` and ``OPTIONS`` pass: they must not change anything
   (RFC 9110 §9.2.1). Methods are case-sensitive (RFC 9110 §9.1): ``get`` is
   not ``GET`` and is checked. A WebSocket handshake is a ``GET`` that opens a
   two-way channel, so it is checked too (cross-site WebSocket hijacking).
2. ``Sec-Fetch-Site`` (Fetch Metadata, sent by every current browser and
   impossible for a page to set): ``same-origin`` (the page is the API's
   own) and ``none`` (the user typed the URL or used a bookmark) pass; any
   other value (``same-site``, ``cross-site``, a value sent twice, an unknown
   one) fails unless ``Origin`` is one of the trusted origins.
3. Without ``Sec-Fetch-Site`` (older browsers): an ``Origin`` equal to the
   request's own origin (:func:`~jwt_guard._origin.own_origin`: scheme, host
   and port) or a trusted one passes; any other ``Origin`` — ``null``,
   another port, another scheme — fails.
4. Neither header: not a browser (``curl``, a server-side client), and only
   browsers attach cookies on their own: the request passes.

A failure is :class:`~jwt_guard.errors.CrossOriginRequest` (403, JSON body,
no challenge). The check needs no token and no I/O; it runs before the
token is verified.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from jwt_guard._events import log_rejection
from jwt_guard._origin import PublicURL, check_trusted_origin, own_origin, parse_origin
from jwt_guard._reasons import with_details
from jwt_guard.errors import ConfigurationError, CrossOriginRequest

if TYPE_CHECKING:
    from jwt_guard._request import Request

__all__ = ["SAFE_METHODS", "CrossOriginCheck", "cross_origin_refusal"]

#: Methods that must not change state (RFC 9110 §9.2.1), spelled exactly.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values that show the request did not come from another site's page.
_ALLOWED_SITES = frozenset({"same-origin", "none"})
_WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})


def _trusted(origin: Sequence[str], trusted: Collection[str]) -> bool:
    if len(origin) != 1 or not trusted:
        return False
    value = origin[0]
    return value in trusted or parse_origin(value) in trusted


def cross_origin_refusal(
    method: str,
    fetch_site: Sequence[str],
    origin: Sequence[str],
    own: Callable[[], str | None],
    trusted: Collection[str],
    *,
    websocket: bool = False,
) -> str | None:
    """Why a request carrying the token cookie is refused, or ``None`` when it may go on.

    :param method: the request method, as sent.
    :param fetch_site: every ``Sec-Fetch-Site`` value of the request.
    :param origin: every ``Origin`` value of the request.
    :param own: gives the request's own origin (asked only when needed).
    :param trusted: normalised trusted origins
        (:func:`~jwt_guard._origin.check_trusted_origin`).
    :param websocket: the request is a WebSocket handshake.

    The reason is a fixed phrase (never request data): ``"Sec-Fetch-Site"``
    or ``"Origin"``, the header that decided.
    """
    if method in SAFE_METHODS and not websocket:
        return None
    if fetch_site:
        if len(fetch_site) == 1 and fetch_site[0] in _ALLOWED_SITES:
            return None
        return None if _trusted(origin, trusted) else "Sec-Fetch-Site"
    if not origin:
        return None
    if _trusted(origin, trusted):
        return None
    if len(origin) == 1:
        mine = own()
        if mine is not None and parse_origin(origin[0]) == mine:
            return None
    return "Origin"


class CrossOriginCheck:
    """:func:`cross_origin_refusal` with a middleware's configuration.

    :param trusted_origins: origins whose pages may send unsafe requests with
        the cookie (``scheme://host[:port]``; checked here, normalised).
    :param public_url: the URL clients use, if the server does not see it
        (see :func:`~jwt_guard._origin.own_origin`).
    """

    __slots__ = ("public_url", "trusted")

    def __init__(self, trusted_origins: Iterable[str] | None = (), public_url: PublicURL | None = None) -> None:
        if trusted_origins is None:
            trusted_origins = ()
        elif isinstance(trusted_origins, str):
            trusted_origins = (trusted_origins,)
        elif not isinstance(trusted_origins, Iterable):
            raise ConfigurationError(f"trusted_origins must be a list of origins, not {type(trusted_origins).__name__}")
        #: The trusted origins, normalised.
        self.trusted = frozenset(check_trusted_origin(entry) for entry in trusted_origins)
        self.public_url = public_url

    def refusal(self, request: Request) -> CrossOriginRequest | None:
        """The error refusing *request*, or ``None`` when it passes."""
        method = request.method
        websocket = request.scheme in _WEBSOCKET_SCHEMES
        if method in SAFE_METHODS and not websocket:
            return None
        fetch_site = request.header_values("sec-fetch-site")
        if len(fetch_site) == 1 and fetch_site[0] in _ALLOWED_SITES:
            return None  # the common case, decided as cross_origin_refusal does, without reading Origin
        reason = cross_origin_refusal(
            method,
            fetch_site,
            request.header_values("origin"),
            lambda: own_origin(request, self.public_url),
            self.trusted,
            websocket=websocket,
        )
        if reason is None:
            return None
        # Logged at INFO (rate-limited) with the deciding header's name, never its value.
        error = with_details(CrossOriginRequest(), header=reason)
        log_rejection(error)
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(trusted_origins={sorted(self.trusted)!r}, public_url={self.public_url!r})"
