"""DPoP through Verifier.verify / verify_async: one flow for the token, the
proof and the replay record (jwt_guard._dpop_flow)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest

from jwt_guard import (
    ConfigurationError,
    DPoPContext,
    DPoPOptions,
    DPoPProofReplayed,
    DPoPRequired,
    DPoPTokenAsBearer,
    ExpiredToken,
    InvalidClaim,
    InvalidDPoPBinding,
    InvalidDPoPProof,
    InvalidToken,
    StoreUnavailable,
    UseDPoPNonce,
    Verifier,
)
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard.stores import MemoryStore
from jwt_guard.testing import DPoPKey, FakeClock, LocalIssuer, bound_token
from tests.dpop.conftest import NOW, URL, dpop_key

SECRET = b"s" * 32


class RecordingStore:
    """A replay store that remembers which face was called, and answers like MemoryStore."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.calls: list[tuple[str, str, float]] = []

    def claim_once(self, key: str, ttl_seconds: float) -> bool:
        self.calls.append(("sync", key, ttl_seconds))
        return self.inner.claim_once(key, ttl_seconds)

    async def claim_once_async(self, key: str, ttl_seconds: float) -> bool:
        self.calls.append(("async", key, ttl_seconds))
        return await self.inner.claim_once_async(key, ttl_seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def make(dpop_issuer: LocalIssuer, clock: FakeClock) -> Callable[..., Verifier]:
    def build(**options: Any) -> Verifier:
        options.setdefault("dpop", DPoPOptions())
        return dpop_issuer.verifier(clock=clock, leeway=5, **options)

    return build


def context(key: DPoPKey, token: str, **proof: Any) -> DPoPContext:
    method = proof.pop("method", "GET")
    url = proof.pop("url", URL)
    return DPoPContext(key.proof(method, url, access_token=token, **proof), method, url)


FACES = ["sync", "async"]


def verify(verifier: Verifier, token: str, face: str, dpop: DPoPContext | None = None) -> Any:
    if face == "sync":
        return verifier.verify(token, dpop=dpop)
    return asyncio.run(verifier.verify_async(token, dpop=dpop))


@pytest.mark.parametrize("face", FACES)
def test_a_bound_token_with_its_proof(make, key, token, face):
    verifier = make()
    dpop = context(key, token)
    verified = verify(verifier, token, face, dpop)
    assert verified.scopes == {"read"}
    assert dpop.result is not None and dpop.result.thumbprint == key.thumbprint
    assert dpop.next_nonce is None
    assert "proof" not in repr(dpop) and dpop.proof not in repr(dpop)


@pytest.mark.parametrize("face", FACES)
def test_the_replay_record_is_one_effect_run_by_each_face(make, key, token, face):
    """Sync verification records with claim_once, async with claim_once_async,
    for as long as the proof could be accepted plus the leeway again."""
    store = RecordingStore()
    verifier = make(dpop=DPoPOptions(store=store, max_age=60))
    verify(verifier, token, face, context(key, token, iat=NOW - 10))
    [(called, replay_key, ttl)] = store.calls
    assert called == face
    assert replay_key.startswith("dpop:")
    assert ttl == math.ceil(NOW - 10 + 60 + 5 - NOW) + 5


@pytest.mark.parametrize(("first", "second"), [("sync", "async"), ("async", "sync"), ("sync", "sync")])
def test_a_replayed_proof_is_refused_whichever_face_saw_it(make, key, token, first, second):
    verifier = make()
    dpop = context(key, token)
    verify(verifier, token, first, dpop)
    with pytest.raises(DPoPProofReplayed) as caught:
        verify(verifier, token, second, DPoPContext(dpop.proof, "GET", URL))
    assert caught.value.scheme == "DPoP" and caught.value.error == "invalid_dpop_proof"


def test_verifiers_sharing_a_store_share_the_record(make, key, token):
    store = MemoryStore()
    one, two = make(dpop=DPoPOptions(store=store)), make(dpop=DPoPOptions(store=store))
    dpop = context(key, token)
    one.verify(token, dpop=dpop)
    with pytest.raises(DPoPProofReplayed):
        two.verify(token, dpop=DPoPContext(dpop.proof, "GET", URL))


def test_without_a_store_each_verifier_keeps_its_own_record(make, key, token):
    """DPoPOptions(store=None): a per-process MemoryStore per verifier (the documented warning)."""
    options = DPoPOptions()
    one, two = make(dpop=options), make(dpop=options)
    dpop = context(key, token)
    one.verify(token, dpop=dpop)
    two.verify(token, dpop=DPoPContext(dpop.proof, "GET", URL))
    with pytest.raises(DPoPProofReplayed):
        one.verify(token, dpop=DPoPContext(dpop.proof, "GET", URL))


@pytest.mark.parametrize("face", FACES)
def test_a_proof_refused_for_another_reason_is_not_used_up(make, key, token, face):
    """RFC 9449 §11.1: the record is written only after every other check passed."""
    store = RecordingStore()
    refuse = [True]
    verifier = make(dpop=DPoPOptions(store=store), validators=[lambda _: not refuse[0]])
    dpop = context(key, token)
    with pytest.raises(InvalidToken):
        verify(verifier, token, face, dpop)
    assert store.calls == []
    refuse[0] = False
    verify(verifier, token, face, DPoPContext(dpop.proof, "GET", URL))
    assert len(store.calls) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"method": "POST"}, InvalidDPoPProof, id="method"),
        pytest.param({"url": "https://api.example.test/other"}, InvalidDPoPProof, id="url"),
        pytest.param({"iat": NOW - 400}, InvalidDPoPProof, id="too-old"),
        pytest.param({"iat": NOW + 60}, InvalidDPoPProof, id="future"),
        pytest.param({"claims": {"ath": None}}, InvalidDPoPProof, id="no-ath"),
        pytest.param({"headers": {"typ": "JWT"}}, InvalidDPoPProof, id="typ"),
    ],
)
def test_bad_proofs_are_refused(make, key, token, change, error):
    method = change.pop("method", "GET")
    url = change.pop("url", URL)
    proof = key.proof(method, url, access_token=token, **change)
    with pytest.raises(error) as caught:
        make().verify(token, dpop=DPoPContext(proof, "GET", URL))
    assert caught.value.scheme == "DPoP"


