"""Claim rules (jwt_guard._claims): time, issuer, audience, types, required claims, typ, scopes."""

from __future__ import annotations

import math

import pytest

from jwt_guard._access_token import AccessToken
from jwt_guard._claims import MAX_NUMERIC_DATE, ClaimRules, extract_scopes
from jwt_guard._config import build_settings, parse_scope_claims
from jwt_guard.errors import (
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidTokenType,
    MissingClaim,
    NotYetValid,
)

ISS = "https://issuer.example.test/"
AUD = "https://api.example.test"
NOW = 1_800_000_000
LEEWAY = 60


def rules(**options) -> ClaimRules:
    settings = {
        "issuer": ISS,
        "audience": AUD,
        "has_static_keys": True,
        "leeway": LEEWAY,
        "result_cache_size": 0,
    }
    settings.update(options)
    return ClaimRules(build_settings(**settings))


def claims(**changes) -> dict:
    """Valid claims at NOW; a change to None removes the claim."""
    result = {"iss": ISS, "aud": AUD, "sub": "user-1", "iat": NOW, "nbf": NOW, "exp": NOW + 300}
    result.update(changes)
    return {name: value for name, value in result.items() if value is not None}


def check(token_claims: dict, now: float = NOW, **options) -> tuple[float, float]:
    return rules(**options).check(token_claims, now)


def accepts(token_claims: dict, now: float = NOW, **options) -> None:
    """The claims pass, and the returned window (used by the result cache) contains *now*."""
    not_before, not_after = check(token_claims, now, **options)
    assert not_before <= now < not_after


def test_valid_claims_pass():
    assert check(claims()) == (NOW - LEEWAY, NOW + 300 + LEEWAY)


# -- exp -----------------------------------------------------------------------------------


def test_exp_required_by_default():
    with pytest.raises(MissingClaim, match="exp"):
        check(claims(exp=None))


def test_exp_optional_when_configured():
    not_before, not_after = check(claims(exp=None), require_exp=False)
    assert not_after == math.inf
    assert not_before == NOW - LEEWAY


def test_exp_still_checked_when_optional():
    with pytest.raises(ExpiredToken):
        check(claims(exp=NOW - LEEWAY - 1, iat=NOW - 600, nbf=None), require_exp=False)


# (claim changes, now, leeway, expected error or None)
TIME_TABLE = [
    # exp: refused on or after exp + leeway (RFC 7519 §4.1.4).
    pytest.param({"exp": NOW}, NOW + LEEWAY - 1, LEEWAY, None, id="exp-one-second-inside-leeway"),
    pytest.param({"exp": NOW}, NOW + LEEWAY - 0.001, LEEWAY, None, id="exp-just-inside-leeway"),
    pytest.param({"exp": NOW}, NOW + LEEWAY, LEEWAY, ExpiredToken, id="exp-exactly-at-leeway-edge"),
    pytest.param({"exp": NOW}, NOW + LEEWAY + 1, LEEWAY, ExpiredToken, id="exp-past-leeway"),
    pytest.param({"exp": NOW, "nbf": None, "iat": None}, NOW - 1, 0, None, id="exp-no-leeway-before"),
    pytest.param({"exp": NOW}, NOW, 0, ExpiredToken, id="exp-no-leeway-at-exp"),
    pytest.param({"exp": NOW + 0.5}, NOW, 0, None, id="exp-fractional"),
    pytest.param({"exp": NOW + 0.5}, NOW + 0.5, 0, ExpiredToken, id="exp-fractional-at-edge"),
    # nbf: refused before nbf - leeway.
    pytest.param({"nbf": NOW + LEEWAY}, NOW, LEEWAY, None, id="nbf-exactly-at-leeway-edge"),
    pytest.param({"nbf": NOW + LEEWAY + 1}, NOW, LEEWAY, NotYetValid, id="nbf-one-past-leeway"),
    pytest.param({"nbf": NOW + LEEWAY + 0.001}, NOW, LEEWAY, NotYetValid, id="nbf-just-past-leeway"),
    pytest.param({"nbf": NOW}, NOW, 0, None, id="nbf-no-leeway-at-nbf"),
    pytest.param({"nbf": NOW + 1}, NOW, 0, NotYetValid, id="nbf-no-leeway-before"),
    # iat: refused when it lies in the future beyond the leeway.
    pytest.param({"iat": NOW + LEEWAY, "nbf": None}, NOW, LEEWAY, None, id="iat-exactly-at-leeway-edge"),
    pytest.param({"iat": NOW + LEEWAY + 1, "nbf": None}, NOW, LEEWAY, NotYetValid, id="iat-past-leeway"),
    pytest.param({"iat": NOW, "nbf": None}, NOW, 0, None, id="iat-no-leeway-now"),
    pytest.param({"iat": NOW + 0.5, "nbf": None}, NOW, 0, NotYetValid, id="iat-no-leeway-future"),
    pytest.param({"iat": NOW - 10**6, "nbf": None}, NOW, LEEWAY, None, id="iat-old-without-max-age"),
    # Absent nbf and iat are fine.
    pytest.param({"iat": None, "nbf": None}, NOW, LEEWAY, None, id="no-iat-no-nbf"),
]


