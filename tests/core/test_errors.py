"""The error tree (jwt_guard.errors): HTTP meaning, RFC 6750 codes, challenges."""

from __future__ import annotations

import pytest

import jwt_guard
from jwt_guard import errors
from jwt_guard.errors import (
    AuthError,
    ConfigurationError,
    CrossOriginRequest,
    ExpiredToken,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidRequest,
    InvalidSignature,
    InvalidToken,
    InvalidTokenType,
    JWTGuardError,
    KeySetUnavailable,
    MalformedToken,
    MissingClaim,
    MissingToken,
    NotYetValid,
    StoreUnavailable,
    TemporarilyUnavailable,
    TokenRevoked,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
)

# (class, direct parent, status_code, RFC 6750 error code)
TREE = [
    pytest.param(AuthError, JWTGuardError, 401, None, id="AuthError"),
    pytest.param(MissingToken, AuthError, 401, None, id="MissingToken"),
    pytest.param(InvalidRequest, AuthError, 400, "invalid_request", id="InvalidRequest"),
    pytest.param(InvalidToken, AuthError, 401, "invalid_token", id="InvalidToken"),
    pytest.param(MalformedToken, InvalidToken, 401, "invalid_token", id="MalformedToken"),
    pytest.param(TokenTooLarge, MalformedToken, 401, "invalid_token", id="TokenTooLarge"),
    pytest.param(UnsupportedAlgorithm, InvalidToken, 401, "invalid_token", id="UnsupportedAlgorithm"),
    pytest.param(UnknownKey, InvalidToken, 401, "invalid_token", id="UnknownKey"),
    pytest.param(InvalidSignature, InvalidToken, 401, "invalid_token", id="InvalidSignature"),
    pytest.param(ExpiredToken, InvalidToken, 401, "invalid_token", id="ExpiredToken"),
    pytest.param(NotYetValid, InvalidToken, 401, "invalid_token", id="NotYetValid"),
    pytest.param(InvalidClaim, InvalidToken, 401, "invalid_token", id="InvalidClaim"),
    pytest.param(MissingClaim, InvalidClaim, 401, "invalid_token", id="MissingClaim"),
    pytest.param(InvalidIssuer, InvalidClaim, 401, "invalid_token", id="InvalidIssuer"),
    pytest.param(InvalidAudience, InvalidClaim, 401, "invalid_token", id="InvalidAudience"),
    pytest.param(InvalidTokenType, InvalidClaim, 401, "invalid_token", id="InvalidTokenType"),
    pytest.param(TokenRevoked, InvalidToken, 401, "invalid_token", id="TokenRevoked"),
    pytest.param(InsufficientScope, AuthError, 403, "insufficient_scope", id="InsufficientScope"),
    pytest.param(
        InsufficientUserAuthentication,
        AuthError,
        401,
        "insufficient_user_authentication",
        id="InsufficientUserAuthentication",
    ),
    pytest.param(CrossOriginRequest, JWTGuardError, 403, "cross_origin_request", id="CrossOriginRequest"),
    pytest.param(TemporarilyUnavailable, JWTGuardError, 503, None, id="TemporarilyUnavailable"),
    pytest.param(KeySetUnavailable, TemporarilyUnavailable, 503, None, id="KeySetUnavailable"),
    pytest.param(StoreUnavailable, TemporarilyUnavailable, 503, None, id="StoreUnavailable"),
    pytest.param(ConfigurationError, JWTGuardError, 500, None, id="ConfigurationError"),
]

ALL_ERRORS = [param.values[0] for param in TREE]
AUTH_ERRORS = [cls for cls in ALL_ERRORS if issubclass(cls, AuthError)]


@pytest.mark.parametrize(("cls", "parent", "status", "code"), TREE)
def test_tree_status_and_code(cls, parent, status, code):
    """Each class sits under the parent DESIGN.md draws and carries its HTTP meaning."""
    assert cls.__bases__[0] is parent
    assert issubclass(cls, JWTGuardError)
    error = cls()
    assert error.status_code == status
    assert getattr(error, "error", None) == code


def test_every_error_in_the_module_is_covered():
    assert sorted(errors.__all__) == sorted(cls.__name__ for cls in [JWTGuardError, *ALL_ERRORS])


@pytest.mark.parametrize("cls", [JWTGuardError, *ALL_ERRORS], ids=lambda cls: cls.__name__)
def test_exported_from_the_package(cls):
    assert getattr(jwt_guard, cls.__name__) is cls


@pytest.mark.parametrize("cls", [JWTGuardError, *ALL_ERRORS], ids=lambda cls: cls.__name__)
def test_default_description_is_a_short_safe_phrase(cls):
    error = cls()
    assert isinstance(error.description, str)
    assert 0 < len(error.description) <= 80
    assert error.description.isascii()
    assert '"' not in error.description
    assert "\\" not in error.description
    assert str(error) == error.description


