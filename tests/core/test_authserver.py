"""The development authorization server (jwt_guard.testing.AuthorizationServer):
metadata, registration, the auto-approving authorization endpoint, PKCE, the
code and refresh grants, resource indicators, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from jwt_guard import Verifier
from jwt_guard.testing import AuthorizationServer, FakeClock, LocalIssuer, mock_transport

REDIRECT = "http://127.0.0.1:9/callback"
RESOURCE = "https://api.example.test/mcp"


class Flow:
    """Drives an :class:`AuthorizationServer` through an in-process transport."""

    def __init__(self, auth: AuthorizationServer) -> None:
        self.auth = auth
        self.http = httpx.Client(transport=mock_transport(auth.key_server()))

    def register(self, **metadata: Any) -> httpx.Response:
        metadata.setdefault("redirect_uris", [REDIRECT])
        return self.http.post(self.auth.registration_endpoint, json=metadata)

    def client(self, **metadata: Any) -> dict[str, Any]:
        response = self.register(**metadata)
        assert response.status_code == 201, response.text
        return response.json()

    def authorize(self, client: dict[str, Any], **params: Any) -> httpx.Response:
        query = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT,
            "state": "xyz",
            "code_challenge_method": "S256",
            **params,
        }
        query = {name: value for name, value in query.items() if value is not None}
        return self.http.get(self.auth.authorization_endpoint + "?" + urlencode(query))

    def code(self, client: dict[str, Any], **params: Any) -> tuple[str, str]:
        """A fresh code and its PKCE verifier."""
        verifier = secrets.token_urlsafe(48)
        params.setdefault("code_challenge", challenge(verifier))
        answer = redirected(self.authorize(client, **params))
        assert "code" in answer, answer
        return answer["code"], verifier

    def token(self, client: dict[str, Any], form: dict[str, Any], *, auth: str = "basic") -> httpx.Response:
        form = {name: value for name, value in form.items() if value is not None}
        headers = {}
        if auth == "basic" and client.get("client_secret"):
            raw = f"{client['client_id']}:{client['client_secret']}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(raw).decode()
        else:
            form.setdefault("client_id", client["client_id"])
        return self.http.post(self.auth.token_endpoint, data=form, headers=headers)

    def exchange(self, client: dict[str, Any], code: str, verifier: str, **form: Any) -> httpx.Response:
        base = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
        return self.token(client, {**base, **form})


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def redirected(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {name: values[0] for name, values in parse_qs(location.query).items()}


def refused(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000)


@pytest.fixture
def auth(clock) -> AuthorizationServer:
    return AuthorizationServer(LocalIssuer(clock=clock), subject="alice")


@pytest.fixture
def flow(auth) -> Flow:
    return Flow(auth)


# -- metadata ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/.well-known/oauth-authorization-server/issuer", id="rfc8414-path-insertion"),
        pytest.param("/issuer/.well-known/openid-configuration", id="openid-discovery"),
    ],
)
def test_metadata(flow, auth, path):
    document = flow.http.get("http://127.0.0.1" + path).json()
    assert document["issuer"] == auth.issuer.issuer == "http://127.0.0.1/issuer"
    assert document["authorization_endpoint"] == "http://127.0.0.1/issuer/oauth/authorize"
    assert document["token_endpoint"] == "http://127.0.0.1/issuer/oauth/token"
    assert document["registration_endpoint"] == "http://127.0.0.1/issuer/oauth/register"
    assert document["jwks_uri"] == "http://127.0.0.1/.well-known/jwks.json"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert document["authorization_response_iss_parameter_supported"] is True
    assert "scopes_supported" not in document


def test_metadata_lists_configured_scopes(clock):
    auth = AuthorizationServer(LocalIssuer(clock=clock), scopes_supported=["read", "write"])
    assert auth.metadata()["scopes_supported"] == ["read", "write"]


# -- registration (RFC 7591) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "secret"),
    [
        pytest.param(None, True, id="default-client-secret-basic"),
        pytest.param("client_secret_basic", True, id="basic"),
        pytest.param("client_secret_post", True, id="post"),
        pytest.param("none", False, id="public-client"),
    ],
)
def test_registration(flow, clock, method, secret):
    metadata = {"client_name": "tool", "scope": "read", "grant_types": ["authorization_code", "refresh_token"]}
    if method is not None:
        metadata["token_endpoint_auth_method"] = method
    response = flow.register(**metadata)
    assert response.status_code == 201
    info = response.json()
    assert info["token_endpoint_auth_method"] == (method or "client_secret_basic")
    assert ("client_secret" in info) is secret
    assert info["redirect_uris"] == [REDIRECT]
    assert info["client_name"] == "tool" and info["scope"] == "read"
    assert info["client_id_issued_at"] == int(clock())
    assert info["grant_types"] == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(b"not json", "invalid_client_metadata", id="not-json"),
        pytest.param(b"[1, 2]", "invalid_client_metadata", id="not-an-object"),
        pytest.param(b"{}", "invalid_redirect_uri", id="no-redirect-uris"),
        pytest.param(b'{"redirect_uris": []}', "invalid_redirect_uri", id="empty-redirect-uris"),
        pytest.param(b'{"redirect_uris": "http://x/cb"}', "invalid_redirect_uri", id="redirect-uris-not-list"),
        pytest.param(b'{"redirect_uris": [5]}', "invalid_redirect_uri", id="redirect-uri-not-string"),
        pytest.param(b'{"redirect_uris": ["/cb"]}', "invalid_redirect_uri", id="relative-redirect-uri"),
        pytest.param(b'{"redirect_uris": ["http:///cb"]}', "invalid_redirect_uri", id="http-without-host"),
        pytest.param(b'{"redirect_uris": ["http://x/cb#f"]}', "invalid_redirect_uri", id="fragment"),
        pytest.param(
            b'{"redirect_uris": ["http://x/cb"], "token_endpoint_auth_method": "private_key_jwt"}',
            "invalid_client_metadata",
            id="unsupported-auth-method",
        ),
        pytest.param(
            b'{"redirect_uris": ["http://x/cb"], "grant_types": ["implicit"]}',
            "invalid_client_metadata",
            id="unsupported-grant",
        ),
        pytest.param(
            b'{"redirect_uris": ["http://x/cb"], "response_types": ["token"]}',
            "invalid_client_metadata",
            id="implicit-response-type",
        ),
    ],
)
def test_registration_refusals(flow, auth, body, error):
    response = flow.http.post(auth.registration_endpoint, content=body, headers={"content-type": "application/json"})
    refused(response, error)


def test_register_in_process_and_custom_scheme_redirects(auth):
    info = auth.register({"redirect_uris": ["com.example.app:/callback"], "token_endpoint_auth_method": "none"})
    assert info["redirect_uris"] == ["com.example.app:/callback"] and "client_secret" not in info
    with pytest.raises(ValueError, match="invalid_redirect_uri"):
        auth.register({"redirect_uris": []})


# -- the code flow ------------------------------------------------------------------


def test_code_flow_issues_a_token_for_the_resource(flow, auth, clock):
    client = flow.client(grant_types=["authorization_code", "refresh_token"])
    code, verifier = flow.code(client, resource=RESOURCE, scope="read write")
    response = flow.exchange(client, code, verifier, resource=RESOURCE)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == auth.issuer.token_lifetime
    assert body["scope"] == "read write" and body["refresh_token"]
    verifier_ = Verifier(issuer=auth.issuer.issuer, audience=RESOURCE, keys=auth.issuer.jwks(), clock=clock)
    token = verifier_.verify(body["access_token"])
    assert token.audience == (RESOURCE,)
    assert token.subject == "alice"
    assert token.client_id == client["client_id"]
    assert token.scopes == {"read", "write"}
    assert auth.issued == [dict(token.claims)]


def test_authorization_response_carries_state_and_issuer(flow, auth):
    """RFC 9207: the redirect names the issuer, so clients can detect mix-ups."""
    answer = redirected(flow.authorize(flow.client(), code_challenge=challenge("v" * 43)))
    assert answer["state"] == "xyz" and answer["iss"] == auth.issuer.issuer and answer["code"]
    no_state = redirected(flow.authorize(flow.client(), code_challenge=challenge("v" * 43), state=None))
    assert "state" not in no_state


def test_redirect_uri_with_a_query_keeps_it(flow):
    uri = REDIRECT + "?session=1"
    client = flow.client(redirect_uris=[uri])
    response = flow.authorize(client, redirect_uri=uri, code_challenge=challenge("v" * 43))
    assert parse_qs(urlsplit(response.headers["location"]).query)["session"] == ["1"]


def test_single_redirect_uri_may_be_omitted(flow):
    client = flow.client()
    code, verifier = flow.code(client, redirect_uri=None)
    assert flow.exchange(client, code, verifier, redirect_uri=None).status_code == 200


@pytest.mark.parametrize(
    ("resource", "token_resource", "audience"),
    [
        pytest.param(RESOURCE, None, RESOURCE, id="authorize-only"),
        pytest.param(None, RESOURCE, RESOURCE, id="token-only"),
        pytest.param(None, None, "https://api.example.test", id="neither-default-audience"),
    ],
)
def test_resource_indicator_sets_audience(flow, auth, resource, token_resource, audience):
    client = flow.client()
    code, verifier = flow.code(client, resource=resource)
    response = flow.exchange(client, code, verifier, resource=token_resource)
    assert response.status_code == 200, response.text
    assert auth.issued[-1]["aud"] == audience


def test_extra_claims_are_added(clock):
    auth = AuthorizationServer(LocalIssuer(clock=clock), extra_claims={"acr": "mfa", "auth_time": 1})
    flow = Flow(auth)
    client = flow.client()
    code, verifier = flow.code(client)
    assert flow.exchange(client, code, verifier).status_code == 200
    assert auth.issued[-1]["acr"] == "mfa" and auth.issued[-1]["auth_time"] == 1


# -- authorization endpoint refusals ---------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
        pytest.param({"response_type": None}, "unsupported_response_type", id="no-response-type"),
        pytest.param({"code_challenge": None}, "invalid_request", id="no-pkce"),
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="plain-pkce"),
        pytest.param({"code_challenge_method": None}, "invalid_request", id="no-challenge-method"),
        pytest.param({"code_challenge": "short"}, "invalid_request", id="short-challenge"),
        pytest.param({"code_challenge": "=" * 43}, "invalid_request", id="challenge-bad-chars"),
        pytest.param({"resource": "/relative"}, "invalid_target", id="relative-resource"),
        pytest.param({"resource": RESOURCE + "#x"}, "invalid_target", id="resource-fragment"),
        pytest.param({"scope": "read  write"}, "invalid_scope", id="empty-scope-token"),
        pytest.param({"scope": 'a"b'}, "invalid_scope", id="scope-quote"),
    ],
)
def test_authorization_errors_redirect_back(flow, params, error):
    params.setdefault("code_challenge", challenge("v" * 43))
    answer = redirected(flow.authorize(flow.client(), **params))
    assert answer["error"] == error and answer["state"] == "xyz" and "code" not in answer


def test_unknown_scope_when_scopes_are_configured(clock):
    flow = Flow(AuthorizationServer(LocalIssuer(clock=clock), scopes_supported=["read"]))
    client = flow.client()
    assert "code" in redirected(flow.authorize(client, code_challenge=challenge("v" * 43), scope="read"))
    answer = redirected(flow.authorize(client, code_challenge=challenge("v" * 43), scope="read admin"))
    assert answer["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param({"client_id": "nobody"}, "invalid_client", id="unknown-client"),
        pytest.param({"redirect_uri": "http://evil.example/cb"}, "invalid_request", id="unregistered-redirect"),
        pytest.param({"redirect_uri": REDIRECT + "/"}, "invalid_request", id="redirect-trailing-slash"),
    ],
)
def test_errors_that_never_redirect(flow, params, error):
    """RFC 6749 §4.1.2.1: without a verified client and redirect URI the
    error is shown, not sent to the unverified redirect URI."""
    refused(flow.authorize(flow.client(), code_challenge=challenge("v" * 43), **params), error)


def test_redirect_uri_required_with_several_registered(flow):
    client = flow.client(redirect_uris=[REDIRECT, "http://127.0.0.1:9/other"])
    refused(flow.authorize(client, code_challenge=challenge("v" * 43), redirect_uri=None), "invalid_request")


def test_duplicate_parameters_are_refused(flow, auth):
    client = flow.client()
    query = f"client_id={client['client_id']}&client_id={client['client_id']}&response_type=code"
    refused(flow.http.get(f"{auth.authorization_endpoint}?{query}"), "invalid_request")
    form = "grant_type=authorization_code&code=a&code=b"
    response = flow.http.post(
        auth.token_endpoint, content=form, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    refused(response, "invalid_request")


# -- token endpoint refusals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"code_verifier": "x" * 43}, "invalid_grant", id="wrong-verifier"),
        pytest.param({"code_verifier": None}, "invalid_grant", id="no-verifier"),
        pytest.param({"code_verifier": "short"}, "invalid_grant", id="short-verifier"),
        pytest.param({"code_verifier": "é" * 43}, "invalid_grant", id="non-ascii-verifier"),
        pytest.param({"code": "forged"}, "invalid_grant", id="unknown-code"),
        pytest.param({"redirect_uri": "http://127.0.0.1:9/other"}, "invalid_grant", id="other-redirect"),
        pytest.param({"resource": "https://other.example/mcp"}, "invalid_target", id="other-resource"),
        pytest.param({"scope": "admin"}, "invalid_scope", id="wider-scope"),
    ],
)
def test_code_exchange_refusals(flow, change, error):
    client = flow.client()
    code, verifier = flow.code(client, resource=RESOURCE, scope="read")
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
    refused(flow.token(client, {**form, **change}), error)


def test_code_is_single_use_even_after_a_failed_attempt(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    refused(flow.exchange(client, code, "y" * 43), "invalid_grant")
    refused(flow.exchange(client, code, verifier), "invalid_grant")
    code, verifier = flow.code(client)
    assert flow.exchange(client, code, verifier).status_code == 200
    refused(flow.exchange(client, code, verifier), "invalid_grant")


def test_code_expires(flow, auth, clock):
    client = flow.client()
    code, verifier = flow.code(client)
    clock.advance(auth.code_lifetime + 1)
    refused(flow.exchange(client, code, verifier), "invalid_grant")


def test_code_of_another_client(flow):
    first, second = flow.client(), flow.client()
    code, verifier = flow.code(first)
    refused(flow.exchange(second, code, verifier), "invalid_grant")


@pytest.mark.parametrize(
    ("method", "how", "status"),
    [
        pytest.param("client_secret_basic", "basic", 200, id="basic"),
        pytest.param("client_secret_basic", "wrong-secret", 401, id="basic-wrong-secret"),
        pytest.param("client_secret_basic", "post", 401, id="basic-client-sent-post"),
        pytest.param("client_secret_post", "post", 200, id="post"),
        pytest.param("client_secret_post", "no-secret", 401, id="post-without-secret"),
        pytest.param("none", "id-only", 200, id="public"),
        pytest.param("none", "post", 401, id="public-sending-a-secret"),
    ],
)
def test_client_authentication(flow, method, how, status):
    client = flow.client(token_endpoint_auth_method=method)
    code, verifier = flow.code(client)
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
    if how == "wrong-secret":
        client = {**client, "client_secret": "wrong"}
    if how in ("post", "no-secret", "id-only"):
        form["client_secret"] = client.get("client_secret", "made-up") if how == "post" else None
        response = flow.token(client, form, auth="post")
    else:
        response = flow.token(client, form)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")


def test_unknown_client_at_the_token_endpoint(flow):
    response = flow.token({"client_id": "nobody"}, {"grant_type": "authorization_code", "code": "x"}, auth="post")
    refused(response, "invalid_client", 401)


def test_client_credentials_still_answered_by_the_key_server(flow, auth):
    response = flow.token({"client_id": "svc"}, {"grant_type": "client_credentials", "scope": "read"}, auth="post")
    assert response.status_code == 200 and response.json()["scope"] == "read"
    other = flow.token({"client_id": "svc"}, {"grant_type": "password"}, auth="post")
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"
    assert auth.issued == []


# -- refresh tokens --------------------------------------------------------------------


def refresh_form(token: str, **extra: Any) -> dict[str, Any]:
    return {"grant_type": "refresh_token", "refresh_token": token, **extra}


def test_refresh_rotates_and_keeps_the_grant(flow, auth):
    client = flow.client(grant_types=["authorization_code", "refresh_token"])
    code, verifier = flow.code(client, resource=RESOURCE, scope="read write")
    first = flow.exchange(client, code, verifier).json()["refresh_token"]
    narrowed = flow.token(client, refresh_form(first, scope="read", resource=RESOURCE))
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "read"
    assert auth.issued[-1]["aud"] == RESOURCE and auth.issued[-1]["scope"] == "read"
    refused(flow.token(client, refresh_form(first)), "invalid_grant")  # rotated away
    second = narrowed.json()["refresh_token"]
    wide = flow.token(client, refresh_form(second))
    assert wide.status_code == 200 and wide.json()["scope"] == "read write"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        pytest.param({"scope": "admin"}, "invalid_scope", id="wider-scope"),
        pytest.param({"resource": "https://other.example/mcp"}, "invalid_target", id="other-resource"),
        pytest.param({"refresh_token": "forged"}, "invalid_grant", id="unknown"),
    ],
)
def test_refresh_refusals(flow, extra, error):
    client = flow.client(grant_types=["authorization_code", "refresh_token"])
    code, verifier = flow.code(client, resource=RESOURCE, scope="read")
    token = flow.exchange(client, code, verifier).json()["refresh_token"]
    refused(flow.token(client, {**refresh_form(token), **extra}), error)


def test_refresh_token_expires(flow, auth, clock):
    client = flow.client(grant_types=["authorization_code", "refresh_token"])
    code, verifier = flow.code(client)
    token = flow.exchange(client, code, verifier).json()["refresh_token"]
    clock.advance(auth.refresh_token_lifetime + 1)
    refused(flow.token(client, refresh_form(token)), "invalid_grant")


def test_refresh_token_of_another_client(flow):
    first = flow.client(grant_types=["authorization_code", "refresh_token"])
    second = flow.client(grant_types=["authorization_code", "refresh_token"])
    code, verifier = flow.code(first)
    token = flow.exchange(first, code, verifier).json()["refresh_token"]
    refused(flow.token(second, refresh_form(token)), "invalid_grant")


def test_no_refresh_token_without_the_grant(flow, clock):
    client = flow.client()  # RFC 7591 default: authorization_code only
    code, verifier = flow.code(client)
    assert "refresh_token" not in flow.exchange(client, code, verifier).json()
    refused(flow.token(client, refresh_form("anything")), "unauthorized_client")
    quiet = Flow(AuthorizationServer(LocalIssuer(clock=clock), refresh_tokens=False))
    client = quiet.client(grant_types=["authorization_code", "refresh_token"])
    code, verifier = quiet.code(client)
    assert "refresh_token" not in quiet.exchange(client, code, verifier).json()


def test_records_are_bounded(clock):
    auth = AuthorizationServer(LocalIssuer(clock=clock), max_records=3)
    flow = Flow(auth)
    clients = [flow.client() for _ in range(5)]
    refused(flow.authorize(clients[0], code_challenge=challenge("v" * 43)), "invalid_client")
    for _ in range(5):
        code, verifier = flow.code(clients[-1])
        assert flow.exchange(clients[-1], code, verifier).status_code == 200
    assert len(auth.issued) == 3


def test_other_paths_fall_through(flow, auth):
    assert auth.respond("GET", "http://127.0.0.1/issuer/oauth/token", {}, b"") is None
    assert auth.respond("POST", "http://127.0.0.1/issuer/oauth/authorize", {}, b"") is None
    assert flow.http.get("http://127.0.0.1/elsewhere").status_code == 404
    assert flow.http.get("http://127.0.0.1/.well-known/jwks.json").json()["keys"]
    assert "alice" in repr(auth)