@pytest.mark.parametrize(("changes", "now", "leeway", "error"), TIME_TABLE)
def test_time_claims(changes, now, leeway, error):
    if error is None:
        accepts(claims(**changes), now, leeway=leeway)
    else:
        with pytest.raises(error) as info:
            check(claims(**changes), now, leeway=leeway)
        assert type(info.value) is error


@pytest.mark.parametrize(
    ("iat", "now", "error"),
    [
        pytest.param(NOW, NOW + 3600 + LEEWAY - 1, None, id="inside-age-and-leeway"),
        pytest.param(NOW, NOW + 3600 + LEEWAY, ExpiredToken, id="exactly-at-edge"),
        pytest.param(NOW, NOW + 3600 + LEEWAY + 1, ExpiredToken, id="past-edge"),
        pytest.param(None, NOW, MissingClaim, id="iat-required"),
    ],
)
def test_max_token_age(iat, now, error):
    token_claims = claims(iat=iat, exp=NOW + 86400)
    if error is None:
        _, not_after = check(token_claims, now, max_token_age=3600)
        assert not_after == NOW + 3600 + LEEWAY
    else:
        with pytest.raises(error):
            check(token_claims, now, max_token_age=3600)


def test_max_token_age_too_old_description():
    with pytest.raises(ExpiredToken, match="too old"):
        check(claims(exp=NOW + 86400), NOW + 7200, max_token_age=3600)


def test_window_is_the_tighter_of_exp_and_age():
    _, not_after = check(claims(exp=NOW + 100), max_token_age=3600)
    assert not_after == NOW + 100 + LEEWAY


BAD_NUMERIC_DATES = [
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(str(NOW + 300), id="numeric-string"),
    pytest.param("", id="empty-string"),
    pytest.param(-1, id="negative"),
    pytest.param(-0.5, id="negative-fraction"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="infinity"),
    pytest.param(float("-inf"), id="minus-infinity"),
    pytest.param(1e300, id="1e300"),
    pytest.param(10**30, id="huge-int"),
    pytest.param(MAX_NUMERIC_DATE + 1, id="after-year-9999"),
    pytest.param(None, id="null"),
    pytest.param([NOW], id="list"),
    pytest.param({"t": NOW}, id="object"),
]


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", BAD_NUMERIC_DATES)
def test_numeric_date_validation(claim, value):
    """A NumericDate (RFC 7519 §2) is a non-negative JSON number within datetime range."""
    token_claims = claims()
    token_claims[claim] = value
    with pytest.raises(InvalidClaim, match="NumericDate") as info:
        check(token_claims)
    assert type(info.value) is InvalidClaim


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        pytest.param("exp", MAX_NUMERIC_DATE, id="exp-year-9999"),
        pytest.param("exp", float(NOW + 300), id="exp-float"),
        pytest.param("nbf", 0, id="nbf-epoch"),
        pytest.param("iat", 0, id="iat-epoch"),
        pytest.param("iat", NOW - 0.25, id="iat-float"),
    ],
)
def test_numeric_date_edges_accepted(claim, value):
    token_claims = claims()
    token_claims[claim] = value
    accepts(token_claims)


