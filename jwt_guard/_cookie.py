"""Access tokens in an httpOnly cookie: reading it from requests, writing it into responses.

Reading (:class:`CookieAuth`, used by :class:`~jwt_guard._guard.Guard`): the
``Authorization`` header (or an allowed query token) wins; otherwise the
named cookie is the credential (``Credentials.source == "cookie"``). A
request with an unsafe method that carries the cookie must pass the
cross-origin check of :mod:`jwt_guard._csrf` first, whatever else it
carries: a header never switches the check off, so no route can be reached
with the cookie from another site's page, even one that reads the cookie
on its own. An empty cookie counts as absent; the cookie sent twice (a
sibling subdomain can add one for the parent domain, RFC 6265 §8.6) or a
value that is not a token is ``invalid_request``.

Writing (:func:`set_cookie_header`, :func:`clear_cookie_header`): the
``Set-Cookie`` values the adapters' ``set_token_cookie`` and
``clear_token_cookie`` helpers add to a response — ``HttpOnly`` (page
scripts cannot read the token), ``Secure`` except for plain http on a
loopback host, ``SameSite=Lax`` by default, ``Path`` and a ``Max-Age`` that
ends with the token (RFC 6265 §4.1, RFC 6265bis ``SameSite`` and the
``__Host-``/``__Secure-`` prefixes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from jwt_guard._config import is_loopback_host
from jwt_guard._csrf import SAFE_METHODS, CrossOriginCheck
from jwt_guard._origin import PublicURL
from jwt_guard._request import Credentials
from jwt_guard._token import b64url_decode, decode_json_object
from jwt_guard.errors import ConfigurationError, CrossOriginRequest, InvalidRequest

if TYPE_CHECKING:
    from jwt_guard._request import Request

__all__ = [
    "SAME_SITE",
    "CookieAuth",
    "check_cookie_name",
    "clear_cookie_header",
    "cookie_max_age",
    "cookie_values",
    "handshake_method",
    "itself",
    "secure_by_default",
    "set_cookie_header",
    "token_cookie",
    "token_cookie_removal",
]

# RFC 6265 §4.1.1: cookie-name is an RFC 2616 token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 6265 §4.1.1 cookie-octet; and what Path and Domain attribute values may hold.
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_ATTRIBUTE_VALUE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
#: Accepted ``same_site`` values and how they are sent.
SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
# Cookie values longer than this are read but not memoised (a JWT is well below).
_MEMO_MAX_VALUE = 16 * 1024
_WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})
_NOTHING = object()


def itself(request: Request) -> Request:
    """The *make_request* of :meth:`CookieAuth.credentials` for a caller that has the Request."""
    return request


def handshake_method(request: Request) -> str | None:
    """*request*'s method for :meth:`CookieAuth.credentials`: ``None`` for a
    WebSocket handshake, which is checked like an unsafe request."""
    return None if request.scheme in _WEBSOCKET_SCHEMES else request.method


def check_cookie_name(name: object) -> str:
    """*name* if it can name a cookie (an RFC 6265 token); else :class:`ConfigurationError`."""
    if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name):
        raise ConfigurationError(f"cookie must be a cookie name (letters, digits and !#$%&'*+-.^_`|~), got {name!r}")
    return name


def cookie_values(raw: Sequence[str | bytes], name: str) -> list[str]:
    """Every non-empty value of the cookie *name* in the ``Cookie`` header
    values *raw* (RFC 6265 §5.4: ``name=value`` pairs separated by ``;``),
    in order, a value in double quotes unquoted (§4.1.1)."""
    found: list[str] = []
    for value in raw:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if name not in text:
            continue
        for pair in text.split(";"):
            key, sep, content = pair.partition("=")
            if sep and key.strip(" \t") == name:
                content = content.strip(" \t")
                if len(content) >= 2 and content[0] == content[-1] == '"':
                    content = content[1:-1]
                if content:
                    found.append(content)
    return found


class CookieAuth:
    """The token cookie of a :class:`~jwt_guard._guard.Guard`: which
    credentials a request carries once the header has been read, and the
    cross-origin check.

    :param name: the cookie's name.
    :param token_ok: tells a well-formed token (the Guard's token68 rule).
    :param trusted_origins: see :class:`~jwt_guard._csrf.CrossOriginCheck`.
    :param public_url: likewise.
    """

    __slots__ = ("_token_ok", "check", "last", "name")

    def __init__(
        self,
        name: str,
        token_ok: Callable[[str], bool],
        *,
        trusted_origins: Iterable[str] = (),
        public_url: PublicURL | None = None,
    ) -> None:
        self.name = check_cookie_name(name)
        self.check = CrossOriginCheck(trusted_origins, public_url)
        self._token_ok = token_ok
        #: The Cookie header value seen last, this cookie's values in it and
        #: their credentials: a browser repeats the same header, so its next
        #: request costs a comparison (the Guard reads it on its fast path).
        self.last: tuple[object, tuple[str, ...], Credentials | None] = (_NOTHING, (), None)

    def _read(self, raw: Sequence[str | bytes]) -> tuple[tuple[str, ...], Credentials | None]:
        """(this cookie's values, its credentials when exactly one well-formed value)."""
        key = raw[0] if len(raw) == 1 else _NOTHING
        last = self.last
        return (last[1], last[2]) if last[0] == key else self._parse(raw, key)

    def _parse(self, raw: Sequence[str | bytes], key: object) -> tuple[tuple[str, ...], Credentials | None]:
        values = tuple(cookie_values(raw, self.name))
        found = Credentials("Bearer", values[0], "cookie") if len(values) == 1 and self._token_ok(values[0]) else None
        if key is not _NOTHING and len(key) <= _MEMO_MAX_VALUE:  # type: ignore[arg-type]
            self.last = (key, values, found)
        return values, found

    def credentials(
        self,
        found: Credentials | None,
        raw: Sequence[str | bytes],
        method: str | None,
        make_request: Callable[[Any], Request],
        source: Any,
    ) -> Credentials | None:
        """A request's credentials, given *found* from its header or query:
        those when present, else the cookie's (``None`` without one).

        :param raw: the request's ``Cookie`` header values.
        :param method: its method (``None`` for a WebSocket handshake).
        :param make_request: ``make_request(source)`` gives the whole
            request, for the cross-origin check: called only for an unsafe
            request carrying the cookie (a Request costs more to make than
            the rest of this method).

        Raises :class:`~jwt_guard.errors.CrossOriginRequest` for an unsafe
        request carrying the cookie that fails the cross-origin check, and
        :class:`~jwt_guard.errors.InvalidRequest` for a cookie that would be
        the credential but is duplicated or malformed.
        """
        unsafe = method not in SAFE_METHODS
        if (found is not None and not unsafe) or not raw:
            return found  # the header wins; nothing to check for a safe method
        values, cookie = self._read(raw)
        if not values:
            return found
        if unsafe:
            refusal = self.check.refusal(make_request(source))
            if refusal is not None:
                raise refusal
        if found is not None:
            return found
        if cookie is None:
            if len(values) > 1:
                raise InvalidRequest("the access token cookie was sent more than once")
            raise InvalidRequest("the access token cookie is malformed")
        return cookie

    def refusal(self, request: Request) -> CrossOriginRequest | None:
        """The cross-origin check alone, for a request that is not
        authenticated (an excluded path): refuses an unsafe request carrying
        the cookie from another origin, since the application might read it."""
        if handshake_method(request) in SAFE_METHODS:
            return None
        raw = request.raw_header_values("cookie")
        if not raw or not self._read(raw)[0]:
            return None
        return self.check.refusal(request)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.check!r})"


