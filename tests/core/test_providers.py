"""The identity-provider recipes of docs/providers.md, verified as written.

For each recipe the test reads the documented header, claims and
configuration, signs the token with a key published under the provider's
issuer, and verifies it with exactly that configuration (through an
``httpx.MockTransport``: discovery and JWKS at the provider's URLs, no
network). Look-alike tokens are refused.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from jwt_guard import (
    AccessToken,
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidSignature,
    InvalidToken,
    Verifier,
)
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, SigningKey, b64url, encode_segments, mock_transport
from tests.conftest import signing_key

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
NOW = 1_800_000_000
_FENCE = re.compile(r"```(?P<lang>\w+)\n(?P<body>.*?)```", re.DOTALL)
_TIME_CLAIMS = ("iat", "nbf", "exp", "auth_time")
# What the page's shared import line gives every snippet ("Verifier" is
# replaced by a stand-in that routes key fetches to the provider's server).
SNIPPET_NAMES: dict[str, Any] = {"AccessToken": AccessToken, "InvalidClaim": InvalidClaim}


@dataclass
class Recipe:
    """One documented recipe: token header and claims, configuration code,
    and the environment-variable form if the doc gives one."""

    title: str
    header: dict[str, Any]
    claims: dict[str, Any]
    code: str
    env: dict[str, str] | None


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    parent = ""
    for part in re.split(r"^(?=#{2,3} )", text, flags=re.MULTILINE):
        heading, _, body = part.partition("\n")
        if heading.startswith("### "):
            sections[f"{parent} / {heading[4:].strip()}"] = body
        elif heading.startswith("## "):
            parent = heading[3:].strip()
            sections[parent] = body
    return sections


def _env(block: str) -> dict[str, str]:
    variables: dict[str, str] = {}
    for line in block.splitlines():
        if line.strip():
            name, _, value = shlex.split(line)[0].partition("=")
            variables[name] = value
    return variables


def load_recipes() -> dict[str, Recipe]:
    recipes: dict[str, Recipe] = {}
    for title, body in _sections(DOC.read_text(encoding="utf-8")).items():
        blocks = [(match["lang"], match["body"]) for match in _FENCE.finditer(body)]
        code = [text for lang, text in blocks if lang == "python"]
        if not code:
            continue
        documents = [json.loads(text) for lang, text in blocks if lang == "json"]
        env = [text for lang, text in blocks if lang == "sh"]
        assert len(code) == 1 and len(documents) == 2 and len(env) <= 1, f"{title}: unexpected blocks"
        recipes[title] = Recipe(title, documents[0], documents[1], code[0], _env(env[0]) if env else None)
    return recipes


RECIPES = load_recipes()


def at_present(claims: dict[str, Any], now: float = NOW) -> dict[str, Any]:
    """The claims with every time moved by the same amount: issued a minute ago."""
    shift = int(now) - 60 - claims["iat"]
    return {name: value + shift if name in _TIME_CLAIMS else value for name, value in claims.items()}


def mint(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Sign *claims* under exactly *header* with the session key for its alg and kid."""
    key = signing_key(header["alg"], header["kid"])
    signing_input = encode_segments(header, claims)
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


class Provider:
    """The provider's key server for one recipe, and a ``Verifier`` stand-in
    that routes the verifier's fetches to it."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.clock = FakeClock(NOW)
        self.servers: list[KeyServer] = []
        self.made: list[Verifier] = []

    def _transport(self, options: dict[str, Any]) -> Any:
        issuers = options["issuer"]
        issuer = LocalIssuer(
            issuers if isinstance(issuers, str) else issuers[0],
            keys=[signing_key(self.recipe.header["alg"], self.recipe.header["kid"])],
        )
        jwks_uri = options.get("jwks_uri")
        server = KeyServer(issuer, jwks_path=urlsplit(jwks_uri).path) if jwks_uri else KeyServer(issuer)
        self.servers.append(server)
        return mock_transport(server)

    def verifier(self, **options: Any) -> Verifier:
        transport = self._transport(options)
        verifier = Verifier(**options, transport=transport, async_transport=transport, clock=self.clock)
        self.made.append(verifier)
        return verifier

    def documented(self) -> Verifier:
        """The verifier the recipe's code builds."""
        namespace: dict[str, Any] = {
            "AccessToken": AccessToken,
            "InvalidClaim": InvalidClaim,
            "Verifier": self.verifier,
        }
        exec(compile(self.recipe.code, f"{DOC.name}: {self.recipe.title}", "exec"), namespace)
        assert isinstance(namespace["verifier"], Verifier)
        return namespace["verifier"]

    def from_env(self, **overrides: Any) -> Verifier:
        assert self.recipe.env is not None
        from jwt_guard._env import options_from_env

        options = options_from_env("JWT_GUARD_", self.recipe.env)
        return self.verifier(**{**options, **overrides})

    def token(self, change: Callable[[dict[str, Any]], None] | None = None) -> str:
        claims = at_present(self.recipe.claims)
        if change is not None:
            change(claims)
        return mint(self.recipe.header, claims)

    def close(self) -> None:
        for verifier in self.made:
            verifier.close()