def test_max_numeric_date_is_the_end_of_year_9999():
    from datetime import datetime, timezone

    assert datetime.fromtimestamp(MAX_NUMERIC_DATE, tz=timezone.utc) == datetime(
        9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc
    )


# -- iss ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        pytest.param("https://issuer.example.test", id="trailing-slash-missing"),
        pytest.param("https://issuer.example.test//", id="extra-slash"),
        pytest.param("HTTPS://ISSUER.EXAMPLE.TEST/", id="case"),
        pytest.param("https://Issuer.example.test/", id="host-case"),
        pytest.param(" https://issuer.example.test/", id="leading-space"),
        pytest.param("https://issuer.example.test/ ", id="trailing-space"),
        pytest.param("https://issuer.example.test/x", id="longer-path"),
        pytest.param("https://issuer.example.test.evil/", id="suffix-domain"),
        pytest.param("http://issuer.example.test/", id="http"),
        pytest.param("", id="empty"),
        pytest.param(None, id="missing"),
        pytest.param([ISS], id="list"),
        pytest.param({"iss": ISS}, id="object"),
        pytest.param(1, id="number"),
    ],
)
def test_issuer_exact_match(iss):
    with pytest.raises(InvalidIssuer):
        check(claims(iss=iss))


@pytest.mark.parametrize("iss", ["https://a.example.test/", "https://b.example.test/tenant"])
def test_any_configured_issuer_matches(iss):
    configured = ["https://a.example.test/", "https://b.example.test/tenant"]
    accepts(claims(iss=iss), issuer=configured)
    assert rules(issuer=configured).check_issuer({"iss": iss}) == iss


@pytest.mark.parametrize(
    "token_claims",
    [
        pytest.param({}, id="missing"),
        pytest.param({"iss": "https://c.example.test/"}, id="other"),
        pytest.param({"iss": ["https://a.example.test/"]}, id="list"),
    ],
)
def test_check_issuer(token_claims):
    with pytest.raises(InvalidIssuer):
        rules(issuer=["https://a.example.test/"]).check_issuer(token_claims)


# -- aud ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param(AUD, id="string"),
        pytest.param([AUD], id="list-one"),
        pytest.param(["https://other.example.test", AUD], id="list-with-others"),
        pytest.param([AUD, AUD], id="list-duplicated"),
    ],
)
def test_audience_accepted(aud):
    accepts(claims(aud=aud))


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param(None, id="missing"),
        pytest.param([], id="empty-list"),
        pytest.param("", id="empty-string"),
        pytest.param([AUD, 1], id="list-with-number"),
        pytest.param([AUD, None], id="list-with-null"),
        pytest.param([[AUD]], id="nested-list"),
        pytest.param({AUD: True}, id="object"),
        pytest.param(1, id="number"),
        pytest.param(True, id="bool"),
        pytest.param(AUD + "/", id="trailing-slash"),
        pytest.param(AUD.upper(), id="case"),
        pytest.param(AUD[:-1], id="prefix"),
        pytest.param(AUD + ".evil", id="suffix"),
        pytest.param(" " + AUD, id="leading-space"),
        pytest.param(f"{AUD} other", id="space-separated"),
        pytest.param(["https://other.example.test"], id="list-without"),
    ],
)
def test_audience_refused(aud):
    """A missing aud fails when an audience is configured (python-jose would let it pass)."""
    with pytest.raises(InvalidAudience):
        check(claims(aud=aud))


