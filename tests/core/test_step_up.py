"""Step-up authentication (RFC 9470): the rule in jwt_guard._step_up, the
Requirement that carries it, the error and its challenge, and the record
decorators leave on endpoints."""

from __future__ import annotations

import functools
import math

import pytest

from jwt_guard import (
    AccessToken,
    InsufficientScope,
    InsufficientUserAuthentication,
    MissingToken,
    Requirement,
    render_error,
)
from jwt_guard._auth_syntax import parse_challenges
from jwt_guard._endpoint import REQUIREMENTS_ATTRIBUTE, EndpointCheck, record_requirement, requirements_of
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY, Responder
from jwt_guard._step_up import check_acr_values, check_max_age, step_up_refusal

NOW = 1_800_000_000


def token(claims=None, *scopes: str) -> AccessToken:
    claims = {"iss": "i", **(claims or {})}
    return AccessToken(claims=claims, header={"alg": "RS256"}, scopes=frozenset(scopes), raw="a.b.c")


def refusal(claims, acr_values=(), max_age=None, *, now=NOW, leeway=0.0):
    return step_up_refusal(claims, tuple(acr_values), max_age, now=now, leeway=leeway)


# -- the rule -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "passes"),
    [
        pytest.param({"acr": "mfa"}, True, id="listed"),
        pytest.param({"acr": "hwk"}, True, id="second-listed"),
        pytest.param({"acr": "pwd"}, False, id="not-listed"),
        pytest.param({}, False, id="absent"),
        pytest.param({"acr": None}, False, id="null"),
        pytest.param({"acr": ["mfa"]}, False, id="list"),
        pytest.param({"acr": {"mfa": 1}}, False, id="object"),
        pytest.param({"acr": 1}, False, id="number"),
        pytest.param({"acr": True}, False, id="bool"),
        pytest.param({"acr": "MFA"}, False, id="case-differs"),
        pytest.param({"acr": "mfa "}, False, id="trailing-space"),
        pytest.param({"acr": "mfa" * 100_000}, False, id="very-long"),
        pytest.param({"acr": "\u0000mfa"}, False, id="control-character"),
    ],
)
def test_acr_must_be_a_listed_string(claims, passes):
    error = refusal(claims, ["mfa", "hwk"])
    if passes:
        assert error is None
    else:
        assert isinstance(error, InsufficientUserAuthentication)
        assert error.acr_values == ("mfa", "hwk") and error.max_age is None
        assert error.description == "a different authentication level is required"


@pytest.mark.parametrize(
    ("auth_time", "leeway", "passes"),
    [
        pytest.param(NOW, 0, True, id="now"),
        pytest.param(NOW - 300, 0, True, id="exactly-max-age"),
        pytest.param(NOW - 301, 0, False, id="one-second-too-old"),
        pytest.param(NOW - 330, 30, True, id="old-within-leeway"),
        pytest.param(NOW - 331, 30, False, id="old-beyond-leeway"),
        pytest.param(NOW - 300.5, 0, False, id="fraction-too-old"),
        pytest.param(float(NOW - 10), 0, True, id="float"),
        pytest.param(NOW + 30, 30, True, id="future-within-leeway"),
        pytest.param(NOW + 31, 30, False, id="future-beyond-leeway"),
        pytest.param(10**400, 0, False, id="huge-int"),
        pytest.param(-(10**400), 0, False, id="huge-negative-int"),
        pytest.param(1e308, 0, False, id="huge-float"),
        pytest.param(math.inf, 0, False, id="infinity"),
        pytest.param(-math.inf, 0, False, id="minus-infinity"),
        pytest.param(math.nan, 0, False, id="nan"),
        pytest.param(True, 0, False, id="bool"),
        pytest.param(str(NOW), 0, False, id="string"),
        pytest.param(None, 0, False, id="null"),
        pytest.param([NOW], 0, False, id="list"),
        pytest.param(0, 0, False, id="epoch"),
    ],
)
def test_auth_time_must_be_a_recent_finite_number(auth_time, leeway, passes):
    error = refusal({"auth_time": auth_time}, max_age=300, leeway=leeway)
    if passes:
        assert error is None
    else:
        assert isinstance(error, InsufficientUserAuthentication)
        assert error.max_age == 300 and error.acr_values == ()
        assert error.description == "a more recent authentication is required"