# -- Set-Cookie ---------------------------------------------------------------------


def secure_by_default(scheme: str, host: str) -> bool:
    """Whether a cookie set in answer to a request to *scheme*://*host* is
    ``Secure``: always, except for plain http on a loopback host (local
    development, where a ``Secure`` cookie would not come back)."""
    if scheme not in ("http", "ws"):
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return not is_loopback_host(name)


def cookie_max_age(token: str, expires_in: float | None, now: float | None = None) -> int | None:
    """Seconds the cookie should live: *expires_in* (a token endpoint's
    ``expires_in``) when given, else until the JWT's ``exp`` (read, not
    verified: it only sets the cookie's lifetime), else ``None`` (a session
    cookie). Never negative."""
    if expires_in is not None:
        return max(0, int(expires_in))
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 64 * 1024:
        return None
    try:
        claims = decode_json_object(b64url_decode(parts[1].encode("ascii")))
    except (ValueError, UnicodeEncodeError):
        return None
    exp = None if claims is None else claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        return None
    current = time.time() if now is None else now
    return max(0, int(exp - current))


def _attributes(
    name: str, *, secure: bool, same_site: str, path: str, domain: str | None, http_only: bool = True
) -> list[str]:
    check_cookie_name(name)
    site = SAME_SITE.get(same_site.lower()) if isinstance(same_site, str) else None
    if site is None:
        raise ValueError(f"same_site must be 'lax', 'strict' or 'none', not {same_site!r}")
    if site == "None" and not secure:
        raise ValueError("same_site='none' needs a Secure cookie (browsers refuse it otherwise)")
    if not isinstance(path, str) or not path.startswith("/") or not _ATTRIBUTE_VALUE.fullmatch(path):
        raise ValueError(f"path must be an absolute path without ';' or control characters, not {path!r}")
    if domain is not None and (not isinstance(domain, str) or not domain or not _ATTRIBUTE_VALUE.fullmatch(domain)):
        raise ValueError(f"domain must be a host name, not {domain!r}")
    # RFC 6265bis §4.1.3: browsers drop prefixed cookies that break the prefix's rules.
    if name.startswith("__Host-") and (not secure or path != "/" or domain is not None):
        raise ValueError("a __Host- cookie must be Secure, with path '/' and no domain")
    if name.startswith("__Secure-") and not secure:
        raise ValueError("a __Secure- cookie must be Secure")
    attributes = [f"Path={path}"]
    if domain is not None:
        attributes.append(f"Domain={domain}")
    if secure:
        attributes.append("Secure")
    if http_only:
        attributes.append("HttpOnly")
    attributes.append(f"SameSite={site}")
    return attributes


