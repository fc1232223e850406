"""Verifier(revocation=store): every verified token, cache hits included, meets the store's check.

Each behaviour runs through ``verify`` and ``verify_async`` (the ``verify``
fixture) and, where it concerns records, against MemoryStore and RedisStore
(the ``make_store`` fixture).
"""

from __future__ import annotations

import time

import pytest

from jwt_guard import (
    AccessToken,
    ConfigurationError,
    Event,
    EventKind,
    InvalidToken,
    StoreUnavailable,
    TemporarilyUnavailable,
    TokenRevoked,
    Verifier,
    render_error,
)
from jwt_guard import _verifier as verifier_module
from jwt_guard.stores import MemoryStore, RedisStore
from jwt_guard.stores._index import RevocationIndex
from jwt_guard.testing import LocalIssuer
from tests.stores.conftest import eventually
from tests.support.services import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["verify", "verify_async"])
def verify(request):
    """``await verify(verifier, token)`` through the sync or the async entry point."""

    async def run(verifier: Verifier, token: str) -> AccessToken:
        if request.param == "verify":
            return verifier.verify(token)
        return await verifier.verify_async(token)

    return run


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer()


async def refusal(verify, verifier: Verifier, token: str) -> Exception:
    with pytest.raises((InvalidToken, TemporarilyUnavailable)) as caught:
        await verify(verifier, token)
    return caught.value


# -- what is refused --------------------------------------------------------------------------


async def test_a_revoked_jti_is_refused_even_when_its_result_is_cached(make_store, issuer, verify):
    store = make_store()
    verifier = issuer.verifier(revocation=store)
    raw = issuer.token(jti="stolen-1")
    other = issuer.token(jti="fine-1")
    token = await verify(verifier, raw)  # verified and now cached
    await verify(verifier, other)
    store.revoke_token("stolen-1", issuer=issuer.issuer, expires_at=token.expires_at)

    error = await refusal(verify, verifier, raw)
    assert type(error) is TokenRevoked
    answer = render_error(error)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in (answer.header("WWW-Authenticate") or "")
    assert (await verify(verifier, other)).token_id == "fine-1"
    # A cache miss (the cache cleared) is refused the same way.
    verifier.clear_cache()
    assert type(await refusal(verify, verifier, raw)) is TokenRevoked


@pytest.mark.parametrize("kind", ["subject", "client", "azp"])
async def test_a_cutoff_refuses_earlier_tokens_and_lets_later_ones_in(make_store, verify, kind):
    clock = [time.time() - 30]
    issuer = LocalIssuer(clock=lambda: clock[0])
    store = make_store()
    verifier = issuer.verifier(revocation=store)
    who = {"sub": "alice"} if kind == "subject" else {"client_id": "app"}
    if kind == "azp":
        who = {"client_id": None, "azp": "app"}
    earlier = issuer.token(**who)
    await verify(verifier, earlier)
    if kind == "subject":
        store.revoke_subject("alice", issuer=issuer.issuer, before=clock[0])
    else:
        store.revoke_client("app", issuer=issuer.issuer, before=clock[0])

    assert type(await refusal(verify, verifier, earlier)) is TokenRevoked
    # Without iat, a token cannot show it was issued after the cutoff.
    assert type(await refusal(verify, verifier, issuer.token(iat=None, **who))) is TokenRevoked
    clock[0] += 10  # a fresh login after the revocation
    assert (await verify(verifier, issuer.token(**who))).issued_at is not None
    # Someone else's tokens were never concerned.
    assert await verify(verifier, issuer.token(sub="bob", client_id="other-app"))


async def test_records_apply_to_their_own_issuer_only(verify):
    first = LocalIssuer("http://127.0.0.1/first")
    second = LocalIssuer("http://127.0.0.1/second", keys=first.keys)
    store = MemoryStore()
    verifier = Verifier(
        issuer=[first.issuer, second.issuer], audience=first.audience, keys=first.jwks(), revocation=store
    )
    store.revoke_subject("alice", issuer=first.issuer)
    assert type(await refusal(verify, verifier, first.token(sub="alice", iat=int(time.time()) - 5))) is TokenRevoked
    assert await verify(verifier, second.token(sub="alice", iat=int(time.time()) - 5))