def test_missing_auth_time_fails_max_age():
    assert isinstance(refusal({}, max_age=3600), InsufficientUserAuthentication)


def test_max_age_zero_demands_an_authentication_now():
    assert refusal({"auth_time": NOW}, max_age=0) is None
    assert isinstance(refusal({"auth_time": NOW - 1}, max_age=0), InsufficientUserAuthentication)
    assert refusal({"auth_time": NOW - 5}, max_age=0, leeway=5) is None


def test_both_demands_are_named_whichever_fails():
    """One new authentication must satisfy the whole requirement: the challenge names both."""
    weak = refusal({"acr": "pwd", "auth_time": NOW}, ["mfa"], 60)
    old = refusal({"acr": "mfa", "auth_time": NOW - 61}, ["mfa"], 60)
    for error in (weak, old):
        assert isinstance(error, InsufficientUserAuthentication)
        assert error.acr_values == ("mfa",) and error.max_age == 60
    assert weak.description != old.description
    assert refusal({"acr": "mfa", "auth_time": NOW - 60}, ["mfa"], 60) is None


def test_no_demand_lets_any_token_in():
    assert refusal({}) is None


# -- validation at decoration time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("acr_values", "exception", "message"),
    [
        pytest.param("mfa", TypeError, "not a string", id="bare-string"),
        pytest.param(3, TypeError, "list of strings", id="not-iterable"),
        pytest.param([], ValueError, "must not be empty", id="empty"),
        pytest.param([b"mfa"], TypeError, "not bytes", id="bytes"),
        pytest.param([None], TypeError, "not NoneType", id="none"),
        pytest.param(["a b"], ValueError, "space", id="space"),
        pytest.param(['a"b'], ValueError, "quote", id="quote"),
        pytest.param(["a\\b"], ValueError, "backslash", id="backslash"),
        pytest.param(["caf\u00e9"], ValueError, "non-ASCII", id="non-ascii"),
        pytest.param([""], ValueError, "acr value ''", id="empty-value"),
    ],
)
def test_acr_values_misuse(acr_values, exception, message):
    with pytest.raises(exception, match=message) as info:
        check_acr_values(acr_values, "require_auth")
    assert type(info.value) is exception
    assert str(info.value).startswith("require_auth()")


def test_acr_values_kept_in_order_without_duplicates():
    assert check_acr_values(["urn:mace:incommon:iap:silver", "mfa", "mfa"], "x") == (
        "urn:mace:incommon:iap:silver",
        "mfa",
    )
    assert check_acr_values(None, "x") == ()
    assert check_acr_values(iter(["a"]), "x") == ("a",)


@pytest.mark.parametrize(
    ("max_age", "exception"),
    [
        pytest.param(True, TypeError, id="bool"),
        pytest.param(1.5, TypeError, id="float"),
        pytest.param("60", TypeError, id="string"),
        pytest.param(-1, ValueError, id="negative"),
        pytest.param(2**31, ValueError, id="beyond-ceiling"),
        pytest.param(10**400, ValueError, id="huge"),
    ],
)
def test_max_age_misuse(max_age, exception):
    with pytest.raises(exception, match="max_age"):
        check_max_age(max_age, "require_auth")


@pytest.mark.parametrize("max_age", [None, 0, 1, 2**31 - 1])
def test_max_age_accepted(max_age):
    assert check_max_age(max_age, "require_auth") == max_age


def test_require_auth_without_parentheses_is_a_type_error():
    def view(request):
        return request

    with pytest.raises(TypeError, match=r"use @require_auth\(acr_values"):
        Requirement.for_step_up("require_auth", (view,), scopes=(), acr_values=None, max_age=None)


def test_for_step_up_validates_everything():
    with pytest.raises(ValueError, match="not a scope token"):
        Requirement.for_step_up("require_auth", (), scopes=["a b"], acr_values=None, max_age=None)
    requirement = Requirement.for_step_up("require_auth", (), scopes=["read"], acr_values=["mfa"], max_age=5)
    assert (requirement.scopes, requirement.acr_values, requirement.max_age) == (("read",), ("mfa",), 5)
    assert repr(requirement) == "Requirement(('read',), any_of=False, acr_values=('mfa',), max_age=5)"


# -- Requirement.refusal: scopes first, then the user authentication -----------------------------


