"""Property-based tests: whatever arrives, only the contract's errors come out.

Four families:

* arbitrary input (text, bytes, token-shaped garbage, values that are not
  strings at all) into ``Verifier.verify`` and ``verify_async``;
* structured mutations of valid tokens (``tests.strategies.token_mutants``):
  every mutant is refused *before* any claim is judged, and only the
  unmodified token verifies;
* correctly signed tokens whose header or claims are hostile: refused with
  the right error family, or accepted only when every rule holds;
* ``Authorization`` header values through ``parse_authorization`` and
  ``Guard.credentials``: a token, ``None`` or ``InvalidRequest``, nothing else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from jwt_guard import (
    AccessToken,
    InvalidRequest,
    InvalidSignature,
    InvalidToken,
    InvalidTokenType,
    MalformedToken,
    UnknownKey,
    UnsupportedAlgorithm,
    Verifier,
)
from jwt_guard._guard import Guard, parse_authorization
from jwt_guard._request import Request
from jwt_guard.testing import FakeClock, LocalIssuer, encode_segments
from tests.conftest import AUDIENCE, ISSUER, make_issuer
from tests.strategies import (
    authorization_values,
    b64url,
    bearer_values,
    claim_sets,
    garbage_inputs,
    hostile_headers,
    token68s,
    token_mutants,
)

NOW = 1_800_000_000
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z
LEEWAY = 60
# One algorithm per key family, plus HMAC (a different verifier configuration).
FAMILIES = ("RS256", "PS384", "ES256", "ES512", "EdDSA", "HS256")
# A mutant keeps the original signature, and the verifier below has a single
# issuer, so no claim is ever read before the signature verified: every
# refusal comes from parsing, the allowlist, key selection or the signature.
PRE_CLAIM_ERRORS = (MalformedToken, UnsupportedAlgorithm, UnknownKey, InvalidSignature)
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class Setup:
    """An issuer, a token it minted and verifiers for it (cache on and off)."""

    def __init__(self, alg: str) -> None:
        self.clock = FakeClock(NOW)
        self.issuer: LocalIssuer = make_issuer(alg, clock=self.clock)
        self.token: str = self.issuer.token(scope="read write", name="Zoë")
        self.cached: Verifier = self.issuer.verifier(clock=self.clock, leeway=LEEWAY)
        self.uncached: Verifier = self.issuer.verifier(clock=self.clock, leeway=LEEWAY, result_cache_size=0)

    def close(self) -> None:
        self.cached.close()
        self.uncached.close()


@pytest.fixture(scope="module")
def setups() -> Iterator[dict[str, Setup]]:
    made = {alg: Setup(alg) for alg in FAMILIES}
    yield made
    for setup in made.values():
        setup.close()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope: hypothesis refuses function-scoped fixtures in @given tests.
    return "asyncio"


def _refusal(verifier: Verifier, value: Any) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(value)
    return caught.value


# -- arbitrary input -----------------------------------------------------------


@pytest.mark.parametrize("alg", [pytest.param("RS256", id="asymmetric"), pytest.param("HS256", id="hmac")])
@given(value=garbage_inputs())
@example(value=memoryview(bytearray(b"a.b.c")))  # writable: unhashable, and hashing raises ValueError
@example(value="A" * 9000)
@example(value=b"A" * 9000)
@example(value="eyJhbGciOiJub25lIn0.e30.")
@example(value="\ud800.\udfff.x")
def test_arbitrary_input_raises_only_invalid_token(setups, alg, value):
    """Garbage of any type is refused as an invalid token, never with another exception."""
    setup = setups[alg]
    for verifier in (setup.cached, setup.uncached):
        _refusal(verifier, value)


@pytest.mark.anyio
@given(value=garbage_inputs())
@example(value=memoryview(bytearray(b"a.b.c")))
async def test_arbitrary_input_raises_only_invalid_token_async(setups, value):
    with pytest.raises(InvalidToken):
        await setups["ES256"].cached.verify_async(value)


# -- mutations of valid tokens ---------------------------------------------------


@pytest.mark.parametrize("alg", FAMILIES)
def test_unmodified_token_verifies(setups, alg):
    """The control for the mutation properties: the original token is good."""
    setup = setups[alg]
    for verifier in (setup.cached, setup.uncached):
        for form in (setup.token, setup.token.encode("ascii")):
            token = verifier.verify(form)
            assert token.raw == setup.token
            assert token.scopes == {"read", "write"}
            assert token.claims["name"] == "Zoë"


@pytest.mark.parametrize("alg", FAMILIES)
@given(data=st.data())
def test_mutated_tokens_are_refused_before_any_claim(setups, alg, data):
    """Every structured mutation of a valid token is refused, as a str and as
    bytes alike, by parsing, the allowlist, key selection or the signature."""
    setup = setups[alg]
    mutant = data.draw(token_mutants(setup.token), label="mutant")
    event(mutant.kind.split("=")[0])
    refusal = _refusal(setup.uncached, mutant.token)
    event(type(refusal).__name__)
    assert isinstance(refusal, PRE_CLAIM_ERRORS), (mutant.kind, refusal)
    as_bytes = _refusal(setup.uncached, mutant.token.encode("utf-8", "surrogatepass"))
    assert type(as_bytes) is type(refusal), mutant.kind
    # A cached verifier that has just accepted the original says the same.
    setup.cached.verify(setup.token)
    assert type(_refusal(setup.cached, mutant.token)) is type(refusal), mutant.kind


@pytest.mark.anyio
@given(data=st.data())
async def test_mutated_tokens_are_refused_async(setups, data):
    setup = setups["EdDSA"]
    mutant = data.draw(token_mutants(setup.token), label="mutant")
    with pytest.raises(PRE_CLAIM_ERRORS):
        await setup.uncached.verify_async(mutant.token)


def test_payload_resigned_by_another_key_is_refused(setups):
    """A transplanted header and signature never vouch for a different key's token."""
    rs, es = setups["RS256"], setups["ES256"]
    header, payload, _ = rs.token.split(".")
    foreign_signature = es.token.split(".")[2]
    with pytest.raises(InvalidSignature):
        rs.uncached.verify(f"{header}.{payload}.{foreign_signature}")
    with pytest.raises(UnknownKey):  # ES256 header, but the RS256 verifier has no EC key
        rs.uncached.verify(es.token)


