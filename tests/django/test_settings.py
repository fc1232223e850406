"""settings.JWT_GUARD: the verifier by object or dotted path, every request-layer
option under its upper-case name, and mistakes named at start-up."""

from __future__ import annotations

import inspect

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

import jwt_guard.django as package
from jwt_guard import ConfigurationError, wsgi
from jwt_guard._guard import middleware_layer
from jwt_guard.django import JWTGuardMiddleware, SettingsError
from jwt_guard.django._settings import guard_settings, option_defaults, read_settings
from tests.django.conftest import bearer


def test_exported_names():
    assert sorted(package.__all__) == [
        "JWTGuardMiddleware",
        "RESPONDER_KEY",
        "SettingsError",
        "TOKEN_KEY",
        "TokenUser",
        "get_access_token",
        "require_access_token",
        "require_any_scope",
        "require_auth",
        "require_scopes",
    ]
    from jwt_guard.django import rest_framework

    assert sorted(rest_framework.__all__) == [
        "HasScopes",
        "HasUserAuthentication",
        "JWTAuthentication",
        "JWTGuardAPIException",
        "exception_handler",
    ]


def test_every_request_layer_option_is_a_setting():
    """Each keyword-only option of the request layer is reachable from
    settings under its upper-case name, with the WSGI middleware's default:
    an option added there needs no Django code."""
    layer = {
        name
        for name, parameter in inspect.signature(middleware_layer).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY and name not in ("on_error_returns", "route_scopes", "adapter")
    }
    defaults = option_defaults()
    assert set(defaults) == layer
    assert {"realm", "optional", "exclude_paths", "allow_query_token"} <= layer
    wsgi_parameters = inspect.signature(wsgi.JWTGuardMiddleware).parameters
    for name, default in defaults.items():
        assert default == wsgi_parameters[name].default, name


def test_settings_reach_the_request_layer(make_verifier):
    verifier = make_verifier()
    configured = read_settings(
        {
            "VERIFIER": verifier,
            "REALM": "api",
            "OPTIONAL": True,
            "EXCLUDE_PATHS": ["/admin/"],
            "ALLOW_QUERY_TOKEN": True,
        }
    )
    assert configured.verifier is verifier
    assert configured.responder.realm == "api"
    assert configured.responder.verifier is verifier
    assert configured.guard.optional and configured.guard.allow_query_token
    assert configured.guard.excluded("/admin/users/") and not configured.guard.excluded("/api")


def test_verifier_by_dotted_path(send, django_settings, issuer, make_verifier, monkeypatch):
    import tests.django.urls as urls

    monkeypatch.setattr(urls, "VERIFIER", make_verifier())
    django_settings(VERIFIER="tests.django.urls.VERIFIER")
    assert send.get("/whoami", bearer(issuer.token(sub="ada"))).json()["sub"] == "ada"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(None, r"settings.JWT_GUARD is not set: add JWT_GUARD = \{'VERIFIER'", id="unset"),
        pytest.param(["VERIFIER"], "must be a dict", id="not-a-dict"),
        pytest.param({"EXCLUDE_PATHS": ["/admin/"]}, "needs 'VERIFIER'", id="no-verifier"),
        pytest.param(
            {"VERIFIER": "tests.django.nowhere.verifier"}, "cannot import 'tests.django.nowhere", id="bad-path"
        ),
        pytest.param(
            {"VERIFIER": "tests.django.urls.seen"}, "must be a jwt_guard.Verifier .* not function", id="not-a-verifier"
        ),
        pytest.param(
            {"VERIFIER": "V", "EXCLUDE_PATH": ["/admin/"]},
            "unknown entry 'EXCLUDE_PATH'; did you mean 'EXCLUDE_PATHS'",
            id="typo",
        ),
        pytest.param(
            {"VERIFIER": "V", "optional": True}, "unknown entry 'optional'; did you mean 'OPTIONAL'", id="lower-case"
        ),
        pytest.param(
            {"VERIFIER": "V", "EXCLUDE_PATHS": ["admin/"]},
            "exclude_paths entries must start with '/'",
            id="bad-path-entry",
        ),
        pytest.param({"VERIFIER": "V", "REALM": 'a"b'}, "realm must be printable ASCII", id="bad-realm"),
        pytest.param(
            {"VERIFIER": "V", "ON_ERROR": "tests.django.nowhere.f"},
            "JWT_GUARD\\['ON_ERROR'\\]: cannot import",
            id="bad-on-error-path",
        ),
        pytest.param(
            {"VERIFIER": "V", "ON_ERROR": 42}, "on_error must be a plain function", id="on-error-not-callable"
        ),
    ],
)
def test_mistakes_are_named(config, message, make_verifier):
    """Each mistake raises SettingsError — a jwt_guard ConfigurationError and
    Django's ImproperlyConfigured — naming the entry and the fix."""
    if isinstance(config, dict) and config.get("VERIFIER") == "V":
        config = {**config, "VERIFIER": make_verifier()}
    with pytest.raises(SettingsError, match=message) as raised:
        read_settings(config)
    assert isinstance(raised.value, ConfigurationError)
    assert isinstance(raised.value, ImproperlyConfigured)


def test_middleware_reads_settings_when_django_loads_it(make_verifier):
    """A broken JWT_GUARD stops the handler from loading, before any request."""
    broken = {"VERIFIER": make_verifier(), "OPTINAL": True}
    with (
        override_settings(ROOT_URLCONF="tests.django.urls", MIDDLEWARE=["jwt_guard.django.JWTGuardMiddleware"]),
        override_settings(JWT_GUARD=broken),
        pytest.raises(SettingsError, match="did you mean 'OPTIONAL'"),
    ):
        Client().get("/whoami")


def test_settings_are_read_once_and_again_after_a_change(make_verifier):
    first, second = make_verifier(), make_verifier()
    with override_settings(JWT_GUARD={"VERIFIER": first}):
        assert guard_settings() is guard_settings()
        assert JWTGuardMiddleware(lambda request: None).verifier is first
        with override_settings(JWT_GUARD={"VERIFIER": second}):
            assert JWTGuardMiddleware(lambda request: None).verifier is second
        assert guard_settings().verifier is first
