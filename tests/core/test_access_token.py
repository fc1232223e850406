"""The verified result (jwt_guard.AccessToken): immutable, typed accessors, safe repr, picklable."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping
from datetime import datetime, timezone

import pytest

from jwt_guard import AccessToken

RAW = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2VjcmV0LXNpZ25hdHVyZQ"
CLAIMS = {
    "iss": "https://issuer.example.test/",
    "sub": "user-1",
    "aud": ["https://api.example.test", "https://other.example.test"],
    "exp": 1_800_000_300,
    "iat": 1_800_000_000,
    "nbf": 1_799_999_990,
    "jti": "token-id-1",
    "client_id": "client-1",
    "azp": "azp-1",
    "scope": "read write",
    "realm_access": {"roles": ["admin"]},
}
HEADER = {"alg": "RS256", "typ": "at+jwt", "kid": "k1"}


def make(claims: Mapping | None = None, *, scopes=frozenset({"read", "write"}), raw: str = RAW) -> AccessToken:
    return AccessToken(claims=dict(CLAIMS if claims is None else claims), header=dict(HEADER), scopes=scopes, raw=raw)


def test_accessors():
    token = make()
    assert token.subject == "user-1"
    assert token.issuer == "https://issuer.example.test/"
    assert token.audience == ("https://api.example.test", "https://other.example.test")
    assert token.expires_at == datetime(2027, 1, 15, 8, 5, tzinfo=timezone.utc)
    assert token.issued_at == datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc)
    assert token.not_before == datetime(2027, 1, 15, 7, 59, 50, tzinfo=timezone.utc)
    assert token.token_id == "token-id-1"
    assert token.client_id == "client-1"
    assert token.raw == RAW
    assert token.scopes == frozenset({"read", "write"})
    assert token["sub"] == "user-1"
    assert token.get("realm_access") == {"roles": ["admin"]}
    assert token.get("absent") is None
    assert token.get("absent", "default") == "default"


def test_getitem_missing_claim():
    with pytest.raises(KeyError):
        make()["absent"]


@pytest.mark.parametrize("name", ["expires_at", "issued_at", "not_before"])
def test_datetimes_are_aware_utc(name):
    value = getattr(make(), name)
    assert isinstance(value, datetime)
    assert value.tzinfo is not None
    assert value.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param(
            {"exp": 1_800_000_300.25}, datetime(2027, 1, 15, 8, 5, 0, 250000, tzinfo=timezone.utc), id="float"
        ),
        pytest.param({"exp": 0}, datetime(1970, 1, 1, tzinfo=timezone.utc), id="epoch"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_expires_at(claims, expected):
    assert make({"iss": "i", **claims}).expires_at == expected


@pytest.mark.parametrize(
    ("aud", "expected"),
    [
        pytest.param("https://api.example.test", ("https://api.example.test",), id="string"),
        pytest.param(["a", "b"], ("a", "b"), id="list"),
        pytest.param([], (), id="empty-list"),
        pytest.param(None, (), id="absent"),
    ],
)
def test_audience_is_a_tuple(aud, expected):
    claims = {"iss": "i"} if aud is None else {"iss": "i", "aud": aud}
    audience = make(claims).audience
    assert isinstance(audience, tuple)
    assert audience == expected


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param({"client_id": "c", "azp": "a"}, "c", id="client_id-first"),
        pytest.param({"azp": "a"}, "a", id="azp-fallback"),
        pytest.param({}, None, id="neither"),
    ],
)
def test_client_id(claims, expected):
    assert make({"iss": "i", **claims}).client_id == expected


@pytest.mark.parametrize("name", ["subject", "token_id", "client_id", "expires_at", "issued_at", "not_before"])
def test_optional_accessors_are_none_when_absent(name):
    assert getattr(make({"iss": "i"}), name) is None


@pytest.mark.parametrize(
    "name",
    [
        "claims",
        "header",
        "scopes",
        "subject",
        "issuer",
        "audience",
        "expires_at",
        "issued_at",
        "not_before",
        "token_id",
        "client_id",
        "raw",
    ],
)
def test_attributes_cannot_be_assigned_or_deleted(name):
    token = make()
    before = getattr(token, name)
    with pytest.raises(AttributeError):
        setattr(token, name, "changed")
    with pytest.raises(AttributeError):
        delattr(token, name)
    assert getattr(token, name) == before


def test_no_new_attributes():
    token = make()
    with pytest.raises(AttributeError):
        token.is_admin = True
    assert not hasattr(token, "__dict__")


@pytest.mark.parametrize("name", ["claims", "header"])
def test_mappings_are_read_only(name):
    mapping = getattr(make(), name)
    assert isinstance(mapping, Mapping)
    with pytest.raises(TypeError):
        mapping["alg"] = "none"
    with pytest.raises(TypeError):
        del mapping[next(iter(mapping))]
    with pytest.raises(AttributeError):
        mapping.update({"x": 1})
    with pytest.raises(AttributeError):
        mapping.pop("x", None)


def test_mappings_reflect_the_token():
    token = make()
    assert dict(token.claims) == CLAIMS
    assert dict(token.header) == HEADER


def test_scopes_is_a_frozenset():
    token = make()
    assert type(token.scopes) is frozenset
    with pytest.raises(AttributeError):
        token.scopes.add("admin")


@pytest.mark.parametrize(
    ("scopes", "asked", "all_of", "any_of"),
    [
        pytest.param({"read", "write"}, ("read",), True, True, id="one-held"),
        pytest.param({"read", "write"}, ("read", "write"), True, True, id="all-held"),
        pytest.param({"read", "write"}, ("read", "admin"), False, True, id="one-missing"),
        pytest.param({"read", "write"}, ("admin",), False, False, id="none-held"),
        pytest.param({"read"}, (), True, False, id="nothing-asked"),
        pytest.param(set(), ("read",), False, False, id="no-scopes"),
        pytest.param({"Read"}, ("read",), False, False, id="case-sensitive"),
    ],
)
def test_has_scopes(scopes, asked, all_of, any_of):
    token = make(scopes=frozenset(scopes))
    assert token.has_scopes(*asked) is all_of
    assert token.has_any_scope(*asked) is any_of


def test_repr_never_contains_the_raw_token():
    token = make()
    text = repr(token)
    assert RAW not in text
    for segment in RAW.split("."):
        assert segment not in text
    assert "user-1" in text
    assert text.startswith("AccessToken(")
    assert str(token) == text


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(protocol):
    token = make()
    copy_ = pickle.loads(pickle.dumps(token, protocol=protocol))
    assert isinstance(copy_, AccessToken)
    assert copy_ is not token
    assert dict(copy_.claims) == dict(token.claims)
    assert dict(copy_.header) == dict(token.header)
    assert copy_.scopes == token.scopes
    assert copy_.raw == token.raw
    assert copy_.expires_at == token.expires_at
    assert copy_.client_id == token.client_id
    with pytest.raises(TypeError):
        copy_.claims["sub"] = "other"


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_copy(copier):
    token = make()
    duplicate = copier(token)
    assert duplicate.raw == token.raw
    assert dict(duplicate.claims) == dict(token.claims)


def test_verified_token_is_an_access_token(issuer, make_verifier):
    """What Verifier returns is this class, with the accessors filled from the token."""
    raw = issuer.token(scope="read", sub="alice", jti="j-1")
    token = make_verifier().verify(raw)
    assert isinstance(token, AccessToken)
    assert token.raw == raw
    assert token.subject == "alice"
    assert token.token_id == "j-1"
    assert token.client_id == "test-client"
    assert token.audience == (issuer.audience,)
    assert token.issuer == issuer.issuer
    assert token.expires_at == datetime.fromtimestamp(issuer.clock() + issuer.token_lifetime, tz=timezone.utc)
    assert token.header["alg"] == "RS256"
    assert raw not in repr(token)