# -- correctly signed hostile content --------------------------------------------


def _sign(setup: Setup, header: Mapping[str, Any], claims: Mapping[str, Any] | bytes) -> str:
    signing_input = encode_segments(header, claims)
    signature = setup.issuer.signing_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def _numeric(value: Any) -> bool:
    return value.__class__ in (int, float) and math.isfinite(value)


@pytest.mark.parametrize("alg", ["EdDSA", "HS256"])
@given(data=st.data())
def test_signed_claim_sets_accepted_only_when_every_rule_holds(setups, alg, data):
    """With a good signature, a claim set is either refused as invalid or every
    registered-claim rule demonstrably holds for it."""
    setup = setups[alg]
    claims = data.draw(claim_sets(issuer=ISSUER, audience=AUDIENCE, now=NOW), label="claims")
    key = setup.issuer.signing_key
    raw = _sign(setup, {"alg": alg, "kid": key.kid, "typ": "at+jwt"}, claims)
    try:
        token = setup.uncached.verify(raw)
    except InvalidToken as refusal:
        event(f"refused: {type(refusal).__name__}")
        assert not isinstance(refusal, (UnsupportedAlgorithm, UnknownKey, InvalidSignature)), refusal
        return
    event("accepted")
    assert isinstance(token, AccessToken)
    assert dict(token.claims) == claims
    assert claims["iss"] == ISSUER
    aud = claims["aud"]
    assert aud == AUDIENCE or (isinstance(aud, list) and AUDIENCE in aud and all(isinstance(a, str) for a in aud))
    assert _numeric(claims["exp"]) and claims["exp"] + LEEWAY > NOW
    if "nbf" in claims:
        assert _numeric(claims["nbf"]) and claims["nbf"] - LEEWAY <= NOW
    if "iat" in claims:
        assert _numeric(claims["iat"]) and claims["iat"] - LEEWAY <= NOW
    for name in ("exp", "nbf", "iat"):
        assert name not in claims or 0 <= claims[name] <= MAX_NUMERIC_DATE, name
    for name in ("sub", "jti", "client_id", "azp"):
        assert claims.get(name) is None or isinstance(claims[name], str), name
    for scope in token.scopes:
        assert isinstance(scope, str) and scope and " " not in scope