def test_a_request_without_a_proof_is_refused(make, token):
    with pytest.raises(InvalidDPoPProof, match="required"):
        make().verify(token, dpop=DPoPContext(None, "GET", URL))


def test_a_proof_by_another_key_is_a_binding_failure(make, token):
    with pytest.raises(InvalidDPoPBinding) as caught:
        make().verify(token, dpop=context(dpop_key("EdDSA"), token))
    assert caught.value.error == "invalid_token"


def test_an_unbound_token_with_a_proof_is_refused(make, dpop_issuer, key):
    """RFC 9449 §7.1: the DPoP scheme needs a token bound to the proof key."""
    plain = dpop_issuer.token(scope="read")
    with pytest.raises(InvalidDPoPBinding, match="not bound"):
        make().verify(plain, dpop=context(key, plain))


def test_token_errors_of_a_dpop_request_are_answered_with_the_dpop_scheme(make, dpop_issuer, key, clock):
    expired = bound_token(dpop_issuer, key, exp=NOW - 100)
    with pytest.raises(ExpiredToken) as caught:
        make().verify(expired, dpop=context(key, expired))
    assert caught.value.scheme == "DPoP"
    assert caught.value.www_authenticate().startswith('DPoP error="invalid_token"')


# -- the bearer rule -------------------------------------------------------------------------------


@pytest.mark.parametrize("dpop", [DPoPOptions(), None], ids=["dpop-accepted", "dpop-not-configured"])
@pytest.mark.parametrize("face", FACES)
def test_a_bound_token_is_refused_as_a_bearer_token(make, token, dpop, face):
    with pytest.raises(InvalidToken) as caught:
        verify(make(dpop=dpop), token, face)
    assert caught.value.error == "invalid_token"
    # Where DPoP is accepted, the challenge tells the client how to present it.
    assert isinstance(caught.value, DPoPTokenAsBearer) is (dpop is not None)