async def test_a_refusal_is_reported_as_a_rejection(issuer, verify):
    events: list[Event] = []
    store = MemoryStore()
    verifier = issuer.verifier(revocation=store, on_event=events.append)
    raw = issuer.token(jti="j")
    store.revoke_token("j", issuer=issuer.issuer, expires_at=time.time() + 300)
    await refusal(verify, verifier, raw)
    assert [(event.kind, event.reason) for event in events] == [(EventKind.TOKEN_REJECTED, "revoked")]


async def test_without_a_store_nothing_is_checked(issuer, verify):
    verifier = issuer.verifier()
    assert verifier.revocation is None
    assert await verify(verifier, issuer.token())


# -- when the store cannot vouch for its answer ------------------------------------------------


@pytest.fixture
def dead_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


async def test_closed_answers_503_with_retry_after_for_valid_and_cached_tokens(
    make_redis_store, dead_redis_url, issuer, verify
):
    raw = issuer.token()
    store = make_redis_store(dead_redis_url, ready=False, store_failure="closed", retry_after=7)
    verifier = issuer.verifier(revocation=store)
    error = await refusal(verify, verifier, raw)
    assert type(error) is StoreUnavailable
    answer = render_error(error)
    assert answer.status_code == 503
    assert answer.header("Retry-After") == "7"
    assert answer.header("WWW-Authenticate") is None
    # The verified result is cached by now (the check runs after verification): still 503.
    assert type(await refusal(verify, verifier, raw)) is StoreUnavailable


async def test_open_accepts_with_an_event_while_the_store_cannot_vouch(
    make_redis_store, dead_redis_url, issuer, verify, events
):
    store = make_redis_store(dead_redis_url, ready=False, store_failure="open", on_event=events.append)
    verifier = issuer.verifier(revocation=store)
    assert await verify(verifier, issuer.token())
    assert EventKind.STORE_FAILED_OPEN in [event.kind for event in events]


async def test_a_revocation_on_another_host_reaches_this_verifier(make_redis_store, issuer, verify):
    here, elsewhere = make_redis_store(), make_redis_store()
    verifier = issuer.verifier(revocation=here)
    raw = issuer.token(sub="alice", iat=int(time.time()) - 5)
    await verify(verifier, raw)
    elsewhere.revoke_subject("alice", issuer=issuer.issuer)

    def refused() -> bool:
        try:
            verifier.verify(raw)
        except TokenRevoked:
            return True
        return False

    eventually(refused, what="the revocation reaching this host's mirror")
    assert type(await refusal(verify, verifier, raw)) is TokenRevoked


# -- prefetch waits for the store's first read ---------------------------------------------------


async def test_prefetch_waits_for_the_first_read(make_redis_store, issuer):
    store = make_redis_store(ready=False)
    verifier = issuer.verifier(revocation=store)
    await verifier.prefetch_async()
    assert store.ready
    verifier.prefetch()
    assert verifier.verify(issuer.token())


async def test_prefetch_with_a_memory_store_has_nothing_to_wait_for(issuer):
    store = MemoryStore()
    verifier = issuer.verifier(revocation=store)
    verifier.prefetch()
    await verifier.prefetch_async()
    store.ensure_ready(0)
    await store.ensure_ready_async(0)


@pytest.mark.parametrize("policy", ["closed", "open"])
async def test_prefetch_follows_the_policy_when_the_store_stays_behind(
    make_redis_store, dead_redis_url, issuer, monkeypatch, policy, events
):
    monkeypatch.setattr(verifier_module, "REVOCATION_READY_TIMEOUT", 0.2)
    store = make_redis_store(dead_redis_url, ready=False, store_failure=policy, on_event=events.append)
    verifier = issuer.verifier(revocation=store)
    if policy == "closed":
        with pytest.raises(StoreUnavailable):
            verifier.prefetch()
        with pytest.raises(StoreUnavailable):
            await verifier.prefetch_async()
    else:
        verifier.prefetch()
        await verifier.prefetch_async()
        assert EventKind.STORE_FAILED_OPEN in [event.kind for event in events]


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "revocation",
    [
        pytest.param(object(), id="object"),
        pytest.param("redis://127.0.0.1:6379/0", id="url"),
        pytest.param(RevocationIndex(max_records=1, token_grace=0, cutoff_lifetime=1), id="index"),
    ],
)
def test_revocation_must_be_a_store(issuer, revocation):
    with pytest.raises(ConfigurationError, match=r"revocation must be a jwt_guard\.stores store"):
        issuer.verifier(revocation=revocation)


