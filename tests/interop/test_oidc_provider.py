"""Opaque tokens from an independent authorization server: panva's
oidc-provider (Node.js, OpenID Certified) on 127.0.0.1.

Its tokens, its introspection endpoint, its client authentication and its
RFC 9701 signed answers are its own implementation, not jwt_guard's test
kit: these tests prove that jwt_guard verifies real opaque tokens, refuses
revoked and expired ones, and authenticates with each supported method.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jwt_guard import (
    ExpiredToken,
    InactiveToken,
    Introspection,
    IntrospectionUnavailable,
    InvalidAudience,
    KeyCacheOptions,
    Verifier,
)
from jwt_guard.testing import SigningKey
from tests.support.oidc_provider import AUDIENCE, JWT_AUDIENCE, Client, OidcProvider

SECRET = "a-long-client-secret-for-the-tests-0123456789"
RS_KEY = SigningKey("ES256", kid="rs-key")


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    clients = [
        Client("app", SECRET),
        Client("short-app", SECRET),
        Client("rs-basic", SECRET, metadata={"token_endpoint_auth_method": "client_secret_basic"}),
        Client("rs-post", SECRET, metadata={"token_endpoint_auth_method": "client_secret_post"}),
        Client(
            "rs-jwt",
            key=RS_KEY,
            metadata={"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256"},
        ),
        Client("rs-signed", SECRET, metadata={"introspection_signed_response_alg": "RS256"}),
    ]
    server = OidcProvider(Path(tmp_path_factory.mktemp("oidc-provider")), clients, short_lived=("short-app",))
    server.start()
    yield server
    server.stop()


def verifier(provider: OidcProvider, client_id: str = "rs-basic", **options: Any) -> Verifier:
    introspection: dict[str, Any] = {"client_id": client_id}
    if client_id == "rs-jwt":
        introspection.update(auth="private_key_jwt", private_key=RS_KEY.private_pem(), private_key_id=RS_KEY.kid)
    else:
        introspection["client_secret"] = SECRET
        if client_id == "rs-post":
            introspection["auth"] = "client_secret_post"
    introspection.update(options.pop("intro", {}))
    return Verifier(
        issuer=provider.issuer,
        audience=options.pop("audience", AUDIENCE),
        key_cache=KeyCacheOptions(timeout=5.0),
        introspection=Introspection(**introspection),
        **options,
    )


def test_the_provider_advertises_introspection_and_issues_opaque_tokens(provider):
    metadata = provider.metadata()
    assert metadata["introspection_endpoint"] == f"{provider.issuer}/token/introspection"
    access_token = provider.token("app")["access_token"]
    assert access_token.count(".") == 0  # opaque, not a JWT


@pytest.mark.parametrize("client_id", ["rs-basic", "rs-post", "rs-jwt"])
def test_opaque_tokens_verify_with_each_client_authentication(provider, client_id):
    issued = provider.token("app", scope="read write")
    with verifier(provider, client_id) as guard:
        token = guard.verify(issued["access_token"])
    assert token.issuer == provider.issuer
    assert token.audience == (AUDIENCE,)
    assert token.client_id == "app"
    assert token.scopes == {"read", "write"}
    assert token.expires_at is not None
    assert token.claims["token_type"] == "Bearer"


@pytest.mark.anyio
async def test_verify_async_against_the_provider(provider):
    issued = provider.token("app", scope="read")
    guard = verifier(provider, "rs-jwt")
    try:
        results = await asyncio.gather(*(guard.verify_async(issued["access_token"]) for _ in range(20)))
    finally:
        await guard.aclose()
    assert {result.scopes for result in results} == {frozenset({"read"})}


def test_revoked_tokens_are_refused(provider):
    access_token = provider.token("app")["access_token"]
    with verifier(provider, intro={"cache_size": 0}) as guard:
        guard.verify(access_token)
        provider.revoke(access_token, "app")
        guard.clear_cache()
        with pytest.raises(InactiveToken) as caught:
            guard.verify(access_token)
    assert caught.value.status_code == 401


def test_expired_tokens_are_refused(provider):
    access_token = provider.token("short-app")["access_token"]  # lives one second
    with verifier(provider, intro={"cache_size": 0}) as guard:
        deadline = time.monotonic() + 10
        while True:
            guard.clear_cache()
            try:
                guard.verify(access_token)
            except InactiveToken:
                break  # the provider itself answers active: false once expired
            except ExpiredToken:
                break  # or our own exp check, with no leeway, came first
            assert time.monotonic() < deadline, "the one-second token never expired"
            time.sleep(0.5)


def test_expired_tokens_are_refused_by_our_own_clock(provider):
    access_token = provider.token("app")["access_token"]
    with (
        verifier(provider, clock=lambda: time.time() + 3600) as guard,
        pytest.raises(ExpiredToken),
    ):
        guard.verify(access_token)


def test_unknown_tokens_are_inactive(provider):
    with verifier(provider) as guard, pytest.raises(InactiveToken):
        guard.verify("not-a-token-the-provider-ever-issued")


def test_a_token_for_another_audience_is_refused(provider):
    access_token = provider.token("app")["access_token"]
    with verifier(provider, audience="https://someone-else.example") as guard, pytest.raises(InvalidAudience):
        guard.verify(access_token)


def test_wrong_credentials_are_503_and_logged(provider, caplog):
    access_token = provider.token("app")["access_token"]
    with (
        verifier(provider, intro={"client_secret": "wrong"}) as guard,
        caplog.at_level(logging.ERROR, logger="jwt_guard"),
        pytest.raises(IntrospectionUnavailable) as caught,
    ):
        guard.verify(access_token)
    assert caught.value.status_code == 503
    assert "refused client 'rs-basic'" in caplog.text


def test_signed_introspection_answers_verify_with_the_providers_keys(provider):
    access_token = provider.token("app")["access_token"]
    with verifier(provider, "rs-signed", intro={"require_signed": True}) as guard:
        token = guard.verify(access_token)
    assert token.client_id == "app"
    assert token.scopes == {"read"}


def test_jwt_access_tokens_are_verified_locally(provider):
    """Hybrid: the provider's JWT access tokens never reach its introspection endpoint."""
    issued = provider.token("app", resource=JWT_AUDIENCE)
    assert issued["access_token"].count(".") == 2
    with verifier(provider, audience=JWT_AUDIENCE) as guard:
        token = guard.verify(issued["access_token"])
        assert token.header["typ"] == "at+jwt"
        assert len(guard._introspector.cache) == 0
