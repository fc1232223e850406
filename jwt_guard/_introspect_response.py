"""Judging introspection answers (RFC 7662 §2.2, RFC 9701). Pure: time is an
argument, and the signature of a signed answer is checked by the caller.

Two kinds of problem, kept apart:

* the *authorization server* failed (an error status, garbage, a signed
  answer that does not verify): :func:`classify` returns a
  :class:`~jwt_guard._wire.Failure` and the request gets 503, never 401;
* the *token* is not acceptable (inactive, wrong issuer or audience,
  expired, a refresh token, a sender-constrained token sent as a bearer
  token): :meth:`AnswerRules.check` raises an
  :class:`~jwt_guard.InvalidToken` subclass and the request gets 401.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from jwt_guard._claims import ClaimRules, extract_scopes
from jwt_guard._config import Settings
from jwt_guard._dpop_flow import SENDER_CONSTRAINED
from jwt_guard._introspection import InactiveToken
from jwt_guard._token import decode_json_object
from jwt_guard._wire import Failure, Reply
from jwt_guard.errors import InvalidClaim, InvalidIssuer, InvalidToken, InvalidTokenType

__all__ = ["JWT_MEDIA_TYPE", "Answer", "AnswerRules", "ServerFailure", "SignedAnswerRules", "classify"]

#: RFC 9701 §4: the media type of a signed introspection answer.
JWT_MEDIA_TYPE = "application/token-introspection+jwt"
#: Ask for a signed answer first; a server that has none sends JSON.
ACCEPT = f"{JWT_MEDIA_TYPE}, application/json;q=0.9"

# RFC 6749 §7.1 / RFC 9449 §6.2 token types a bearer request may carry.
_BEARER_TYPES = frozenset({"bearer", "access_token"})
_MAX_RETRY_HINT = 3600.0


@dataclass(frozen=True)
class ServerFailure(Failure):
    """A failure of the authorization server; ``retry_after`` is its own
    ``Retry-After`` (seconds) when it sent one, and ``credentials`` marks a
    refusal of this API's client credentials."""

    retry_after: float | None = None
    credentials: bool = False


@dataclass(frozen=True)
class Answer:
    """A 200 answer: a JSON ``document``, or a signed answer ``jws`` (RFC 9701)."""

    document: dict[str, Any] | None
    jws: str | None
    size: int


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return min(float(value), _MAX_RETRY_HINT)
    return None


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


def classify(reply: Reply, *, require_signed: bool) -> Answer | Failure:
    """Sort the endpoint's *reply* into an :class:`Answer` or a failure."""
    if isinstance(reply, Failure):
        return reply
    status = reply.status
    if status == 200:
        if _media_type(reply.headers) == JWT_MEDIA_TYPE:
            try:
                return Answer(None, reply.body.strip().decode("ascii"), len(reply.body))
            except UnicodeDecodeError:
                return ServerFailure("invalid_jwt", "the signed introspection answer is not a JWT")
        if require_signed:
            return ServerFailure("unsigned", "the introspection answer is not signed")
        document = decode_json_object(reply.body)
        if document is None:
            return ServerFailure("invalid_json", "the introspection answer is not a JSON object")
        return Answer(document, None, len(reply.body))
    credentials = status in (401, 403)
    if status == 400:
        # RFC 6749 §5.2: a refused client may also be told with 400.
        error = decode_json_object(reply.body) or {}
        credentials = error.get("error") in ("invalid_client", "unauthorized_client")
    if credentials:
        return ServerFailure(
            "client_auth",
            "the introspection endpoint refused this API's client credentials",
            credentials=True,
        )
    # A fixed phrase: it reaches 503 bodies; the status goes to the logs.
    return ServerFailure(
        "http_status",
        "the introspection endpoint answered with an error status",
        f"HTTP {status}",
        retry_after=_retry_after(reply.headers) if status in (429, 503) else None,
    )