def test_the_stores_clock_skew_must_cover_the_leeway(issuer):
    """A jti record lapses at exp + clock_skew; the verifier accepts until exp + leeway."""
    with pytest.raises(ConfigurationError, match=r"clock_skew \(30 s\) is smaller than the verifier's leeway \(60 s\)"):
        issuer.verifier(revocation=MemoryStore(clock_skew=30))
    with pytest.raises(ConfigurationError, match="clock_skew=120"):
        issuer.verifier(revocation=MemoryStore(), leeway=120)
    assert issuer.verifier(revocation=MemoryStore(clock_skew=120), leeway=120).revocation is not None
    assert issuer.verifier(revocation=MemoryStore(clock_skew=0), leeway=0).revocation is not None


async def test_a_jti_record_outlives_the_accepted_window(verify):
    """With clock_skew == leeway, a revoked token is refused until the verifier itself calls it expired."""
    now = [1_800_000_000.0]
    issuer = LocalIssuer(clock=lambda: now[0])
    store = MemoryStore(clock=lambda: now[0], clock_skew=60)
    verifier = issuer.verifier(revocation=store, clock=lambda: now[0], leeway=60, result_cache_size=0)
    raw = issuer.token(jti="j", expires_in=300)
    store.revoke_token("j", issuer=issuer.issuer, expires_at=now[0] + 300)
    now[0] += 300 + 59  # past exp, within the leeway: still refused as revoked
    assert type(await refusal(verify, verifier, raw)) is TokenRevoked
    assert [record.value for record in store.revocations()] == ["j"]  # the record is still active
    now[0] += 2  # past exp + leeway: expired, whatever the store says
    assert type(await refusal(verify, verifier, raw)).__name__ == "ExpiredToken"


def test_the_verifier_starts_the_store_and_leaves_closing_to_its_owner(make_redis_store, issuer):
    store = make_redis_store(ready=False)
    verifier = issuer.verifier(revocation=store)
    assert store.wait_ready(30)  # started by the verifier
    verifier.close()
    assert store.ready  # the verifier did not create it, so it does not close it
    assert verifier.verify(issuer.token())


def test_access_token_claims_is_one_read_only_view(issuer):
    token = issuer.verifier().verify(issuer.token(sub="alice"))
    assert token.claims is token.claims
    assert token.claims["sub"] == "alice"
    with pytest.raises(TypeError):
        token.claims["sub"] = "mallory"  # type: ignore[index]


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iss": "I", "jti": "j1", "sub": "s", "iat": 5}, id="jti"),
        pytest.param({"iss": "I", "jti": "x", "sub": "s1", "iat": 5}, id="subject-before"),
        pytest.param({"iss": "I", "jti": "x", "sub": "s1", "iat": 50}, id="subject-after"),
        pytest.param({"iss": "I", "jti": "x", "sub": "s1"}, id="subject-no-iat"),
        pytest.param({"iss": "I", "sub": "s", "client_id": "c1", "iat": 5}, id="client"),
        pytest.param({"iss": "I", "sub": "s", "client_id": "", "azp": "c1", "iat": 5}, id="azp"),
        pytest.param({"iss": "I", "sub": "s", "client_id": 3, "azp": "c1", "iat": 5}, id="azp-non-str-client"),
        pytest.param({"iss": "I", "jti": ["j1"], "sub": {"s1": 1}, "iat": 5}, id="non-str"),
        pytest.param({"iss": "J", "jti": "j1", "sub": "s1", "iat": 5}, id="other-issuer"),
        pytest.param({"iss": ["I"], "jti": "j1"}, id="unhashable-issuer"),
        pytest.param({"jti": "j1"}, id="no-issuer"),
        pytest.param({"iss": "I", "sub": "s1", "iat": float("nan")}, id="nan-iat"),
    ],
)
def test_check_claims_answers_as_check(claims):
    index = RevocationIndex(max_records=10, token_grace=60, cutoff_lifetime=3600)
    index.add("token", "I", "j1", 100, 0)
    index.add("subject", "I", "s1", 10, 0)
    index.add("client", "I", "c1", 10, 0)
    client = claims.get("client_id")
    if not isinstance(client, str) or not client:
        client = claims.get("azp")
    issuer = claims.get("iss")
    expected = (
        index.check(issuer, claims.get("jti"), claims.get("sub"), client, claims.get("iat"))
        if isinstance(issuer, str)
        else None
    )
    assert index.check_claims(claims) == expected


