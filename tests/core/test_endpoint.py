"""Endpoint requirements (jwt_guard._endpoint) and the responder (jwt_guard._responder),
shared by the ASGI, WSGI and FastAPI adapters."""

from __future__ import annotations

import functools
import logging

import pytest

from jwt_guard import (
    RESPONDER_KEY,
    TOKEN_KEY,
    AccessToken,
    ConfigurationError,
    InsufficientScope,
    InvalidToken,
    KeySetUnavailable,
    MissingToken,
    Responder,
    StoreUnavailable,
    render_error,
)
from jwt_guard._endpoint import EndpointCheck, Requirement, argument, is_async, read_signature
from jwt_guard._responder import responder_of


def token_with(*scopes: str) -> AccessToken:
    return AccessToken(claims={"iss": "i"}, header={"alg": "RS256"}, scopes=frozenset(scopes), raw="a.b.c")


def _view(request):
    return request


# -- Requirement: one validation for every adapter ----------------------------------------------------

MISUSE = [
    pytest.param((), TypeError, "at least one scope", id="no-scopes"),
    pytest.param((_view,), TypeError, "needs parentheses", id="no-parentheses"),
    pytest.param(("read", _view), TypeError, "needs parentheses", id="callable-among-scopes"),
    pytest.param((3,), TypeError, "as strings, not int", id="not-a-string"),
    pytest.param((b"read",), TypeError, "as strings, not bytes", id="bytes"),
    pytest.param((None,), TypeError, "as strings, not NoneType", id="none"),
    pytest.param(("",), ValueError, "not a scope token", id="empty"),
    pytest.param(("read write",), ValueError, "not a scope token", id="space"),
    pytest.param(('a"b',), ValueError, "not a scope token", id="quote"),
    pytest.param(("a\\b",), ValueError, "not a scope token", id="backslash"),
    pytest.param(("caf\u00e9",), ValueError, "not a scope token", id="non-ascii"),
    pytest.param(("a\tb",), ValueError, "not a scope token", id="tab"),
    pytest.param(("ok", "bad one"), ValueError, "'bad one' is not a scope token", id="second-bad"),
]


@pytest.mark.parametrize(("scopes", "exception", "message"), MISUSE)
def test_decorator_misuse(scopes, exception, message):
    with pytest.raises(exception, match=message) as info:
        Requirement.for_decorator("require_scopes", scopes, any_of=False)
    assert type(info.value) is exception  # exactly: a ValueError is never also a TypeError
    assert str(info.value).startswith("require_scopes")


@pytest.mark.parametrize(
    "scopes",
    [
        pytest.param(["read:items"], id="colon"),
        pytest.param(["https://api.example.test/read"], id="url"),
        pytest.param(["!#$%&'()*+,-./:;<=>?@[]^_`{|}~"], id="every-allowed-symbol"),
    ],
)
def test_scope_tokens_accepted(scopes):
    assert Requirement(scopes).scopes == tuple(scopes)


def test_a_space_delimited_string_is_refused_as_a_whole():
    with pytest.raises(TypeError, match="one by one"):
        Requirement("read write")


def test_duplicates_dropped_order_kept():
    assert Requirement(["b", "a", "b"]).scopes == ("b", "a")


def test_no_scopes_is_fine_outside_decorators():
    """The FastAPI dependency without scopes only needs a verified token."""
    requirement = Requirement(())
    assert requirement.refusal(token_with()) is None
    assert isinstance(requirement.refusal(None), MissingToken)


@pytest.mark.parametrize(
    ("granted", "required", "any_of", "refused"),
    [
        pytest.param({"read", "write"}, ["read", "write"], False, False, id="all-held"),
        pytest.param({"read"}, ["read", "write"], False, True, id="all-one-missing"),
        pytest.param({"write"}, ["read", "write"], True, False, id="any-one-held"),
        pytest.param({"admin"}, ["read", "write"], True, True, id="any-none-held"),
        pytest.param({"Read"}, ["read"], False, True, id="case-sensitive"),
    ],
)
def test_refusal(granted, required, any_of, refused):
    error = Requirement(required, any_of=any_of).refusal(token_with(*granted))
    if refused:
        assert isinstance(error, InsufficientScope)
        assert error.required_scopes == tuple(required)
    else:
        assert error is None


@pytest.mark.parametrize("value", [None, "token", {"scope": "read"}, True], ids=["none", "str", "dict", "true"])
def test_only_an_access_token_counts(value):
    assert isinstance(Requirement(["read"]).refusal(value), MissingToken)


# -- EndpointCheck: anonymous versus no middleware --------------------------------------------------


def test_anonymous_after_the_middleware_is_401_without_a_warning(caplog):
    check = EndpointCheck(Requirement(["read"]), "view")
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        assert isinstance(check.refusal({TOKEN_KEY: None}), MissingToken)
    assert caplog.records == []


def test_no_middleware_is_401_with_one_warning_per_view(caplog):
    check = EndpointCheck(Requirement(["read"]), "app.views.items")
    other = EndpointCheck(Requirement(["read"]), "app.views.other")
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        for _ in range(3):
            assert isinstance(check.refusal({}), MissingToken)
        assert isinstance(other.refusal({}), MissingToken)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "app.views.items requires a token but JWTGuardMiddleware did not run" in messages[0]
    assert "app.views.other" in messages[1]