def test_requirement_checks_scopes_before_step_up():
    requirement = Requirement(["admin"], acr_values=["mfa"], max_age=60)
    assert isinstance(requirement.refusal(None), MissingToken)
    assert isinstance(requirement.refusal(token({"acr": "pwd"})), InsufficientScope)
    stale = token({"acr": "mfa", "auth_time": 0}, "admin")
    assert isinstance(requirement.refusal(stale), InsufficientUserAuthentication)


def test_requirement_reads_the_clock_and_leeway_of_the_verifier(make_verifier, clock):
    verifier = make_verifier(leeway=10)
    requirement = Requirement(max_age=60)
    fresh_by_fake_clock = token({"auth_time": clock() - 65})
    assert requirement.refusal(fresh_by_fake_clock, verifier=verifier) is None
    stale = token({"auth_time": clock() - 71})
    assert isinstance(requirement.refusal(stale, verifier=verifier), InsufficientUserAuthentication)
    # Without a verifier: the system clock, far from the fake one, and no leeway.
    assert isinstance(requirement.refusal(fresh_by_fake_clock), InsufficientUserAuthentication)


def test_endpoint_check_uses_the_responder_verifier(make_verifier, clock):
    verifier = make_verifier(leeway=0)
    check = EndpointCheck(Requirement(max_age=60), "view")
    values = {TOKEN_KEY: token({"auth_time": clock() - 30}), RESPONDER_KEY: Responder(verifier=verifier)}
    assert check.refusal(values) is None
    values[TOKEN_KEY] = token({"auth_time": clock() - 61})
    assert isinstance(check.refusal(values), InsufficientUserAuthentication)


# -- the error and its challenge ------------------------------------------------------------------


def test_challenge_carries_acr_values_and_max_age():
    error = InsufficientUserAuthentication(acr_values=("mfa", "urn:x:hwk"), max_age=300)
    challenge = render_error(error, realm="api", resource_metadata="https://api.example.test/.well-known/x")
    assert challenge.status_code == 401
    [(scheme, params)] = parse_challenges(challenge.header("www-authenticate"))
    assert scheme == "Bearer"
    assert params == {
        "realm": "api",
        "error": "insufficient_user_authentication",
        "error_description": error.description,
        "acr_values": "mfa urn:x:hwk",
        "max_age": "300",
        "resource_metadata": "https://api.example.test/.well-known/x",
    }
    assert challenge.header("www-authenticate") == (
        'Bearer realm="api", error="insufficient_user_authentication", '
        f'error_description="{error.description}", acr_values="mfa urn:x:hwk", max_age="300", '
        'resource_metadata="https://api.example.test/.well-known/x"'
    )


@pytest.mark.parametrize(
    ("acr_values", "max_age", "present", "absent"),
    [
        pytest.param(("mfa",), None, "acr_values", "max_age", id="acr-only"),
        pytest.param((), 0, "max_age", "acr_values", id="max-age-only"),
    ],
)
def test_challenge_names_only_what_is_demanded(acr_values, max_age, present, absent):
    header = render_error(InsufficientUserAuthentication(acr_values=acr_values, max_age=max_age)).header(
        "www-authenticate"
    )
    [(_, params)] = parse_challenges(header)
    assert present in params and absent not in params


def test_description_override_keeps_the_demands():
    error = InsufficientUserAuthentication("log in with your key", acr_values=["hwk"])
    assert error.description == "log in with your key" and error.acr_values == ("hwk",)


# -- the record on decorated endpoints ------------------------------------------------------------


def test_requirements_are_recorded_innermost_first():
    inner, outer = Requirement(["a"]), Requirement(acr_values=["mfa"])

    def view(request):
        return request

    @functools.wraps(view)
    def first(request):
        return view(request)

    record_requirement(first, inner)

    @functools.wraps(first)
    def second(request):
        return first(request)

    record_requirement(second, outer)
    assert requirements_of(second) == (inner, outer)
    assert getattr(second, REQUIREMENTS_ATTRIBUTE) == (inner, outer)
    assert requirements_of(first) == (inner,)
    assert requirements_of(view) == ()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(["read"], id="list"),
        pytest.param(("read",), id="tuple-of-strings"),
        pytest.param(Requirement(["read"]), id="bare-requirement"),
    ],
)
def test_only_a_tuple_of_requirements_counts(value):
    def view():
        return None

    setattr(view, REQUIREMENTS_ATTRIBUTE, value)
    assert requirements_of(view) == ()
