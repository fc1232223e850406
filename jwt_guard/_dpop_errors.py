"""DPoP errors (RFC 9449) and the ``DPoP`` challenges that answer them.

The DPoP classes extend the tree in :mod:`jwt_guard.errors`::

    AuthError
    ├── InvalidDPoPProof        401, "invalid_dpop_proof"   (RFC 9449 §7.1, §12.2)
    │   ├── UseDPoPNonce        401, "use_dpop_nonce"  + DPoP-Nonce header (§8, §9)
    │   └── DPoPProofReplayed   401, "invalid_dpop_proof"  (jti seen before, §11.1)
    └── InvalidToken            401, "invalid_token"
        ├── InvalidDPoPBinding  the token's cnf.jkt is not the proof key (§6.1, §7.1)
        ├── DPoPTokenAsBearer   a DPoP-bound token sent with the Bearer scheme (§7.2)
        └── DPoPRequired        a plain bearer token where DPoP is required (§7.1)

Every class here answers with the ``DPoP`` authentication scheme (its
``scheme`` attribute) and, given the accepted proof algorithms, an ``algs``
parameter (§7.1). :func:`dpop_challenge` renders such a challenge from
ordered auth-params; :func:`dpop_headers` gives every header an error needs
(``WWW-Authenticate`` and, for a nonce, ``DPoP-Nonce``). An answer to a
request made with the DPoP scheme, or to any request where DPoP is
required, carries these headers in place of the ``Bearer`` challenge; where
bearer tokens are accepted too, a ``Bearer`` challenge goes alongside
(:func:`scheme_headers`).

Two challenges, two header fields: RFC 9110 §11.6.1 lets one
``WWW-Authenticate`` field carry a comma-separated list of challenges, and
§5.3 makes that the same as one field per challenge. One field per scheme is
chosen because a client can then read each challenge without the
auth-param/challenge ambiguity that commas inside a combined field bring
(§11.6.1 warns about it); where a framework can hold only one value per
header name, the two are joined with ``", "``, which means the same.

Descriptions are fixed phrases safe to send to clients: they never echo the
proof, the token or key material.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from jwt_guard._auth_syntax import challenge_value
from jwt_guard.errors import AuthError, InvalidToken

__all__ = [
    "DPoPProofReplayed",
    "DPoPRequired",
    "DPoPTokenAsBearer",
    "InvalidDPoPBinding",
    "InvalidDPoPProof",
    "UseDPoPNonce",
    "dpop_challenge",
    "dpop_headers",
    "scheme_headers",
]


def dpop_challenge(realm: str | None, params: Iterable[tuple[str, str]]) -> str:
    """Build a ``DPoP`` challenge (RFC 9449 §7.1) from ordered auth-params.

    ``dpop_challenge(None, [("algs", "ES256 PS256")])`` gives
    ``DPoP algs="ES256 PS256"``. Quoting and the RFC 6750 §3 character
    rules (which RFC 9449 §7.1 builds on) are those of every challenge.
    """
    return challenge_value("DPoP", realm, params)


class _DPoPChallenge(AuthError):
    """Mixin: the challenge uses the DPoP scheme and lists ``algs``."""

    #: The authentication scheme of the challenge answering this error.
    scheme = "DPoP"

    def __init__(self, description: str | None = None, *, algorithms: Sequence[str] = ()) -> None:
        #: Proof algorithms the server accepts, for the ``algs`` parameter.
        self.algorithms: tuple[str, ...] = tuple(algorithms)
        super().__init__(description)

    def challenge_params(self) -> list[tuple[str, str]]:
        params = super().challenge_params()
        if self.algorithms:
            params.append(("algs", " ".join(self.algorithms)))
        return params

    def response_headers(self) -> list[tuple[str, str]]:
        """Headers besides ``WWW-Authenticate`` that the answer carries."""
        return []

    def www_authenticate(self, realm: str | None = None) -> str:
        return dpop_challenge(realm, self.challenge_params())


class InvalidDPoPProof(_DPoPChallenge):
    """The DPoP proof is missing, malformed, or fails a check (RFC 9449 §4.3)."""

    status_code = 401
    error = "invalid_dpop_proof"
    description = "the DPoP proof is invalid"


class UseDPoPNonce(InvalidDPoPProof):
    """The proof lacks the server nonce, or carries a stale one (RFC 9449 §9).

    The answer carries a fresh nonce in the ``DPoP-Nonce`` header; the client
    retries with it.
    """

    error = "use_dpop_nonce"
    description = "the DPoP proof must carry the current server nonce"

    def __init__(self, nonce: str, description: str | None = None, *, algorithms: Sequence[str] = ()) -> None:
        #: The nonce the client should put in its next proof.
        self.nonce = nonce
        super().__init__(description, algorithms=algorithms)

    def response_headers(self) -> list[tuple[str, str]]:
        return [("dpop-nonce", self.nonce)]


class DPoPProofReplayed(InvalidDPoPProof):
    """The proof's ``jti`` was already used with this key (RFC 9449 §11.1)."""

    description = "the DPoP proof has already been used"