@pytest.mark.parametrize(
    ("aud", "ok"),
    [
        pytest.param("https://one.example.test", True, id="first"),
        pytest.param(["x", "https://two.example.test"], True, id="second-in-list"),
        pytest.param("https://three.example.test", False, id="neither"),
    ],
)
def test_several_configured_audiences(aud, ok):
    configured = ["https://one.example.test", "https://two.example.test"]
    if ok:
        accepts(claims(aud=aud), audience=configured)
    else:
        with pytest.raises(InvalidAudience):
            check(claims(aud=aud), audience=configured)


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param(None, id="missing"),
        pytest.param("anything", id="other"),
        pytest.param([], id="empty-list"),
    ],
)
def test_audience_check_disabled_explicitly(aud):
    """audience=None skips the check (Cognito access tokens carry client_id instead)."""
    accepts(claims(aud=aud), audience=None)


# -- required claims and claim types ----------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "changes", "error"),
    [
        pytest.param(("tenant",), {"tenant": "t1"}, None, id="present"),
        pytest.param(("tenant",), {}, MissingClaim, id="absent"),
        pytest.param(("sub", "jti"), {"jti": "j"}, None, id="two-present"),
        pytest.param(("sub", "jti"), {}, MissingClaim, id="second-absent"),
        pytest.param(("sub",), {"sub": None}, MissingClaim, id="sub-absent"),
        pytest.param((), {"sub": None}, None, id="nothing-required"),
    ],
)
def test_required_claims(required, changes, error):
    token_claims = claims(**changes)
    if error is None:
        accepts(token_claims, required_claims=required)
    else:
        with pytest.raises(error):
            check(token_claims, required_claims=required)


@pytest.mark.parametrize("name", ["sub", "jti", "client_id", "azp"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1, id="number"),
        pytest.param(True, id="bool"),
        pytest.param(["x"], id="list"),
        pytest.param({"id": "x"}, id="object"),
        pytest.param(1.5, id="float"),
        pytest.param(None, id="null"),
    ],
)
def test_string_claims_must_be_strings(name, value):
    token_claims = claims()
    token_claims[name] = value
    with pytest.raises(InvalidClaim, match=name):
        check(token_claims)


def test_required_claim_set_to_null_is_missing():
    """JSON null carries nothing: a required claim holding null is missing."""
    token_claims = claims()
    token_claims["tenant"] = None
    with pytest.raises(MissingClaim):
        check(token_claims, required_claims=("tenant",))


# -- client_ids: tokens bound to this API's clients -----------------------------------------------

APPS = ["app-1", "app-2"]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"client_id": "app-1"}, id="client-id"),
        pytest.param({"client_id": "app-2"}, id="second-client-id"),
        pytest.param({"azp": "app-1"}, id="azp"),
        pytest.param({"client_id": "app-1", "azp": "app-2"}, id="both-listed"),
    ],
)
def test_client_ids_accept_listed_clients(changes):
    accepts(claims(aud=None, **changes), audience=None, client_ids=APPS)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"client_id": "other-app"}, InvalidClaim, id="other-client-id"),
        pytest.param({"azp": "other-app"}, InvalidClaim, id="other-azp"),
        pytest.param({"client_id": "app-1", "azp": "other-app"}, InvalidClaim, id="azp-disagrees"),
        pytest.param({"client_id": "other-app", "azp": "app-1"}, InvalidClaim, id="client-id-disagrees"),
        pytest.param({"client_id": "APP-1"}, InvalidClaim, id="case"),
        pytest.param({"client_id": "app-1 "}, InvalidClaim, id="trailing-space"),
        pytest.param({"client_id": ["app-1"]}, InvalidClaim, id="list"),
        pytest.param({}, MissingClaim, id="no-client"),
    ],
)
def test_client_ids_refuse_other_clients(changes, error):
    """An ID token of another app of the same issuer (audience=None, as for
    Cognito) names its client in azp/client_id: only listed clients pass."""
    with pytest.raises(error) as caught:
        check(claims(aud=None, **changes), audience=None, client_ids=APPS)
    assert type(caught.value) is error


def test_client_ids_apply_with_an_audience_too():
    accepts(claims(client_id="app-1"), client_ids=APPS)
    with pytest.raises(InvalidClaim):
        check(claims(client_id="other-app"), client_ids=APPS)


def test_without_client_ids_any_client_passes():
    accepts(claims(client_id="whoever"))


