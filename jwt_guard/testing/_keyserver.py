"""The HTTP face of an issuer: discovery, JWKS, a token endpoint, switchable
faults and a request log. Transport-agnostic: both :func:`mock_transport`
(in-process ``httpx.MockTransport``) and :class:`LocalServer` (a real server
on 127.0.0.1) answer through it.

The issuer is described by :class:`PublishedIssuer`, which
:class:`~jwt_guard.testing.LocalIssuer` satisfies: this module never imports
the issuer, so the issuer can offer ``key_server()`` and friends with their
real types.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote_plus, urlsplit

__all__ = ["FAULTS", "Endpoint", "KeyServer", "PublishedIssuer", "Recorded", "Reply", "json_reply"]


class PublishedIssuer(Protocol):
    """What a :class:`KeyServer` publishes: an issuer's URL, its documents and
    its tokens. :class:`~jwt_guard.testing.LocalIssuer` is one."""

    #: The issuer URL (``iss``); :class:`LocalServer` rewrites its address.
    issuer: str
    #: The audience of tokens requested without one.
    audience: str
    #: Lifetime of minted tokens, in seconds.
    token_lifetime: int
    #: Epoch seconds (``Last-Modified`` of the JWKS follows it).
    clock: Callable[[], float]

    def jwks(self) -> dict[str, Any]:
        """The JWK Set document."""
        ...

    def discovery(self, *, jwks_uri: str | None = None) -> dict[str, Any]:
        """The OpenID Connect discovery document."""
        ...

    def token(self, **claims: Any) -> str:
        """A signed access token (``scope``, ``sub``, ``aud`` and any claim)."""
        ...


class Endpoint(Protocol):
    """An extra POST endpoint a key server routes to (the introspection
    endpoint of :mod:`jwt_guard.testing._introspection`)."""

    @property
    def url(self) -> str:
        """Its absolute URL, advertised in discovery."""
        ...

    def matches(self, path: str) -> bool: ...

    def __call__(self, headers: Mapping[str, str], body: bytes) -> Reply: ...


#: Faults a key server can be switched to (``KeyServer.set_fault``).
FAULTS = (
    "status",  # answer with ``status`` (default 500)
    "invalid_json",  # 200 with a body that is not JSON
    "not_jwks",  # 200 with JSON that is not a JWK Set
    "empty_keys",  # 200 with {"keys": []}
    "huge",  # 200 with a 5 MiB body, streamed without Content-Length
    "huge_declared",  # 200 with a 5 MiB body announced by Content-Length
    "slow_drip",  # 200, one byte every ``delay`` seconds
    "header_drip",  # the status line and headers, one byte every ``delay`` seconds, without end
    "hang",  # accept, never answer (until the server stops)
    "refuse",  # connection refused / connect error
    "redirect",  # 302 to ``moved_path``, which serves the JWKS
    "redirect_loop",  # 302 to itself
    "redirect_http",  # 302 to a plain-http, non-loopback URL (never routed)
    "issuer_mismatch",  # discovery names another issuer
)


@dataclass(frozen=True)
class Recorded:
    """One request the key server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    at: float


@dataclass
class Reply:
    """What to answer: a status, headers, and a body or a (slow) stream.

    ``action`` names faults that a transport without real time or sockets
    must emulate: ``"hang"``, ``"refuse"``, ``"drip"`` (a slow ``stream``
    that a real server sends as it comes) and ``"header_drip"`` (a
    ``stream`` of the raw status line and headers, never finished).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    action: str | None = None


_HUGE = 5 * 1024 * 1024


def _basic_client_id(headers: Mapping[str, str]) -> str | None:
    """The client id of ``Authorization: Basic`` client authentication
    (RFC 6749 §2.3.1); the secret is not checked by a development issuer."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id = unquote_plus(decoded.partition(":")[0])
    return client_id or None


