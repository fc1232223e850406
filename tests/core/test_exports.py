"""The public surface: jwt_guard.__all__ and jwt_guard.testing.__all__ are pinned."""

from __future__ import annotations

import importlib

import pytest

import jwt_guard
import jwt_guard.testing

PACKAGE_ALL = [
    "DEFAULT_ALGORITHMS",
    "RESPONDER_KEY",
    "TOKEN_KEY",
    "AccessToken",
    "AuthError",
    "Challenge",
    "ConfigurationError",
    "CrossOriginRequest",
    "DPoPContext",
    "DPoPOptions",
    "DPoPProofReplayed",
    "DPoPRequired",
    "DPoPTokenAsBearer",
    "Event",
    "EventKind",
    "ExpiredToken",
    "InactiveToken",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "Introspection",
    "IntrospectionUnavailable",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidDPoPBinding",
    "InvalidDPoPProof",
    "InvalidIssuer",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidToken",
    "InvalidTokenType",
    "JWTGuardError",
    "KeyCacheOptions",
    "KeySetUnavailable",
    "MalformedToken",
    "MissingClaim",
    "MissingToken",
    "NotYetValid",
    "ProtectedResource",
    "Requirement",
    "Responder",
    "StoreUnavailable",
    "TemporarilyUnavailable",
    "TokenRevoked",
    "TokenTooLarge",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "UseDPoPNonce",
    "Verifier",
    "__version__",
    "reason_code",
    "render_error",
]

TESTING_ALL = [
    "FAULTS",
    "AuthorizationServer",
    "DPoPAuth",
    "DPoPKey",
    "FakeClock",
    "IntrospectionCall",
    "IntrospectionEndpoint",
    "KeyServer",
    "LocalIssuer",
    "LocalServer",
    "Recorded",
    "SigningKey",
    "b64url",
    "bound_token",
    "clear_token_cookie",
    "encode_segments",
    "mock_transport",
    "set_token_cookie",
]


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        pytest.param(jwt_guard, PACKAGE_ALL, id="jwt_guard"),
        pytest.param(jwt_guard.testing, TESTING_ALL, id="jwt_guard.testing"),
    ],
)
def test_all_is_pinned(module, expected):
    assert module.__all__ == expected


@pytest.mark.parametrize(
    "module",
    [pytest.param(jwt_guard, id="jwt_guard"), pytest.param(jwt_guard.testing, id="jwt_guard.testing")],
)
def test_all_is_sorted_and_unique(module):
    assert module.__all__ == sorted(module.__all__, key=isort_key)
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize(
    ("module_name", "name"),
    [pytest.param("jwt_guard", name, id=f"jwt_guard.{name}") for name in PACKAGE_ALL]
    + [pytest.param("jwt_guard.testing", name, id=f"jwt_guard.testing.{name}") for name in TESTING_ALL],
)
def test_every_name_is_importable(module_name, name):
    module = importlib.import_module(module_name)
    assert getattr(module, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import {name}", namespace)
    assert namespace[name] is getattr(module, name)


@pytest.mark.parametrize(
    "module",
    [pytest.param(jwt_guard, id="jwt_guard"), pytest.param(jwt_guard.testing, id="jwt_guard.testing")],
)
def test_public_classes_and_functions_live_in_the_package(module):
    """Exported objects come from the package itself, never re-exported from a dependency."""
    for name in module.__all__:
        value = getattr(module, name)
        origin = getattr(value, "__module__", None)
        if origin is not None and callable(value):
            assert origin.startswith("jwt_guard"), (name, origin)


def test_version_is_a_string():
    assert isinstance(jwt_guard.__version__, str)
    assert jwt_guard.__version__.count(".") >= 2


def test_star_import_matches_all():
    namespace: dict[str, object] = {}
    exec("from jwt_guard import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(PACKAGE_ALL)


def test_render_is_now_render_error():
    assert not hasattr(jwt_guard, "render")
    assert jwt_guard.render_error.__module__ == "jwt_guard._challenge"