def set_cookie_header(
    name: str,
    token: str,
    *,
    max_age: int | None,
    secure: bool,
    same_site: str = "lax",
    path: str = "/",
    domain: str | None = None,
) -> str:
    """The ``Set-Cookie`` value storing *token* in the cookie *name*.

    ``ValueError`` for a token a cookie cannot carry, an unknown *same_site*,
    ``SameSite=None`` without *secure*, or a ``__Host-``/``__Secure-`` name
    whose rules the other arguments break.
    """
    if not isinstance(token, str) or not token or not _COOKIE_VALUE.fullmatch(token):
        raise ValueError("the token cannot be a cookie value (RFC 6265 §4.1.1 cookie-octets only)")
    attributes = _attributes(name, secure=secure, same_site=same_site, path=path, domain=domain)
    if max_age is not None:
        attributes.insert(0, f"Max-Age={max(0, int(max_age))}")
    return "; ".join([f"{name}={token}", *attributes])


def clear_cookie_header(
    name: str, *, secure: bool, same_site: str = "lax", path: str = "/", domain: str | None = None
) -> str:
    """The ``Set-Cookie`` value that removes the cookie *name* (same
    *path* and *domain* as when it was set, or the browser keeps it)."""
    attributes = _attributes(name, secure=secure, same_site=same_site, path=path, domain=domain)
    return "; ".join([f"{name}=", "Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT", *attributes])


def _secure(secure: bool | None, request: Request | None, name: str) -> bool:
    if secure is not None:
        return bool(secure)
    if name.startswith(("__Host-", "__Secure-")) or request is None:
        return True
    return secure_by_default(request.scheme, request.host)


def token_cookie(
    token: str,
    *,
    name: str,
    request: Request | None,
    expires_in: float | None = None,
    secure: bool | None = None,
    same_site: str = "lax",
    path: str = "/",
    domain: str | None = None,
) -> str:
    """The ``Set-Cookie`` value of the adapters' ``set_token_cookie``:
    :func:`set_cookie_header` with ``Max-Age`` from :func:`cookie_max_age`
    and, when *secure* is ``None``, ``Secure`` unless *request* (the request
    being answered) is plain http to a loopback host."""
    return set_cookie_header(
        name,
        token,
        max_age=cookie_max_age(token, expires_in),
        secure=_secure(secure, request, name),
        same_site=same_site,
        path=path,
        domain=domain,
    )


def token_cookie_removal(
    *,
    name: str,
    request: Request | None,
    secure: bool | None = None,
    same_site: str = "lax",
    path: str = "/",
    domain: str | None = None,
) -> str:
    """The ``Set-Cookie`` value of the adapters' ``clear_token_cookie``
    (:func:`clear_cookie_header`, ``Secure`` decided as in :func:`token_cookie`)."""
    return clear_cookie_header(
        name, secure=_secure(secure, request, name), same_site=same_site, path=path, domain=domain
    )