@pytest.mark.parametrize(
    ("cnf", "error"),
    [
        pytest.param({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, InvalidToken, id="mtls"),
        pytest.param({"jkt": "abc", "x5t#S256": "abc"}, DPoPTokenAsBearer, id="dpop-and-mtls"),
        pytest.param("not-an-object", InvalidClaim, id="not-an-object"),
        pytest.param({"jkt": 7}, InvalidClaim, id="jkt-not-a-string"),
    ],
)
def test_other_confirmations_are_refused_as_bearer_tokens(make, dpop_issuer, cnf, error):
    with pytest.raises(error):
        make().verify(dpop_issuer.token(cnf=cnf))


def test_a_token_bound_to_a_certificate_too_is_refused_with_a_proof(make, dpop_issuer, key):
    token = dpop_issuer.token(cnf={"jkt": key.thumbprint, "x5t#S256": "abc"})
    with pytest.raises(InvalidToken, match="sender-constrained"):
        make().verify(token, dpop=context(key, token))


@pytest.mark.parametrize("dpop", [DPoPOptions(), None], ids=["dpop-accepted", "dpop-not-configured"])
def test_plain_bearer_tokens_pass_and_an_empty_cnf_binds_nothing(make, dpop_issuer, dpop):
    verifier = make(dpop=dpop)
    assert verifier.verify(dpop_issuer.token()).subject == "user-1"
    assert verifier.verify(dpop_issuer.token(cnf={})).subject == "user-1"


@pytest.mark.parametrize("face", FACES)
def test_required_refuses_plain_bearer_tokens(make, dpop_issuer, key, token, face):
    verifier = make(dpop=DPoPOptions(required=True))
    with pytest.raises(DPoPRequired) as caught:
        verify(verifier, dpop_issuer.token(), face)
    assert caught.value.error == "invalid_token"
    with pytest.raises(DPoPRequired):
        verify(verifier, token, face)  # a bound token as bearer: still "use DPoP"
    assert verify(verifier, token, face, context(key, token)).scopes == {"read"}


def test_cached_results_meet_the_rules_too(make, key, token):
    """The verified-result cache holds the token; the proof and the bearer
    rule apply on every request, hits included."""
    verifier = make()
    verifier.verify(token, dpop=context(key, token))
    with pytest.raises(DPoPTokenAsBearer):
        verifier.verify(token)
    with pytest.raises(InvalidDPoPProof):
        verifier.verify(token, dpop=DPoPContext(None, "GET", URL))
    verifier.verify(token, dpop=context(key, token))


# -- nonces ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("face", FACES)
def test_a_missing_nonce_gets_a_fresh_one_and_the_retry_passes(make, key, token, face, clock):
    verifier = make(dpop=DPoPOptions(nonce_secret=SECRET, nonce_lifetime=300))
    with pytest.raises(UseDPoPNonce) as caught:
        verify(verifier, token, face, context(key, token))
    nonce = caught.value.nonce
    assert caught.value.response_headers() == [("dpop-nonce", nonce)]
    dpop = context(key, token, nonce=nonce)
    verify(verifier, token, face, dpop)
    assert dpop.next_nonce is None  # fresh: nothing to renew


def test_a_nonce_due_for_renewal_comes_back_on_success(make, key, token, clock):
    verifier = make(dpop=DPoPOptions(nonce_secret=SECRET, nonce_lifetime=300))
    nonce = DPoPNonces(SECRET, lifetime=300).issue(NOW - 200)  # past half its life
    dpop = context(key, token, nonce=nonce)
    verifier.verify(token, dpop=dpop)
    assert dpop.next_nonce is not None and dpop.next_nonce != nonce
    stale = DPoPNonces(SECRET, lifetime=300).issue(NOW - 400)
    with pytest.raises(UseDPoPNonce):
        verifier.verify(token, dpop=context(key, token, nonce=stale))


def test_a_proof_refused_for_its_nonce_can_be_sent_again_with_one(make, key, token):
    """use_dpop_nonce is answered before the record: the proof is not used up (a new one is needed anyway)."""
    store = RecordingStore()
    verifier = make(dpop=DPoPOptions(nonce_secret=SECRET, store=store))
    with pytest.raises(UseDPoPNonce):
        verifier.verify(token, dpop=context(key, token))
    assert store.calls == []


# -- the store failing -----------------------------------------------------------------------------


class FailingBackend(MemoryStore):
    def _claim(self, digest: bytes, ttl_ms: int) -> bool:
        from jwt_guard.stores._base import BackendError

        raise BackendError("down")


@pytest.mark.parametrize("face", FACES)
def test_a_store_that_cannot_record_refuses_with_503_when_closed(make, key, token, face):
    verifier = make(dpop=DPoPOptions(store=FailingBackend(store_failure="closed")))
    with pytest.raises(StoreUnavailable) as caught:
        verify(verifier, token, face, context(key, token))
    assert caught.value.status_code == 503


def test_a_store_that_cannot_record_accepts_when_open(make, key, token, caplog):
    verifier = make(dpop=DPoPOptions(store=FailingBackend(store_failure="open")))
    assert verifier.verify(token, dpop=context(key, token)).scopes == {"read"}


# -- configuration and misuse ----------------------------------------------------------------------


def test_the_options_are_readable(make):
    options = DPoPOptions(required=True)
    assert make(dpop=options).dpop is options
    assert make(dpop=None).dpop is None


def test_dpop_must_be_dpop_options(dpop_issuer):
    with pytest.raises(ConfigurationError, match="DPoPOptions"):
        dpop_issuer.verifier(dpop={"required": True})


def test_a_dpop_request_needs_a_verifier_that_accepts_dpop(make, key, token):
    with pytest.raises(ConfigurationError, match="dpop=DPoPOptions"):
        make(dpop=None).verify(token, dpop=context(key, token))


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param((b"proof", "GET", URL), id="proof-bytes"),
        pytest.param(("proof", None, URL), id="method-none"),
        pytest.param(("proof", "GET", b"https://x"), id="url-bytes"),
    ],
)
def test_the_context_refuses_values_of_the_wrong_type(arguments):
    with pytest.raises(TypeError):
        DPoPContext(*arguments)