def test_a_verified_token_is_checked():
    check = EndpointCheck(Requirement(["read"]), "view")
    assert check.refusal({TOKEN_KEY: token_with("read")}) is None
    assert isinstance(check.refusal({TOKEN_KEY: token_with("write")}), InsufficientScope)


# -- signatures ------------------------------------------------------------------------------------------


def test_read_signature_resolves_what_it_can():
    def view(request: Undefined) -> None:  # type: ignore[name-defined]  # noqa: F821
        ...

    assert list(read_signature(view, "require_scopes").parameters) == ["request"]
    assert read_signature(view, "require_scopes").parameters["request"].annotation == "Undefined"


class _NoSignature:
    """A callable whose signature inspect cannot read."""

    __signature__ = "not a signature"

    def __call__(self) -> None: ...


NO_SIGNATURE = _NoSignature()


def test_read_signature_refuses_what_has_none():
    with pytest.raises(TypeError, match="require_scopes: cannot read the signature"):
        read_signature(NO_SIGNATURE, "require_scopes")


async def _coroutine(request):
    return request


class _AsyncCallable:
    async def __call__(self, request):
        return request


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        pytest.param(_coroutine, True, id="coroutine-function"),
        pytest.param(functools.partial(_coroutine), True, id="partial"),
        pytest.param(functools.partial(functools.partial(_coroutine)), True, id="nested-partial"),
        pytest.param(_AsyncCallable(), True, id="async-call"),
        pytest.param(_view, False, id="function"),
        pytest.param(functools.wraps(_coroutine)(lambda request: request), False, id="sync-wrapper-of-coroutine"),
    ],
)
def test_is_async(func, expected):
    assert is_async(func) is expected


def test_argument():
    assert argument(("a", "b"), {}, 1, "x") == "b"
    assert argument(("a",), {"x": "kw"}, 1, "x") == "kw"
    with pytest.raises(TypeError, match="missing the 'x' argument"):
        argument(("a",), {}, 1, "x")


# -- Responder ---------------------------------------------------------------------------------------------


def test_responder_renders_with_its_realm():
    challenge = Responder(realm="my api").challenge(MissingToken())
    assert challenge == render_error(MissingToken(), realm="my api")
    assert challenge.header("www-authenticate") == 'Bearer realm="my api"'


@pytest.mark.parametrize(
    "realm",
    [
        pytest.param('say "hi"', id="quote"),
        pytest.param("back\\slash", id="backslash"),
        pytest.param("line\nbreak", id="newline"),
        pytest.param("caf\u00e9", id="non-ascii"),
        pytest.param(5, id="number"),
    ],
)
def test_realm_must_be_quotable(realm):
    with pytest.raises(ConfigurationError, match="realm"):
        Responder(realm=realm)


def test_answer_prefers_on_error():
    seen = []

    def on_error(error, request):
        seen.append((error, request))
        return "custom" if isinstance(error, InvalidToken) else None

    responder = Responder(realm="r", on_error=on_error)
    assert responder.answer(InvalidToken(), "the request") == "custom"
    assert responder.answer(MissingToken(), "the request") == render_error(MissingToken(), realm="r")
    assert [type(error) for error, _ in seen] == [InvalidToken, MissingToken]
    assert seen[0][1] == "the request"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(MissingToken(), 1008, id="missing"),
        pytest.param(InsufficientScope(["read"]), 1008, id="scope"),
        pytest.param(KeySetUnavailable(), 1013, id="keys"),
        pytest.param(StoreUnavailable(), 1013, id="store"),
    ],
)
def test_websocket_close(error, code):
    assert Responder().close(error) == (code, error.description)


def test_close_reason_fits_a_control_frame():
    """RFC 6455 §5.5: at most 123 bytes of reason, cut on a character boundary."""
    _, reason = Responder().close(InvalidToken("\u00e9" * 100))
    assert len(reason.encode("utf-8")) <= 123
    assert reason == "\u00e9" * 61


def test_responder_of():
    responder = Responder(realm="r")
    assert responder_of({RESPONDER_KEY: responder}) is responder
    default = responder_of({})
    assert default.realm is None and default.on_error is None
    assert responder_of({RESPONDER_KEY: "forged"}) is default


def test_responder_adds_resource_metadata_to_every_challenge():
    url = "https://api.example.test/.well-known/oauth-protected-resource"
    responder = Responder(realm="r", resource_metadata=url)
    for error in (MissingToken(), InvalidToken(), InsufficientScope(["read"])):
        assert responder.challenge(error) == render_error(error, realm="r", resource_metadata=url)
        assert responder.challenge(error).header("www-authenticate").endswith(f', resource_metadata="{url}"')
    assert Responder().resource_metadata is None


@pytest.mark.parametrize("url", ['https://x/"', "https://x/\n", "https://caf\u00e9/", 5])
def test_resource_metadata_must_be_sendable(url):
    with pytest.raises(ConfigurationError, match="resource_metadata"):
        Responder(resource_metadata=url)