def test_from_env_builds_a_redis_store_the_verifier_owns(redis_server, issuer):
    environ = {
        "JWT_GUARD_ISSUER": issuer.issuer,
        "JWT_GUARD_AUDIENCE": issuer.audience,
        "JWT_GUARD_REVOCATION_REDIS_URL": redis_server.url,
        "JWT_GUARD_REVOCATION_PREFIX": "envtest:",
        "JWT_GUARD_REVOCATION_STORE_FAILURE": "open",
        "JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME": "3600",
        "JWT_GUARD_REVOCATION_FAILURE_GRACE": "2.5",
        "JWT_GUARD_LEEWAY": "90",
    }
    verifier = Verifier.from_env(environ=environ, keys=issuer.jwks())
    store = verifier.revocation
    assert isinstance(store, RedisStore)
    assert (store.store_failure, store.max_token_lifetime, store.clock_skew) == ("open", 3600.0, 90.0)
    assert "envtest:" in repr(store)
    assert store.failure_grace == 2.5
    assert store.wait_ready(30)
    verifier.close()
    assert not store.ready  # built from the environment: closed with the verifier

    # A leeway given in code is covered too.
    verifier = Verifier.from_env(environ={**environ, "JWT_GUARD_LEEWAY": "0"}, keys=issuer.jwks(), leeway=200)
    assert verifier.revocation is not None and verifier.revocation.clock_skew == 200.0
    verifier.close()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param({"JWT_GUARD_REVOCATION_PREFIX": "p:"}, "JWT_GUARD_REVOCATION_REDIS_URL is not set", id="no-url"),
        pytest.param(
            {"JWT_GUARD_REVOCATION_REDIS_URL": "http://127.0.0.1:6379"},
            "JWT_GUARD_REVOCATION_REDIS_URL: url must be a redis://",
            id="bad-url",
        ),
        pytest.param(
            {"JWT_GUARD_REVOCATION_REDIS_URL": "redis://127.0.0.1:1/0", "JWT_GUARD_REVOCATION_STORE_FAILURE": "maybe"},
            "JWT_GUARD_REVOCATION_STORE_FAILURE: store_failure must be",
            id="bad-policy",
        ),
        pytest.param(
            {"JWT_GUARD_REVOCATION_REDIS_URL": "redis://127.0.0.1:1/0", "JWT_GUARD_REVOCATION_PREFIX": "p" * 300},
            "JWT_GUARD_REVOCATION_PREFIX: prefix must be",
            id="long-prefix",
        ),
        pytest.param(
            {
                "JWT_GUARD_REVOCATION_REDIS_URL": "redis://127.0.0.1:1/0",
                "JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME": "-5",
            },
            "JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME: max_token_lifetime must be",
            id="negative-lifetime",
        ),
        pytest.param(
            {"JWT_GUARD_REVOCATION_REDIS_URL": "redis://127.0.0.1:1/0", "JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME": "x"},
            "JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME: must be a number",
            id="lifetime-not-a-number",
        ),
        pytest.param(
            {"JWT_GUARD_REVOCATION_REDIS_URL": "redis://127.0.0.1:1/0", "JWT_GUARD_REVOCATION_FAILURE_GRACE": "0"},
            "JWT_GUARD_REVOCATION_FAILURE_GRACE: failure_grace must be a positive",
            id="zero-grace",
        ),
        pytest.param(
            {"JWT_GUARD_REVOCATION_URL": "redis://x"}, "did you mean JWT_GUARD_REVOCATION_REDIS_URL", id="typo"
        ),
    ],
)
def test_from_env_names_the_variable_at_fault(issuer, environ, message):
    base = {"JWT_GUARD_ISSUER": issuer.issuer, "JWT_GUARD_AUDIENCE": issuer.audience}
    with pytest.raises(ConfigurationError, match=message):
        Verifier.from_env(environ={**base, **environ}, keys=issuer.jwks())