def check_binding(claims: Mapping[str, Any]) -> None:
    """Refuse answers about tokens that cannot be accepted whatever the proof.

    RFC 9449 §6.2: a DPoP-bound token is introspected with ``token_type``
    ``DPoP`` and its key's thumbprint in ``cnf.jkt``. Such an answer passes
    here and is cached like any other; the proof is checked on every request
    after the cache (:mod:`jwt_guard._dpop_flow`), which accepts the token
    only with a valid proof by the ``cnf.jkt`` key and refuses it as a
    bearer token. A ``DPoP`` type without a ``cnf.jkt`` names no key to
    check a proof against, and other confirmations (RFC 8705 ``x5t#S256``)
    cannot be proven here at all: both are refused.
    """
    token_type = claims.get("token_type")
    dpop = False
    if token_type is not None:
        if not isinstance(token_type, str):
            raise InvalidTokenType()
        lowered = token_type.lower()
        dpop = lowered == "dpop"
        if not dpop and lowered not in _BEARER_TYPES:
            # refresh_token above all (RFC 7009 §2.1 type hints), and any
            # type that is not an access token.
            raise InvalidTokenType()
    # ORY Hydra tells access and refresh tokens apart with token_use.
    use = claims.get("token_use")
    if use is not None and use != "access_token":
        raise InvalidTokenType()
    cnf = claims.get("cnf")
    if cnf is not None and not isinstance(cnf, dict):
        raise InvalidClaim("the cnf member must be a JSON object")
    jkt = cnf.get("jkt") if cnf else None
    if dpop and not (isinstance(jkt, str) and jkt):
        raise InvalidTokenType("the DPoP-bound access token names no key (cnf.jkt)")
    if cnf and (jkt is None or len(cnf) > 1):
        # x5t#S256 (RFC 8705) and the like: a proof this API cannot check.
        raise InvalidToken(SENDER_CONSTRAINED)


class AnswerRules:
    """The checks applied to an introspection answer for tokens of *issuer*,
    with the verifier's *settings* (audience, leeway, required claims, ...)."""

    __slots__ = ("_issuer", "_leeway", "_rules", "_scope_claims", "_ttl")

    def __init__(self, settings: Settings, *, issuer: str, ttl: float) -> None:
        # RFC 7662 §2.2 makes exp optional: checked when present.
        self._rules = ClaimRules(replace(settings, require_exp=False))
        self._issuer = issuer
        self._leeway = settings.leeway
        self._scope_claims = settings.scope_claims
        self._ttl = ttl

    def check(self, document: Mapping[str, Any], now: float) -> tuple[dict[str, Any], frozenset[str], float, float]:
        """The claims, scopes and cache window (not_before, until) of an
        acceptable answer; raises an :class:`~jwt_guard.InvalidToken` otherwise."""
        if document.get("active") is not True:
            # RFC 7662 §2.2: only the JSON literal true means active.
            raise InactiveToken()
        claims = {name: value for name, value in document.items() if name != "active"}
        iss = claims.setdefault("iss", self._issuer)
        if iss != self._issuer:
            # §4: an answer about another issuer's token is no answer for us.
            raise InvalidIssuer()
        check_binding(claims)
        not_before, not_after = self._rules.check(claims, now)
        scopes = extract_scopes(claims, self._scope_claims)
        # Cache no longer than the token lives (its exp, without the leeway
        # granted for clock skew) nor the configured TTL.
        until = min(not_after - self._leeway if not_after != math.inf else math.inf, now + self._ttl)
        return claims, scopes, not_before, until


class SignedAnswerRules:
    """RFC 9701 §5: the claims of a signed introspection answer, whose
    signature already verified with the issuer's keys."""

    __slots__ = ("_audiences", "_issuer", "_leeway")

    def __init__(self, settings: Settings, *, issuer: str, client_id: str) -> None:
        self._issuer = issuer
        # aud identifies the resource server: its client id (as most servers
        # send), or one of the audiences it answers to.
        self._audiences = frozenset((client_id, *(settings.audiences or ())))
        self._leeway = settings.leeway

    @staticmethod
    def check_type(header: Mapping[str, Any]) -> bool:
        typ = header.get("typ")
        if not isinstance(typ, str):
            return False
        return typ.lower().removeprefix("application/") == "token-introspection+jwt"

    def check(self, claims: Mapping[str, Any], now: float) -> dict[str, Any] | None:
        """The embedded answer (``token_introspection``), or ``None`` when
        the JWT is not an introspection answer meant for this API now."""
        if claims.get("iss") != self._issuer:
            return None
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(item, str) and item in self._audiences for item in audiences):
            return None
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, (int, float)) or iat - self._leeway > now:
            return None
        exp = claims.get("exp", math.inf)
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or exp + self._leeway <= now:
            return None
        document = claims.get("token_introspection")
        return document if isinstance(document, dict) else None