# -- opaque tokens ---------------------------------------------------------------------------------


def test_an_introspected_dpop_token_needs_its_proof_on_every_request(dpop_issuer, key, clock):
    """token_type DPoP with cnf.jkt (RFC 9449 §6.2): accepted with a proof by
    that key, refused as a bearer token, cached answers included."""
    from jwt_guard import Introspection
    from jwt_guard.testing import IntrospectionEndpoint

    endpoint = IntrospectionEndpoint(dpop_issuer, clients={"api": "secret"})
    server = dpop_issuer.key_server(introspection=endpoint)
    verifier = Verifier(
        issuer=dpop_issuer.issuer,
        audience=dpop_issuer.audience,
        introspection=Introspection(client_id="api", client_secret="secret"),
        transport=dpop_issuer.mock_transport(server),
        clock=clock,
        dpop=DPoPOptions(),
    )
    opaque = dpop_issuer.opaque_token(scope="read", token_type="DPoP", cnf={"jkt": key.thumbprint})
    assert verifier.verify(opaque, dpop=context(key, opaque)).scopes == {"read"}
    with pytest.raises(DPoPTokenAsBearer):
        verifier.verify(opaque)  # from the answer cache
    with pytest.raises(InvalidDPoPBinding):
        verifier.verify(opaque, dpop=context(dpop_key("EdDSA"), opaque))
    assert verifier.verify(opaque, dpop=context(key, opaque)).scopes == {"read"}
    assert len(endpoint.calls) == 1