class InvalidDPoPBinding(_DPoPChallenge, InvalidToken):
    """The access token is not bound to the key that signed the proof.

    RFC 9449 §7.1 answers a binding failure with ``invalid_token``: the
    token, not the proof, is wrong for this request.
    """

    description = "the access token is not bound to the DPoP proof key"


class DPoPTokenAsBearer(_DPoPChallenge, InvalidToken):
    """A DPoP-bound token (it has ``cnf.jkt``) came with the Bearer scheme.

    RFC 9449 §7.2: such a token is only good together with a proof.
    """

    description = "the access token is bound to a key and must be sent with a DPoP proof"


class DPoPRequired(_DPoPChallenge, InvalidToken):
    """A plain bearer token came where DPoP is required
    (``DPoPOptions(required=True)``): every request needs a DPoP-bound token
    and a proof."""

    description = "this API accepts only DPoP-bound access tokens, sent with a DPoP proof"


def dpop_headers(
    error: AuthError,
    realm: str | None = None,
    *,
    algorithms: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """The headers answering *error* with a ``DPoP`` challenge.

    ``WWW-Authenticate`` first, then whatever the error adds (``DPoP-Nonce``
    for :class:`UseDPoPNonce`). An error from elsewhere in the tree (an
    expired token or no token at all, under the DPoP scheme) gets its error
    code and description plus ``algs`` from *algorithms*, so that
    ``dpop_headers(MissingToken(), algorithms=["ES256"])`` challenges with
    ``DPoP algs="ES256"``.
    """
    params = error.challenge_params()
    extra: list[tuple[str, str]] = []
    if isinstance(error, _DPoPChallenge):
        extra = error.response_headers()
    if algorithms and not any(name == "algs" for name, _ in params):
        params.append(("algs", " ".join(algorithms)))
    return [("www-authenticate", dpop_challenge(realm, params)), *extra]


def scheme_headers(
    error: AuthError,
    realm: str | None,
    *,
    algorithms: Sequence[str],
    bearer: bool = True,
) -> list[tuple[str, str]]:
    """The challenge headers answering *error* where DPoP is accepted.

    The error's own challenge comes first: ``DPoP`` (with ``algs``) for the
    errors of this module, for an error of a DPoP request
    (:attr:`~jwt_guard.AuthError.scheme`) and wherever *bearer* tokens are
    not accepted; ``Bearer`` otherwise. To a 400 or 401 the other accepted
    scheme's challenge is added, without an error (RFC 9449 §7.2, RFC 6750
    §3): the client learns both ways in. A 403 names only the scheme the
    token came with, which is the one that can be answered with more
    scopes. ``DPoP-Nonce`` follows for :class:`UseDPoPNonce`.
    """
    params = error.challenge_params()
    own_dpop = isinstance(error, _DPoPChallenge) or error.scheme == "DPoP" or not bearer
    if own_dpop:
        if not any(name == "algs" for name, _ in params):
            params.append(("algs", " ".join(algorithms)))
        challenges = [dpop_challenge(realm, params)]
        if bearer and error.status_code != 403:
            challenges.append(challenge_value("Bearer", realm, ()))
    else:
        challenges = [challenge_value("Bearer", realm, params)]
        if error.status_code != 403:
            challenges.append(dpop_challenge(realm, [("algs", " ".join(algorithms))]))
    headers = [("www-authenticate", value) for value in challenges]
    if isinstance(error, _DPoPChallenge):
        headers.extend(error.response_headers())
    return headers