def json_reply(document: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    body = json.dumps(document).encode()
    return Reply(status, {"content-type": "application/json", **(headers or {})}, body)


class KeyServer:
    """Serves an issuer's documents, with faults and counters for tests.

    :param issuer: the issuer whose documents are published (a
        :class:`~jwt_guard.testing.LocalIssuer`).
    :param max_age: ``Cache-Control: max-age`` on the JWKS (``None``: no header).
    :param jwks_path: where the JWKS lives.
    :param token_endpoint: serve ``POST /oauth/token`` (client_credentials).
    :param jwks_uri: the ``jwks_uri`` discovery advertises (default: this
        server's ``jwks_path`` on the issuer's host).
    :param etag: send an ``ETag`` with the JWKS and honour ``If-None-Match``.
    :param last_modified: send ``Last-Modified`` (the issuer clock's time
        when the JWKS took its current value) and honour ``If-Modified-Since``
        when no ``If-None-Match`` is sent (RFC 9110 §13.2.2).
    :param introspection: serve this introspection endpoint (an
        :class:`~jwt_guard.testing.IntrospectionEndpoint`) and advertise it
        as ``introspection_endpoint`` in discovery; faults can target it.
    """

    #: Where the ``redirect`` fault points; serves the JWKS without faults.
    moved_path = "/moved/jwks.json"

    def __init__(
        self,
        issuer: PublishedIssuer,
        *,
        max_age: int | None = 600,
        jwks_path: str = "/.well-known/jwks.json",
        token_endpoint: bool = True,
        discovery: str = "oidc",
        jwks_uri: str | None = None,
        etag: bool = True,
        last_modified: bool = True,
        introspection: Endpoint | None = None,
    ) -> None:
        if discovery not in ("oidc", "rfc8414", "both"):
            raise ValueError("discovery must be 'oidc', 'rfc8414' or 'both'")
        self.issuer = issuer
        self.discovery = discovery
        self.max_age = max_age
        self.jwks_path = jwks_path
        self.token_endpoint = token_endpoint
        self.advertised_jwks_uri = jwks_uri
        self.etag = etag
        self.last_modified = last_modified
        self.introspection = introspection
        self._body_since: tuple[bytes, float] | None = None
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._fault: str | None = None
        self._fault_target = "jwks"
        self._fault_status = 500
        self._fault_delay = 0.5
        #: Set when the server stops: hanging and dripping replies end.
        self.stopping = threading.Event()
        #: Extra handlers ``(method, url, headers, body) -> Reply | None``,
        #: consulted in order before the built-in routes (faults still apply
        #: first); ``None`` passes the request on.
        self.routes: list[Callable[[str, str, Mapping[str, str], bytes], Reply | None]] = []

    # -- control -------------------------------------------------------

    def set_fault(self, fault: str | None, *, target: str = "jwks", status: int = 500, delay: float = 0.5) -> None:
        """Switch to *fault* (one of :data:`FAULTS`) for *target*
        (``"jwks"``, ``"discovery"``, ``"introspection"`` or ``"any"``); ``None`` heals."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
        if target not in ("jwks", "discovery", "introspection", "any"):
            raise ValueError("target must be 'jwks', 'discovery', 'introspection' or 'any'")
        with self._lock:
            self._fault = fault
            self._fault_target = target
            self._fault_status = status
            self._fault_delay = delay

    def heal(self) -> None:
        """Clear any fault."""
        self.set_fault(None)

    @property
    def fault(self) -> str | None:
        return self._fault

    def count(self, path: str | None = None) -> int:
        """Requests received (for *path* only, if given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    @property
    def jwks_requests(self) -> int:
        return self.count(self.jwks_path)

    @property
    def discovery_path(self) -> str:
        base = urlsplit(self.issuer.issuer).path.rstrip("/")
        return f"{base}/.well-known/openid-configuration"

    @property
    def rfc8414_path(self) -> str:
        base = urlsplit(self.issuer.issuer).path.rstrip("/")
        return f"/.well-known/oauth-authorization-server{base}"

    @property
    def discovery_requests(self) -> int:
        return self.count(self.discovery_path) + self.count(self.rfc8414_path)

    def _serves_discovery(self, path: str) -> bool:
        if path == self.discovery_path:
            return self.discovery in ("oidc", "both")
        if path == self.rfc8414_path:
            return self.discovery in ("rfc8414", "both")
        return False

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- answering -----------------------------------------------------

    def jwks_body(self) -> bytes:
        return json.dumps(self.issuer.jwks(), sort_keys=True).encode()

    def _target_of(self, path: str) -> str | None:
        if path == self.jwks_path:
            return "jwks"
        if self.introspection is not None and self.introspection.matches(path):
            return "introspection"
        if path.endswith("/.well-known/openid-configuration") or "/.well-known/oauth-authorization-server" in path:
            return "discovery"
        return None

    def respond(self, method: str, url: str, headers: Mapping[str, str], body: bytes = b"") -> Reply:
        """The reply to one request (*url* may be a path or absolute)."""
        parts = urlsplit(url)
        path = parts.path or "/"
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.requests.append(Recorded(method, path, lowered, time.time()))
            fault, target, status, delay = self._fault, self._fault_target, self._fault_status, self._fault_delay
        kind = self._target_of(path)
        if fault is not None and kind is not None and target in ("any", kind):
            reply = self._faulty(fault, kind, path, status, delay)
            if reply is not None:
                return reply
        for route in self.routes:
            routed = route(method, url, lowered, body)
            if routed is not None:
                return routed
        if method == "GET" and kind == "discovery" and self._serves_discovery(path):
            base = urlsplit(self.issuer.issuer)
            jwks_uri = self.advertised_jwks_uri or f"{base.scheme}://{base.netloc}{self.jwks_path}"
            document = self.issuer.discovery(jwks_uri=jwks_uri)
            if self.introspection is not None:
                document["introspection_endpoint"] = self.introspection.url
            return json_reply(document, headers={"cache-control": "max-age=3600"})
        if method == "GET" and (kind == "jwks" or path == self.moved_path):
            return self._jwks(lowered)
        if method == "POST" and kind == "introspection" and self.introspection is not None:
            return self.introspection(lowered, body)
        if method == "POST" and self.token_endpoint and path.endswith("/oauth/token"):
            return self._token(lowered, body)
        return json_reply({"error": "not_found"}, status=404)

    def _dpop_binding(self, headers: Mapping[str, str], form: Mapping[str, str]) -> str | Reply | None:
        """The key thumbprint a token request binds its token to (RFC 9449
        §5, §10): the key of its ``DPoP`` proof (for ``POST`` to this token
        endpoint), else a ``dpop_jkt`` parameter; an error :class:`Reply` for
        a bad proof, or a ``dpop_jkt`` naming another key."""
        from jwt_guard._dpop import DPoPOptions, verify_proof
        from jwt_guard._dpop_errors import InvalidDPoPProof

        requested = form.get("dpop_jkt") or None
        proof = headers.get("dpop")
        if proof is None:
            return requested
        url = self.issuer.discovery()["token_endpoint"]
        try:
            checked = verify_proof(
                proof, method="POST", url=url, options=DPoPOptions(), now=self.issuer.clock(), leeway=60
            )
        except InvalidDPoPProof as exc:
            return json_reply({"error": "invalid_dpop_proof", "error_description": exc.description}, status=400)
        if requested is not None and requested != checked.thumbprint:
            # §10.1: both given, they must name the same key.
            return json_reply({"error": "invalid_dpop_proof", "error_description": "dpop_jkt names another key"}, 400)
        return checked.thumbprint

    def _changed_at(self, body: bytes) -> float:
        digest = hashlib.sha256(body).digest()
        with self._lock:
            if self._body_since is None or self._body_since[0] != digest:
                self._body_since = (digest, float(int(self.issuer.clock())))
            return self._body_since[1]

    def _jwks(self, headers: Mapping[str, str]) -> Reply:
        body = self.jwks_body()
        reply_headers = {"content-type": "application/json"}
        if self.max_age is not None:
            reply_headers["cache-control"] = f"public, max-age={self.max_age}"
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        changed_at = self._changed_at(body)
        if self.etag:
            reply_headers["etag"] = etag
        if self.last_modified:
            reply_headers["last-modified"] = formatdate(changed_at, usegmt=True)
        # RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
        if self.etag and "if-none-match" in headers:
            if headers["if-none-match"] == etag:
                return Reply(304, reply_headers)
        elif self.last_modified and "if-modified-since" in headers:
            try:
                since = parsedate_to_datetime(headers["if-modified-since"]).timestamp()
            except (TypeError, ValueError):
                since = None
            if since is not None and changed_at <= since:
                return Reply(304, reply_headers)
        return Reply(200, reply_headers, body)

    def _faulty(self, fault: str, kind: str, path: str, status: int, delay: float) -> Reply | None:
        if fault == "status":
            return json_reply({"error": "fault"}, status=status)
        if fault == "invalid_json":
            return Reply(200, {"content-type": "application/json"}, b"{not json")
        if fault == "not_jwks":
            return json_reply({"hello": "world"} if kind == "jwks" else ["not", "an", "object"])
        if fault == "empty_keys":
            return json_reply({"keys": []})
        if fault == "huge":
            return Reply(200, {"content-type": "application/json"}, stream=self._huge())
        if fault == "huge_declared":
            return Reply(200, {"content-type": "application/json"}, b" " * _HUGE)
        if fault == "slow_drip":
            return Reply(200, {"content-type": "application/json"}, stream=self._drip(delay), action="drip")
        if fault == "header_drip":
            return Reply(stream=self._header_drip(delay), action="header_drip")
        if fault == "hang":
            return Reply(action="hang")
        if fault == "refuse":
            return Reply(action="refuse")
        if fault == "redirect":
            return Reply(302, {"location": self.moved_path})
        if fault == "redirect_loop":
            return Reply(302, {"location": path})
        if fault == "redirect_http":
            # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed, no DNS lookup.
            return Reply(302, {"location": "http://192.0.2.1/jwks.json"})
        if fault == "issuer_mismatch" and kind == "discovery":
            document = self.issuer.discovery()
            document["issuer"] = "https://impostor.example.net/"
            return json_reply(document)
        return None

    def _huge(self) -> Iterator[bytes]:
        chunk = b" " * (64 * 1024)
        for _ in range(_HUGE // len(chunk)):
            if self.stopping.is_set():
                return
            yield chunk

    def _drip(self, delay: float) -> Iterator[bytes]:
        body = self.jwks_body()
        for index in range(len(body)):
            if self.stopping.wait(delay):
                return
            yield body[index : index + 1]

    def _header_drip(self, delay: float) -> Iterator[bytes]:
        # Each byte arrives well within any read timeout, so only a deadline
        # on the whole exchange ends it. Far below an HTTP client's header
        # size limit even after minutes.
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-drip: "
        index = 0
        while not self.stopping.wait(delay):
            yield head[index : index + 1] if index < len(head) else b"a"
            index += 1

    def _token(self, headers: Mapping[str, str], body: bytes) -> Reply:
        # A development token endpoint (RFC 6749 §4.4, client credentials).
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return json_reply({"error": "unsupported_grant_type"}, status=400)
        scope = form.get("scope", "")
        audience = form.get("audience") or self.issuer.audience
        client_id = form.get("client_id") or _basic_client_id(headers) or "dev-client"
        # ``sub`` is a development extension (no real authorization server
        # takes it): it lets ``jwt-guard token --sub`` mint user-like tokens.
        subject = form.get("sub") or client_id
        lifetime = self.issuer.token_lifetime
        binding = self._dpop_binding(headers, form)
        if isinstance(binding, Reply):
            return binding
        claims: dict[str, Any] = {"cnf": {"jkt": binding}} if binding else {}
        token = self.issuer.token(scope=scope or None, aud=audience, sub=subject, client_id=client_id, **claims)
        document = {"access_token": token, "token_type": "DPoP" if binding else "Bearer", "expires_in": lifetime}
        if scope:
            document["scope"] = scope
        return json_reply(document, headers={"cache-control": "no-store"})