@pytest.fixture
def provider() -> Any:
    made: list[Provider] = []

    def make(title: str) -> Provider:
        made.append(Provider(RECIPES[title]))
        return made[-1]

    yield make
    for item in made:
        item.close()


# What each documented token yields once verified.
EXPECTED: dict[str, dict[str, Any]] = {
    "Auth0": {
        "subject": "auth0|64b1f0c2e4d5a6b7c8d9e0f1",
        "client_id": "Zx8q4ZUmKX2a9mhGqT5bY1c3",
        "scopes": {"openid", "profile", "email", "read:messages", "write:messages"},
    },
    "Okta": {"subject": "alice@example.com", "client_id": None, "scopes": {"openid", "profile", "orders:read"}},
    "Microsoft Entra ID / v2.0 access tokens": {
        "subject": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
        "client_id": "33334444-dddd-5555-eeee-6666ffff7777",
        "scopes": {"Orders.Read", "Orders.Write", "Orders.Admin"},
    },
    "Microsoft Entra ID / v1.0 access tokens": {
        "subject": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
        "client_id": None,  # v1.0 tokens name the client in appid
        "scopes": {"Orders.Read"},
    },
    "Microsoft Entra ID / Several tenants": {
        "subject": "55556666-ffff-7777-aaaa-8888bbbb9999",
        "client_id": "33334444-dddd-5555-eeee-6666ffff7777",
        "scopes": {"Orders.Read.All"},
    },
    "Keycloak": {
        "subject": "0c4d1e7a-2b3f-4a5c-8d9e-1f2a3b4c5d6e",
        "client_id": "web-shop",
        "scopes": {
            "openid",
            "profile",
            "email",
            "default-roles-acme",
            "offline_access",
            "uma_authorization",
            "customer",
            "orders:read",
        },
    },
    "Amazon Cognito": {
        "subject": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "client_id": "1example23456789abcdefghij",
        "scopes": {"openid", "profile", "orders-api/read"},
    },
    "Google": {"subject": "112233445566778899000", "client_id": "112233445566778899000", "scopes": set()},
}


def test_every_documented_recipe_is_tested():
    assert set(RECIPES) == set(EXPECTED)


def test_the_documented_providers_are_all_there():
    providers = {title.split(" / ")[0] for title in RECIPES}
    assert providers == {"Auth0", "Okta", "Microsoft Entra ID", "Keycloak", "Amazon Cognito", "Google"}


@pytest.mark.parametrize("title", [pytest.param(title, id=title.replace(" ", "-")) for title in EXPECTED])
def test_documented_token_verifies_with_documented_configuration(provider, title):
    source = provider(title)
    verifier = source.documented()
    token = verifier.verify(source.token())
    expected = EXPECTED[title]
    assert token.issuer == RECIPES[title].claims["iss"]
    assert token.subject == expected["subject"]
    assert token.client_id == expected["client_id"]
    assert token.scopes == expected["scopes"]
    assert not verifier.verify(source.token()).has_scopes("not-granted")


@pytest.mark.anyio
@pytest.mark.parametrize("title", [pytest.param(title, id=title.replace(" ", "-")) for title in EXPECTED])
async def test_documented_configuration_works_async(provider, title):
    source = provider(title)
    verifier = source.documented()
    assert (await verifier.verify_async(source.token())).scopes == EXPECTED[title]["scopes"]
    await verifier.aclose()