@pytest.mark.parametrize("name", ["sub", "jti", "client_id", "azp"])
def test_string_claims_accept_strings(name):
    token_claims = claims()
    token_claims[name] = "value"
    accepts(token_claims)


# -- typ (RFC 9068 §4) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typ", "strict", "ok"),
    [
        pytest.param(None, False, True, id="absent"),
        pytest.param("JWT", False, True, id="JWT"),
        pytest.param("jwt", False, True, id="jwt-lower"),
        pytest.param("application/jwt", False, True, id="application-jwt"),
        pytest.param("at+jwt", False, True, id="at+jwt"),
        pytest.param("AT+JWT", False, True, id="at+jwt-upper"),
        pytest.param("application/at+jwt", False, True, id="application-at+jwt"),
        pytest.param("Application/AT+JWT", False, True, id="application-at+jwt-mixed-case"),
        pytest.param("JOSE", False, False, id="JOSE"),
        pytest.param("JOSE+JSON", False, False, id="JOSE+JSON"),
        pytest.param("dpop+jwt", False, False, id="dpop+jwt"),
        pytest.param("logout+jwt", False, False, id="logout+jwt"),
        pytest.param("secevent+jwt", False, False, id="secevent+jwt"),
        pytest.param("", False, False, id="empty"),
        pytest.param(" at+jwt", False, False, id="leading-space"),
        pytest.param("application/", False, False, id="bare-application"),
        pytest.param("text/at+jwt", False, False, id="other-media-type"),
        pytest.param(1, False, False, id="number"),
        pytest.param(["at+jwt"], False, False, id="list"),
        pytest.param(None, True, False, id="strict-absent"),
        pytest.param("JWT", True, False, id="strict-JWT"),
        pytest.param("application/jwt", True, False, id="strict-application-jwt"),
        pytest.param("at+jwt", True, True, id="strict-at+jwt"),
        pytest.param("application/at+jwt", True, True, id="strict-application-at+jwt"),
        pytest.param("At+Jwt", True, True, id="strict-mixed-case"),
    ],
)
def test_typ_policy(typ, strict, ok):
    header = {"alg": "RS256"} if typ is None else {"alg": "RS256", "typ": typ}
    if ok:
        assert rules(strict_typ=strict).check_type(header) is None
    else:
        with pytest.raises(InvalidTokenType):
            rules(strict_typ=strict).check_type(header)


# -- scopes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "token_claims", "expected"),
    [
        pytest.param(("scope",), {"scope": "read write"}, {"read", "write"}, id="scope-space-delimited"),
        pytest.param(("scope",), {"scope": "  read   write  "}, {"read", "write"}, id="scope-extra-spaces"),
        pytest.param(("scope",), {"scope": ""}, set(), id="scope-empty"),
        pytest.param(("scope",), {"scope": "read read"}, {"read"}, id="scope-duplicates"),
        pytest.param(("scope",), {"scope": None}, set(), id="scope-null"),
        pytest.param(("scope",), {}, set(), id="scope-absent"),
        pytest.param(("scp",), {"scp": "a b"}, {"a", "b"}, id="scp-string"),
        pytest.param(("scp",), {"scp": ["a", "b"]}, {"a", "b"}, id="scp-list"),
        pytest.param(("scp",), {"scp": []}, set(), id="scp-empty-list"),
        pytest.param(("scp",), {"scp": ["a", ""]}, {"a"}, id="scp-list-empty-item"),
        pytest.param(("scope", "scp"), {"scope": "a", "scp": ["b"]}, {"a", "b"}, id="scope-and-scp-merged"),
        pytest.param(
            ("permissions",),
            {"permissions": ["read:messages", "write:messages"]},
            {"read:messages", "write:messages"},
            id="auth0-permissions",
        ),
        pytest.param(
            ("realm_access.roles",),
            {"realm_access": {"roles": ["admin", "user"]}},
            {"admin", "user"},
            id="keycloak-realm-roles",
        ),
        pytest.param(
            ("resource_access.my-api.roles",),
            {"resource_access": {"my-api": {"roles": ["reader"]}, "other": {"roles": ["x"]}}},
            {"reader"},
            id="keycloak-client-roles",
        ),
        pytest.param(("realm_access.roles",), {"realm_access": {}}, set(), id="nested-absent"),
        pytest.param(("realm_access.roles",), {"realm_access": "roles"}, set(), id="nested-parent-not-object"),
        pytest.param(("realm_access.roles",), {}, set(), id="nested-parent-absent"),
        pytest.param(("a.b.c",), {"a": {"b": {"c": "x y"}}}, {"x", "y"}, id="three-levels-string"),
        pytest.param(
            ("https://example.com/roles",),
            {"https://example.com/roles": ["editor"]},
            {"editor"},
            id="namespaced-url-claim",
        ),
        pytest.param(("cognito:groups",), {"cognito:groups": ["g1"]}, {"g1"}, id="colon-claim"),
        pytest.param(
            ("app.roles",),
            {"app.roles": ["top"], "app": {"roles": ["nested"]}},
            {"top"},
            id="dotted-name-top-level-first",
        ),
        pytest.param(("app.roles",), {"app": {"roles": ["nested"]}}, {"nested"}, id="dotted-name-falls-back-to-path"),
        pytest.param(
            ("scope", "realm_access.roles"), {"scope": "a", "realm_access": {"roles": ["b"]}}, {"a", "b"}, id="mixed"
        ),
    ],
)
def test_extract_scopes(sources, token_claims, expected):
    assert extract_scopes(token_claims, parse_scope_claims(sources)) == frozenset(expected)