# -- through the adapters ---------------------------------------------------------------------


def test_wsgi_answers_401_for_a_revoked_token_and_503_while_the_store_cannot_vouch(
    make_redis_store, dead_redis_url, issuer
):
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    from jwt_guard.wsgi import JWTGuardMiddleware

    def app(environ, start_response):
        return Response(environ["jwt_guard.token"].subject)(environ, start_response)

    store = MemoryStore()
    client = Client(JWTGuardMiddleware(app, verifier=issuer.verifier(revocation=store)))
    raw = issuer.token(sub="alice", jti="j-1")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/", headers=headers).get_data(as_text=True) == "alice"
    store.revoke_token("j-1", issuer=issuer.issuer, expires_at=time.time() + 300)
    refused = client.get("/", headers=headers)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert refused.json == {"error": "invalid_token", "error_description": "the access token has been revoked"}

    unreachable = make_redis_store(dead_redis_url, ready=False, retry_after=3)
    client = Client(JWTGuardMiddleware(app, verifier=issuer.verifier(revocation=unreachable)))
    unavailable = client.get("/", headers=headers)
    assert unavailable.status_code == 503
    assert unavailable.headers["Retry-After"] == "3"
    assert "WWW-Authenticate" not in unavailable.headers


async def test_asgi_answers_401_for_a_revoked_token_and_503_while_the_store_cannot_vouch(
    make_redis_store, dead_redis_url, issuer
):
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from jwt_guard.asgi import JWTGuardMiddleware, get_access_token

    async def me(request: Request) -> PlainTextResponse:
        token = get_access_token(request)
        assert token is not None
        return PlainTextResponse(token.subject)

    def app(verifier: Verifier) -> JWTGuardMiddleware:
        return JWTGuardMiddleware(Starlette(routes=[Route("/", me)]), verifier=verifier)

    store = MemoryStore()
    raw = issuer.token(sub="alice", jti="j-1")
    headers = {"Authorization": f"Bearer {raw}"}
    transport = httpx.ASGITransport(app=app(issuer.verifier(revocation=store)))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        assert (await client.get("/", headers=headers)).text == "alice"
        store.revoke_token("j-1", issuer=issuer.issuer, expires_at=time.time() + 300)
        refused = await client.get("/", headers=headers)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    unreachable = make_redis_store(dead_redis_url, ready=False, retry_after=3)
    transport = httpx.ASGITransport(app=app(issuer.verifier(revocation=unreachable)))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        unavailable = await client.get("/", headers=headers)
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "3"
    assert "www-authenticate" not in unavailable.headers


async def test_opaque_tokens_from_introspection_are_checked_too(verify):
    """An introspected token (answer cached or not) meets the same records as a JWT."""
    from jwt_guard import Introspection
    from jwt_guard.testing import IntrospectionEndpoint, mock_transport

    issuer = LocalIssuer()
    server = issuer.key_server(introspection=IntrospectionEndpoint(issuer, clients={"api": "secret"}))
    store = MemoryStore()
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        transport=mock_transport(server),
        async_transport=mock_transport(server),
        introspection=Introspection(client_id="api", client_secret="secret"),
        revocation=store,
    )
    try:
        opaque = issuer.opaque_token(sub="alice", client_id="app")
        token = await verify(verifier, opaque)  # introspected, and its answer cached
        assert (token.subject, token.issuer) == ("alice", issuer.issuer)
        store.revoke_client("app", issuer=issuer.issuer, before=time.time() + 1)
        assert type(await refusal(verify, verifier, opaque)) is TokenRevoked
    finally:
        await verifier.aclose()