@pytest.mark.parametrize(
    "title", [pytest.param(title, id=title.replace(" ", "-")) for title, recipe in RECIPES.items() if recipe.env]
)
def test_environment_form_is_equivalent(provider, title):
    source = provider(title)
    overrides: dict[str, Any] = {}
    if title == "Amazon Cognito":
        namespace: dict[str, Any] = {
            "AccessToken": AccessToken,
            "InvalidClaim": InvalidClaim,
            "Verifier": lambda **_: None,
        }
        exec(source.recipe.code, namespace)
        overrides["validators"] = [namespace["cognito_access_token"]]
    verifier = source.from_env(**overrides)
    assert verifier.verify(source.token()).scopes == EXPECTED[title]["scopes"]
    documented = source.documented()
    assert (verifier.issuers, verifier.audiences, verifier.algorithms, verifier.settings.client_ids) == (
        documented.issuers,
        documented.audiences,
        documented.algorithms,
        documented.settings.client_ids,
    )


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(claims: dict[str, Any]) -> None:
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value

    return change


def _expired(claims: dict[str, Any]) -> None:
    claims["exp"] = NOW - 3600


def _as_cognito_id_token(claims: dict[str, Any]) -> None:
    client = claims.pop("client_id")
    claims.update(token_use="id", aud=client, email="alice@example.com")


ENTRA_V2 = "Microsoft Entra ID / v2.0 access tokens"
ENTRA_V1 = "Microsoft Entra ID / v1.0 access tokens"
ENTRA_MULTI = "Microsoft Entra ID / Several tenants"
OTHER_TENANT = "https://login.microsoftonline.com/ccccdddd-2222-eeee-3333-ffff4444aaaa/v2.0"


@pytest.mark.parametrize(
    ("title", "change", "error"),
    [
        pytest.param("Auth0", _set("iss", "https://example-tenant.us.auth0.com"), InvalidIssuer, id="auth0-no-slash"),
        pytest.param(
            "Auth0", _set("aud", "https://example-tenant.us.auth0.com/userinfo"), InvalidAudience, id="auth0-userinfo"
        ),
        pytest.param("Auth0", _expired, ExpiredToken, id="auth0-expired"),
        pytest.param("Okta", _set("iss", "https://example.okta.com"), InvalidIssuer, id="okta-org-server"),
        pytest.param("Okta", _set("aud", "api://other"), InvalidAudience, id="okta-other-audience"),
        pytest.param(ENTRA_V2, _set("iss", OTHER_TENANT), InvalidIssuer, id="entra-v2-other-tenant"),
        pytest.param(
            ENTRA_V2,
            _set("iss", "https://sts.windows.net/aaaabbbb-0000-cccc-1111-dddd2222eeee/"),
            InvalidIssuer,
            id="entra-v2-config-refuses-v1",
        ),
        pytest.param(ENTRA_V2, _set("aud", "api://orders"), InvalidAudience, id="entra-v2-app-id-uri"),
        pytest.param(ENTRA_V1, _set("aud", "00000003-0000-0000-c000-000000000000"), InvalidAudience, id="entra-graph"),
        pytest.param(ENTRA_MULTI, _set("iss", OTHER_TENANT), InvalidIssuer, id="entra-unlisted-tenant"),
        pytest.param("Keycloak", _set("aud", "account"), InvalidAudience, id="keycloak-no-audience-mapper"),
        pytest.param("Keycloak", _set("iss", "https://keycloak.example.com/realms/other"), InvalidIssuer, id="realm"),
        pytest.param("Amazon Cognito", _as_cognito_id_token, InvalidClaim, id="cognito-id-token"),
        pytest.param("Amazon Cognito", _set("client_id", "another-app-client"), InvalidClaim, id="cognito-client"),
        pytest.param("Amazon Cognito", _set("token_use", None), InvalidClaim, id="cognito-no-token-use"),
        pytest.param(
            "Google", _set("email", "intruder@evil.iam.gserviceaccount.com"), InvalidClaim, id="google-caller"
        ),
        pytest.param("Google", _set("email_verified", False), InvalidClaim, id="google-unverified-email"),
        pytest.param("Google", _set("aud", "https://other.example.com"), InvalidAudience, id="google-audience"),
    ],
)
def test_look_alike_tokens_are_refused(provider, title, change, error):
    source = provider(title)
    verifier = source.documented()
    with pytest.raises(error) as caught:
        verifier.verify(source.token(change))
    assert isinstance(caught.value, InvalidToken)