@pytest.mark.parametrize(
    ("sources", "token_claims"),
    [
        pytest.param(("scope",), {"scope": 1}, id="number"),
        pytest.param(("scope",), {"scope": True}, id="bool"),
        pytest.param(("scope",), {"scope": {"read": True}}, id="object"),
        pytest.param(("scp",), {"scp": ["a", 1]}, id="list-with-number"),
        pytest.param(("scp",), {"scp": ["a", None]}, id="list-with-null"),
        pytest.param(("scp",), {"scp": [["a"]]}, id="nested-list"),
        pytest.param(("realm_access.roles",), {"realm_access": {"roles": {"admin": 1}}}, id="nested-object"),
        pytest.param(("realm_access.roles",), {"realm_access": {"roles": 5}}, id="nested-number"),
    ],
)
def test_extract_scopes_wrong_types(sources, token_claims):
    with pytest.raises(InvalidClaim) as info:
        extract_scopes(token_claims, parse_scope_claims(sources))
    assert type(info.value) is InvalidClaim


# RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token =
# 1*( %x21 / %x23-5B / %x5D-7E ). Whatever else str.split() would cut at
# (Unicode spaces, tabs, line breaks, \x1c-\x1f) must never make two
# scopes of one item; an item outside the grammar is dropped, never granted.
_SEPARATOR_LOOKALIKES = [
    pytest.param("\u00a0", id="no-break-space"),
    pytest.param("\t", id="tab"),
    pytest.param("\n", id="line-feed"),
    pytest.param("\r", id="carriage-return"),
    pytest.param("\x0b", id="vertical-tab"),
    pytest.param("\x0c", id="form-feed"),
    pytest.param("\x1c", id="file-separator"),
    pytest.param("\x1f", id="unit-separator"),
    pytest.param("\x85", id="next-line"),
    pytest.param("\u1680", id="ogham-space"),
    pytest.param("\u2003", id="em-space"),
    pytest.param("\u2028", id="line-separator"),
    pytest.param("\u2029", id="paragraph-separator"),
    pytest.param("\u202f", id="narrow-no-break-space"),
    pytest.param("\u3000", id="ideographic-space"),
]


@pytest.mark.parametrize("separator", _SEPARATOR_LOOKALIKES)
def test_scope_string_splits_on_the_ascii_space_only(separator):
    """``"read<sep>admin"`` is one malformed item: it grants neither scope."""
    value = f"read{separator}admin"
    assert extract_scopes({"scope": f"openid {value}"}, parse_scope_claims(("scope",))) == {"openid"}


