"""Fuzzing the proof: every byte, header parameter and claim is the attacker's.

The property is the contract: ``verify_proof`` returns a result or raises
one of the DPoP errors (``InvalidDPoPProof`` and its subclasses, or
``InvalidDPoPBinding``), whatever it is given, and holds no memory per proof
beyond its bounded key and URL memos.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import event, given
from hypothesis import strategies as st

from jwt_guard._dpop import DPoPOptions, DPoPProof, _cached_key, access_token_hash, verify_proof
from jwt_guard._dpop_errors import InvalidDPoPBinding, InvalidDPoPProof
from jwt_guard._url import _normalize
from jwt_guard.testing._dpop import DPoPKey
from tests.dpop.conftest import NOW, URL, dpop_key
from tests.strategies import HOSTILE_ALGS, garbage_inputs, json_values, mutated_tokens

OPTIONS = DPoPOptions(nonce_secret=b"f" * 32)
TOKEN = "fuzz.access.token"
KEY = dpop_key("ES256")
VALID = KEY.proof("GET", URL, access_token=TOKEN, nonce=OPTIONS.nonces.issue(NOW) if OPTIONS.nonces else None)


def outcome(proof: Any, **overrides: Any) -> str:
    """Run a proof; name what came back. Anything but a DPoP error propagates."""
    arguments: dict[str, Any] = {
        "method": "GET",
        "url": URL,
        "options": OPTIONS,
        "now": NOW,
        "leeway": 5,
        "access_token": TOKEN,
        "jkt": KEY.thumbprint,
        **overrides,
    }
    try:
        result = verify_proof(proof, **arguments)
    except (InvalidDPoPProof, InvalidDPoPBinding) as error:
        assert error.status_code == 401
        assert error.error in ("invalid_dpop_proof", "use_dpop_nonce", "invalid_token")
        assert error.description and "\n" not in error.description
        return type(error).__name__
    assert isinstance(result, DPoPProof)
    return "accepted"


def test_the_valid_proof_is_valid() -> None:
    assert outcome(VALID) == "accepted"


@given(mutated_tokens(VALID))
def test_mutations_of_a_valid_proof_are_refused(proof: str) -> None:
    """None is re-signed: every mutant must be refused (the signature no longer covers it)."""
    result = outcome(proof)
    event(result)
    assert result != "accepted"


@given(garbage_inputs())
def test_garbage(proof: Any) -> None:
    assert outcome(proof) != "accepted"


_MEMBER_VALUES = st.one_of(
    json_values(max_leaves=4),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=90),
    st.sampled_from(["", "AQAB", "A" * 700, "P-256", "P-384", "Ed25519", "EC", "RSA", "OKP", "oct", "sig", "enc"]),
)
_JWK_NAMES = st.sampled_from(
    ["kty", "crv", "x", "y", "n", "e", "d", "p", "q", "dp", "dq", "qi", "oth", "k", "alg", "use", "key_ops", "kid"]
)


@st.composite
def hostile_jwks(draw: st.DrawFn) -> Any:
    """The real key with members changed, added or dropped, or any JSON at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values(max_leaves=6))
    jwk: dict[str, Any] = dict(KEY.jwk)
    for name in draw(st.lists(_JWK_NAMES, max_size=4)):
        if draw(st.booleans()):
            jwk.pop(name, None)
        else:
            jwk[name] = draw(_MEMBER_VALUES)
    return jwk