def test_cognito_recipe_binds_tokens_to_its_app_clients(provider, caplog):
    """No aud in Cognito access tokens: client_ids is what ties a token to
    this API, so the recipe sets it (and the start-up warning stays away)."""
    import logging

    source = provider("Amazon Cognito")
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        verifier = source.documented()
    assert verifier.audiences is None
    assert verifier.settings.client_ids == ("1example23456789abcdefghij",)
    assert "audience check is off" not in caplog.text
    with pytest.raises(InvalidClaim, match="another client"):
        verifier.verify(source.token(_set("client_id", "another-app-client")))


def test_entra_tenants_share_one_key_set(provider):
    """Both listed tenants verify; one JWKS fetch serves them and no discovery is made."""
    source = provider(ENTRA_MULTI)
    verifier = source.documented()
    first = "https://login.microsoftonline.com/aaaabbbb-0000-cccc-1111-dddd2222eeee/v2.0"
    assert verifier.verify(source.token(_set("iss", first))).issuer == first
    assert verifier.verify(source.token()).issuer == RECIPES[ENTRA_MULTI].claims["iss"]
    (server,) = source.servers
    assert server.jwks_requests == 1
    assert server.discovery_requests == 0


def test_entra_unlisted_tenant_costs_no_fetch(provider):
    source = provider(ENTRA_MULTI)
    verifier = source.documented()
    with pytest.raises(InvalidIssuer):
        verifier.verify(source.token(_set("iss", OTHER_TENANT)))
    assert source.servers[0].count() == 0


def test_entra_app_only_v2_token_reads_roles(provider):
    """Client-credentials tokens carry application permissions in roles and no scp."""
    source = provider(ENTRA_V2)

    def app_only(claims: dict[str, Any]) -> None:
        claims.pop("scp")
        claims["roles"] = ["Orders.Read.All"]

    assert source.documented().verify(source.token(app_only)).scopes == {"Orders.Read.All"}


def test_entra_migration_accepts_both_formats(provider):
    """The documented migration: both issuers and audiences with one jwks_uri."""
    v1 = provider(ENTRA_V1)
    tenant = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
    verifier = v1.verifier(
        issuer=[f"https://sts.windows.net/{tenant}/", f"https://login.microsoftonline.com/{tenant}/v2.0"],
        audience=["api://orders", "11112222-bbbb-3333-cccc-4444dddd5555"],
        jwks_uri=f"https://login.microsoftonline.com/{tenant}/discovery/keys",
        scope_claims=("scp", "roles"),
    )
    v2_claims = at_present(RECIPES[ENTRA_V2].claims)
    assert verifier.verify(v1.token()).scopes == {"Orders.Read"}
    assert verifier.verify(mint(RECIPES[ENTRA_V2].header, v2_claims)).has_scopes("Orders.Write")


def test_keys_come_from_the_providers_urls(provider):
    """Discovery is fetched at <issuer>/.well-known/openid-configuration."""
    source = provider("Amazon Cognito")
    source.documented().verify(source.token())
    (server,) = source.servers
    paths = [request.path for request in server.requests]
    assert paths == ["/us-east-1_Example/.well-known/openid-configuration", "/.well-known/jwks.json"]


def test_recipes_refuse_tokens_of_another_key(provider):
    source = provider("Okta")
    verifier = source.documented()
    recipe = RECIPES["Okta"]
    impostor = SigningKey("RS256", kid=recipe.header["kid"], private_key=signing_key("PS256").private_key)
    signing_input = encode_segments(recipe.header, at_present(recipe.claims))
    forged = f"{signing_input}.{b64url(impostor.sign(signing_input.encode()))}"
    with pytest.raises(InvalidSignature):
        verifier.verify(forged)


def test_snippets_get_what_the_shared_import_line_gives():
    intro = DOC.read_text(encoding="utf-8").split("\n## ")[0]
    (imports,) = [match["body"] for match in _FENCE.finditer(intro) if match["lang"] == "python"]
    namespace: dict[str, Any] = {}
    exec(imports, namespace)
    assert {name: namespace[name] for name in SNIPPET_NAMES} == SNIPPET_NAMES
    assert namespace["Verifier"] is Verifier
