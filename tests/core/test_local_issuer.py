"""jwt_guard.testing.LocalIssuer: keys given up front, rotation, and its typed network helpers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from jwt_guard import UnknownKey, Verifier
from jwt_guard.testing import KeyServer, LocalIssuer, LocalServer, SigningKey
from tests.conftest import AUDIENCE, ISSUER, signing_key


def test_keys_are_published_and_the_first_one_signs():
    newest, older = signing_key("ES256", "newest"), signing_key("RS256", "older")
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[newest, older])
    assert issuer.signing_key is newest
    assert issuer.keys == [newest, older]
    assert [jwk["kid"] for jwk in issuer.jwks()["keys"]] == ["newest", "older"]
    token = issuer.token()
    assert issuer.verifier().verify(token).issuer == ISSUER
    with pytest.raises(UnknownKey):
        issuer.verifier(keys={"keys": [older.public_jwk()]}).verify(token)


def test_keys_accepts_any_iterable_and_copies_it():
    keys = [signing_key("EdDSA")]
    issuer = LocalIssuer(keys=iter(keys))
    issuer.rotate("EdDSA")
    assert len(keys) == 1
    assert len(issuer.keys) == 2


def test_a_shared_secret_key_gives_an_hs_verifier():
    secret = SigningKey("HS256", kid="shared")
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[secret])
    assert issuer.jwks() == {"keys": []}  # a secret is never published
    assert issuer.verifier().verify(issuer.token(sub="alice")).subject == "alice"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param({"keys": []}, ValueError, "at least one SigningKey", id="empty"),
        pytest.param({"keys": ["not a key"]}, TypeError, "got str", id="not-a-key"),
        pytest.param({"keys": [None]}, TypeError, "got NoneType", id="none"),
        pytest.param({"keys": "RS256"}, TypeError, "got str", id="a-string"),
        pytest.param({"algorithm": "ES256"}, TypeError, "either keys or algorithm/kid", id="with-algorithm"),
        pytest.param({"kid": "k"}, TypeError, "either keys or algorithm/kid", id="with-kid"),
    ],
)
def test_bad_keys_are_refused(options, error, message):
    if "keys" not in options:
        options = {**options, "keys": [signing_key("EdDSA")]}
    with pytest.raises(error, match=message):
        LocalIssuer(**options)


def test_algorithm_and_kid_still_make_a_new_key():
    issuer = LocalIssuer(algorithm="EdDSA", kid="made-here")
    assert (issuer.signing_key.alg, issuer.signing_key.kid) == ("EdDSA", "made-here")
    assert LocalIssuer(keys=None, algorithm="ES256").signing_key.alg == "ES256"


def test_rotate_to_a_given_key():
    old, new = signing_key("EdDSA", "old"), signing_key("ES256", "new")
    issuer = LocalIssuer(keys=[old])
    assert issuer.rotate(key=new) is new
    assert issuer.keys == [new, old]
    assert issuer.token().count(".") == 2
    assert issuer.verifier().verify(issuer.token()).subject == "user-1"
    with pytest.raises(TypeError, match="either key or alg/kid"):
        issuer.rotate("RS256", key=old)
    issuer.rotate(key=old, retire_old=True)
    assert issuer.keys == [old]


def test_network_helpers_return_their_types_and_serve_this_issuer():
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[signing_key("ES256")])
    server = issuer.key_server(max_age=60)
    assert isinstance(server, KeyServer)
    assert server.issuer is issuer
    assert server.max_age == 60
    transport = issuer.mock_transport(server)
    assert isinstance(transport, httpx.MockTransport)
    with Verifier(issuer=ISSUER, audience=AUDIENCE, transport=transport, async_transport=transport) as verifier:
        assert verifier.verify(issuer.token(sub="bob")).subject == "bob"
        assert asyncio.run(verifier.verify_async(issuer.token(sub="eve"))).subject == "eve"
    assert server.jwks_requests == 1
    assert isinstance(issuer.mock_transport(), httpx.MockTransport)
    assert isinstance(issuer.verifier(), Verifier)


def test_serve_rewrites_the_issuer_to_its_loopback_address():
    issuer = LocalIssuer("http://127.0.0.1/realm", audience=AUDIENCE, keys=[signing_key("ES256")])
    local = issuer.serve(max_age=30)
    assert isinstance(local, LocalServer)
    with local as running, Verifier(issuer=issuer.issuer, audience=AUDIENCE) as verifier:
        assert issuer.issuer == f"http://127.0.0.1:{running.port}/realm"
        assert verifier.verify(issuer.token()).issuer == issuer.issuer
        assert running.keys.max_age == 30