@pytest.mark.parametrize("alg", ["ES256", "HS256"])
@given(data=st.data())
def test_signed_hostile_headers_refused_or_ignored(setups, alg, data):
    """Key-injection parameters (jwk, jku, x5u, x5c) are ignored; crit, b64,
    enc and typ are enforced; nothing else about the header matters."""
    setup = setups[alg]
    key = setup.issuer.signing_key
    header = data.draw(hostile_headers(alg, key.kid), label="header")
    raw = _sign(setup, header, setup.issuer.claims())
    try:
        token = setup.uncached.verify(raw)
    except InvalidToken as refusal:
        event(f"refused: {type(refusal).__name__}")
        assert isinstance(refusal, (MalformedToken, InvalidTokenType)), (header, refusal)
        return
    event("accepted")
    assert dict(token.header) == header
    assert header.get("b64", True) is True
    assert "enc" not in header
    assert header.get("crit", ["b64"]) == ["b64"]
    typ = header.get("typ")
    assert typ is None or (isinstance(typ, str) and typ.lower().removeprefix("application/") in ("at+jwt", "jwt")), typ


def test_signed_payload_that_is_not_a_claim_set_is_malformed(setups):
    setup = setups["EdDSA"]
    key = setup.issuer.signing_key
    for payload in (b"[]", b"null", b'"claims"', b"", b"\xff", b"{", b"NaN", b'{"exp": NaN}', b"{} x"):
        raw = _sign(setup, {"alg": "EdDSA", "kid": key.kid}, payload)
        with pytest.raises(MalformedToken):
            setup.uncached.verify(raw)


# -- Authorization header values ------------------------------------------------


@given(value=authorization_values())
@example(value="Bearer")
@example(value="Bearer ")
@example(value="Bearer a b")
@example(value="Basic dXNlcjpwYXNz")
@example(value="")
def test_parse_authorization_yields_token_none_or_invalid_request(value):
    try:
        token = parse_authorization(value)
    except InvalidRequest:
        return
    if token is None:
        assert value.strip(" ").partition(" ")[0].lower() != "bearer"
        return
    assert isinstance(token, str)
    assert _TOKEN68.fullmatch(token)
    assert value.strip(" ").lower().startswith("bearer ")
    assert value.rstrip(" ").endswith(token)


@given(token=token68s(), value=st.data())
def test_well_formed_bearer_values_round_trip(token, value):
    header = value.draw(bearer_values(st.just(token)))
    assert parse_authorization(header) == token


class _Values(Request):
    """A request that is nothing but Authorization values and a query string."""

    __slots__ = ("_headers", "_query")

    def __init__(self, headers: list[str], query: str | bytes | None) -> None:
        self._headers = headers
        self._query = query.decode("latin-1") if isinstance(query, bytes) else query or ""

    def header_values(self, name: str) -> list[str]:
        return list(self._headers) if name == "authorization" else []

    def raw_header_values(self, name: str) -> list[str]:
        return self.header_values(name)

    @property
    def query_string(self) -> str:
        return self._query


_QUERIES = st.one_of(
    st.none(),
    st.text(),
    st.binary(),
    st.builds(lambda t: f"access_token={t}", token68s()),
    st.builds(lambda t: f"a=1&access_token={t}&access_token={t}", token68s()),
    st.sampled_from(["access_token=", "access_token", "access_token=%00", "x=access_token", "access_token=a b"]),
)


@given(
    headers=st.lists(authorization_values(), max_size=3),
    query=_QUERIES,
    allow_query_token=st.booleans(),
    optional=st.booleans(),
)
def test_guard_credentials_yield_token_none_or_invalid_request(headers, query, allow_query_token, optional):
    guard = Guard(allow_query_token=allow_query_token, optional=optional)
    try:
        credentials = guard.credentials(_Values(headers, query))
    except InvalidRequest:
        return
    token = None if credentials is None else credentials.token
    assert token is None or (isinstance(token, str) and token)
    assert len(headers) <= 1, "two Authorization headers must be refused"
    if not allow_query_token:
        # The query string is ignored entirely unless query tokens are allowed.
        assert token == (parse_authorization(headers[0]) if headers else None)