@given(
    jwk=hostile_jwks(),
    alg=st.one_of(st.sampled_from(["ES256", "ES384", "EdDSA", "RS256", "PS256"]), st.sampled_from(HOSTILE_ALGS)),
    typ=st.one_of(st.just("dpop+jwt"), json_values(max_leaves=2)),
    extra=st.dictionaries(st.text(max_size=6), json_values(max_leaves=4), max_size=3),
)
def test_signed_proofs_with_hostile_headers(jwk: Any, alg: Any, typ: Any, extra: dict[str, Any]) -> None:
    """Signed with the real key, so only the header decides."""
    header = {**extra, "typ": typ, "alg": alg, "jwk": jwk}
    claims = {"jti": "j", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    result = outcome(KEY.sign(header, claims))
    event(result)
    if result == "accepted":
        # Only the real key under its own algorithm can pass.
        assert alg == "ES256"
        assert {name: jwk[name] for name in ("kty", "crv", "x", "y")} == KEY.jwk


_CLAIM_VALUES = st.one_of(
    json_values(max_leaves=4),
    st.sampled_from(["GET", "get", URL, URL.upper(), URL + "/", "j", access_token_hash(TOKEN)]),
    st.integers(min_value=NOW - 400, max_value=NOW + 20),
    st.floats(min_value=NOW - 400, max_value=NOW + 20),
)


@given(
    claims=st.dictionaries(
        st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce", "exp", "cnf"]), _CLAIM_VALUES, max_size=7
    ),
    extra=st.dictionaries(st.text(max_size=6), json_values(max_leaves=4), max_size=2),
)
def test_signed_proofs_with_hostile_claims(claims: dict[str, Any], extra: dict[str, Any]) -> None:
    result = outcome(KEY.proof("GET", URL, claims={**extra, **claims}, access_token=TOKEN))
    event(result)


@given(method=st.text(max_size=10), url=st.text(max_size=60), token=st.one_of(st.none(), st.text(max_size=40)))
def test_hostile_request_side(method: str, url: str, token: str | None) -> None:
    """The method, URL and token come from the request too."""
    outcome(VALID, method=method, url=url, access_token=token, jkt=None if token is None else KEY.thumbprint)


# -- memory --------------------------------------------------------------------------


def _traced(warm_up: Any, run: Any) -> tuple[int, int]:
    """(retained, peak) bytes traced while *run* ran, after *warm_up* (traced
    too, so that what *run* evicts from the memos counts as freed)."""
    gc.collect()
    tracemalloc.start()
    try:
        warm_up()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        return current - before, peak - before
    finally:
        tracemalloc.stop()


def test_a_huge_proof_costs_no_copy() -> None:
    """A 1 MiB proof is refused by its length alone: nothing near its size is allocated."""
    huge = "A" * (1 << 20)
    outcomes: list[str] = []
    _, peak = _traced(lambda: outcome(VALID), lambda: outcomes.append(outcome(huge)))
    assert outcomes == ["InvalidDPoPProof"]
    assert peak < 64 * 1024


def test_many_client_keys_leave_memory_flat() -> None:
    """Proofs from ever new keys and URLs (what a flood looks like): the key
    and URL memos stay within their bounds and memory stops growing."""
    nonce = OPTIONS.nonces.issue(NOW) if OPTIONS.nonces else None

    def proofs(count: int) -> list[tuple[str, str, str]]:
        made = []
        for index in range(count):
            key = DPoPKey("EdDSA", private_key=ed25519.Ed25519PrivateKey.generate(), clock=lambda: NOW)
            url = f"{URL}/{index}"
            made.append((key.proof("GET", url, access_token=TOKEN, nonce=nonce), url, key.thumbprint))
        return made

    def run(batch: list[tuple[str, str, str]]) -> None:
        for proof, url, jkt in batch:
            assert outcome(proof, url=url, jkt=jkt) == "accepted"

    # The warm-up cycles every bounded memo (256 entries each) several times,
    # whatever earlier tests left in them: what the flood then retains is growth.
    warm, flood = proofs(1200), proofs(1200)
    retained, _ = _traced(lambda: run(warm), lambda: run(flood))
    assert _cached_key.cache_info().currsize <= 256
    assert _normalize.cache_info().currsize <= 256
    # Keeping anything per proof (a key is about 1 KiB) would retain over a MiB.
    assert retained < 64 * 1024