@pytest.mark.parametrize(
    "cls",
    [cls for cls in ALL_ERRORS if cls is not InsufficientScope],
    ids=lambda cls: cls.__name__,
)
def test_description_override(cls):
    error = cls("a custom phrase")
    assert error.description == "a custom phrase"
    assert str(error) == "a custom phrase"
    # The class default is untouched.
    assert cls.description != "a custom phrase"


@pytest.mark.parametrize(
    ("error", "realm", "expected"),
    [
        pytest.param(MissingToken(), None, "Bearer", id="missing-no-realm"),
        pytest.param(MissingToken(), "api", 'Bearer realm="api"', id="missing-realm"),
        pytest.param(
            InvalidRequest(),
            None,
            'Bearer error="invalid_request", error_description="malformed authorization request"',
            id="invalid-request",
        ),
        pytest.param(
            InvalidToken(),
            "api",
            'Bearer realm="api", error="invalid_token", error_description="the access token is invalid"',
            id="invalid-token",
        ),
        pytest.param(
            ExpiredToken(),
            "api",
            'Bearer realm="api", error="invalid_token", error_description="the access token has expired"',
            id="expired",
        ),
        pytest.param(
            InsufficientScope(["read", "write"]),
            "api",
            'Bearer realm="api", error="insufficient_scope", '
            'error_description="the access token lacks a required scope", scope="read write"',
            id="insufficient-scope",
        ),
        pytest.param(
            InsufficientScope(),
            None,
            'Bearer error="insufficient_scope", error_description="the access token lacks a required scope"',
            id="insufficient-scope-no-scopes",
        ),
    ],
)
def test_www_authenticate(error, realm, expected):
    assert error.www_authenticate(realm) == expected


def test_www_authenticate_realm_defaults_to_none():
    assert InvalidToken().www_authenticate() == InvalidToken().www_authenticate(None)


def test_missing_token_has_no_error_attribute():
    """RFC 6750 §3.1: a request without credentials gets no error code."""
    challenge = MissingToken().www_authenticate("api")
    assert "error" not in challenge
    assert MissingToken().challenge_params() == []


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        pytest.param(["read"], ("read",), id="list"),
        pytest.param(("b", "a"), ("b", "a"), id="order-kept"),
        pytest.param(iter(["x", "y"]), ("x", "y"), id="iterator"),
        pytest.param((), (), id="none"),
    ],
)
def test_insufficient_scope_required_scopes(scopes, expected):
    error = InsufficientScope(scopes)
    assert error.required_scopes == expected
    assert error.status_code == 403


def test_insufficient_scope_description_keyword():
    error = InsufficientScope(["a"], description="needs a")
    assert error.description == "needs a"
    assert error.required_scopes == ("a",)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(None, 30, id="default"),
        pytest.param(120, 120, id="given"),
        pytest.param(1, 1, id="one"),
        pytest.param(0, 1, id="zero-clamped"),
        pytest.param(-5, 1, id="negative-clamped"),
        pytest.param(2.1, 3, id="float-rounded-up"),
        pytest.param(0.2, 1, id="fraction-clamped"),
    ],
)
def test_key_set_unavailable_retry_after(retry_after, expected):
    error = KeySetUnavailable() if retry_after is None else KeySetUnavailable(retry_after=retry_after)
    assert error.retry_after == expected
    assert isinstance(error.retry_after, int)
    assert error.status_code == 503


def test_key_set_unavailable_is_not_an_auth_error():
    """A key-server outage is not the client's fault: no bearer challenge."""
    error = KeySetUnavailable()
    assert not isinstance(error, AuthError)
    assert not hasattr(error, "www_authenticate")


def test_configuration_error_is_a_value_error():
    with pytest.raises(ValueError, match="bad option"):
        raise ConfigurationError("bad option")
    assert not issubclass(ConfigurationError, AuthError)


@pytest.mark.parametrize("cls", AUTH_ERRORS, ids=lambda cls: cls.__name__)
def test_auth_errors_are_not_value_errors(cls):
    """Only ConfigurationError doubles as ValueError; a request error must not be caught as one."""
    assert not issubclass(cls, ValueError)


@pytest.mark.parametrize("cls", AUTH_ERRORS, ids=lambda cls: cls.__name__)
def test_challenge_params_order(cls):
    params = cls().challenge_params()
    if cls.error is None:
        assert params == []
    else:
        assert params[:2] == [("error", cls.error), ("error_description", cls.description)]


@pytest.mark.parametrize("cls", [TemporarilyUnavailable, KeySetUnavailable, StoreUnavailable])
@pytest.mark.parametrize(("retry_after", "expected"), [(30, 30), (2.1, 3), (0, 1), (-5, 1)])
def test_temporarily_unavailable_carries_whole_seconds(cls, retry_after, expected):
    """Retry-After is a whole number of seconds, at least one (RFC 9110 §10.2.3)."""
    error = cls(retry_after=retry_after)
    assert error.retry_after == expected
    assert isinstance(error, TemporarilyUnavailable)