@pytest.mark.parametrize("separator", _SEPARATOR_LOOKALIKES)
def test_scope_list_item_with_a_separator_lookalike_grants_nothing(separator):
    scopes = extract_scopes({"scp": ["openid", f"read{separator}admin"]}, parse_scope_claims(("scp",)))
    assert scopes == {"openid"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("read write", {"read", "write"}, id="plain"),
        pytest.param("read  write", {"read", "write"}, id="double-space"),
        pytest.param(" read write ", {"read", "write"}, id="surrounding-spaces"),
        pytest.param("   ", set(), id="spaces-only"),
        pytest.param("read:messages orders-api/read urn:x!#$%&'()*+,-./:;<=>?@[]^_`{|}~", None, id="every-nqchar"),
        pytest.param('read ad"min', {"read"}, id="double-quote-dropped"),
        pytest.param("read ad\\min", {"read"}, id="backslash-dropped"),
        pytest.param("read adm\x7fin", {"read"}, id="del-dropped"),
        pytest.param("read adm\x00in", {"read"}, id="nul-dropped"),
        pytest.param("read adm\x9bin", {"read"}, id="c1-dropped"),
        pytest.param("read caf\u00e9", {"read"}, id="non-ascii-dropped"),
        pytest.param("read admin\u200b", {"read"}, id="zero-width-dropped"),
        pytest.param("read \uff41dmin", {"read"}, id="fullwidth-dropped"),
    ],
)
def test_scope_string_grammar(value, expected):
    found = extract_scopes({"scope": value}, parse_scope_claims(("scope",)))
    assert found == (set(value.split(" ")) - {""} if expected is None else expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(["read", "write"], {"read", "write"}, id="plain"),
        pytest.param(["read", ""], {"read"}, id="empty-item-dropped"),
        pytest.param(["read admin"], set(), id="item-with-space-dropped"),
        pytest.param(["read", " admin"], {"read"}, id="item-with-leading-space-dropped"),
        pytest.param(["read", 'ad"min'], {"read"}, id="double-quote-dropped"),
        pytest.param(["read", "ad\\min"], {"read"}, id="backslash-dropped"),
        pytest.param(["read", "adm\x7fin"], {"read"}, id="del-dropped"),
        pytest.param(["read", "caf\u00e9"], {"read"}, id="non-ascii-dropped"),
        pytest.param(["orders:read", "Orders.Read.All", "default-roles-acme"], None, id="provider-shapes"),
    ],
)
def test_scope_list_items_obey_the_same_grammar(value, expected):
    found = extract_scopes({"roles": value}, parse_scope_claims(("roles",)))
    assert found == (set(value) if expected is None else expected)


def test_malformed_scope_items_do_not_make_the_token_invalid():
    """Dropping is the policy: the token stays valid with the scopes it does grant."""
    token = rules().build(claims(scope="read ad\u00a0min"), {"alg": "RS256"}, "h.p.s")
    assert token.scopes == {"read"}
    assert not token.has_scopes("admin")


def test_scopes_of_unconfigured_claims_are_ignored():
    assert extract_scopes({"scope": "a", "permissions": ["b"]}, parse_scope_claims(("scope",))) == {"a"}


def test_build_returns_an_access_token():
    token_claims = claims(scope="read write")
    token = rules().build(token_claims, {"alg": "RS256"}, "h.p.s")
    assert isinstance(token, AccessToken)
    assert token.scopes == {"read", "write"}
    assert token.raw == "h.p.s"
    assert token.header["alg"] == "RS256"


def test_build_uses_configured_scope_claims():
    token = rules(scope_claims=("permissions",)).build(
        claims(scope="ignored", permissions=["p"]), {"alg": "RS256"}, "h.p.s"
    )
    assert token.scopes == {"p"}


def test_build_rejects_bad_scope_types():
    with pytest.raises(InvalidClaim):
        rules().build(claims(scope=5), {"alg": "RS256"}, "h.p.s")
