"""Structured fuzzing through the adapters (issue 7, suite 3 at the HTTP face).

``tests/security/test_fuzz.py`` fuzzes the verifier and the header parser;
``tests/asgi/test_properties.py`` and ``tests/wsgi/test_middleware.py`` hold
one property each per input kind against a bare middleware. Here whole
requests meet whole applications (the Starlette, FastAPI and Flask apps of
:mod:`tests.security.test_adapters`): zero, one or several ``Authorization``
headers (hostile values, structured mutations of a valid token, token68
noise), combined with random query strings (``access_token`` spelled and
encoded every way, repeated, mixed with other parameters), against header-only
and query-enabled configurations, with static keys and with keys fetched
through discovery + JWKS (unknown-``kid`` cooldown off, so mutated ``kid``
values really refetch).

The property is the HTTP contract: no exception escapes, no 500; a refusal is
400 ``invalid_request`` or 401 (``invalid_token``, or no error code without
credentials) with ``Cache-Control: no-store`` and a JSON body, and reaches no
handler; a 200 reaches the handler exactly once, with the one valid token.

The default run keeps a few dozen examples per adapter; the ``slow`` run
(``tox -e slow``) a few thousand. ``benchmarks/security_report.py`` calls
:func:`fuzz_summary`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from jwt_guard import KeyCacheOptions, Verifier
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, mock_transport
from tests.security.test_adapters import ADAPTERS, BUILDERS, Answer, Calls, call_asgi
from tests.strategies import authorization_values, mutated_tokens, token68s

NOW = 1_800_000_000
DEFAULT_EXAMPLES = 40
SLOW_EXAMPLES = 1500
KEYS = ("static", "remote")
CONFIGS = ("header-only", "query-enabled")


class World:
    """One issuer, its valid token, and every (adapter, keys, config) app."""

    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.issuer = LocalIssuer(
            "https://issuer.adapter-fuzz.test/",
            audience="https://api.adapter-fuzz.test",
            algorithm="EdDSA",
            kid="fuzz-key",
            clock=self.clock,
        )
        self.valid = self.issuer.token(scope="read", sub="fuzz")
        transport = mock_transport(KeyServer(self.issuer))
        self.verifiers = {
            "static": self.issuer.verifier(clock=self.clock),
            "remote": Verifier(
                issuer=self.issuer.issuer,
                audience=self.issuer.audience,
                clock=self.clock,
                transport=transport,
                async_transport=transport,
                key_cache=KeyCacheOptions(unknown_kid_cooldown=0),
            ),
        }
        self.calls = Calls()
        self.apps = {
            (adapter, keys, config): build(
                self.verifiers[keys], self.calls, **({"allow_query_token": True} if config == "query-enabled" else {})
            )
            for adapter, build in BUILDERS.items()
            for keys in KEYS
            for config in CONFIGS
        }


WORLD = World()


# -- requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class HostileRequest:
    """``GET /me`` with these ``Authorization`` values and query string."""

    authorization: tuple[str, ...]
    query: str

    def header_bytes(self) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", value.encode("utf-8", "surrogatepass")) for value in self.authorization]

    def query_bytes(self) -> bytes:
        return self.query.encode("utf-8", "surrogatepass")

    def environ(self) -> dict[str, Any]:
        """The WSGI environ a server would build (PEP 3333: bytes decoded as
        Latin-1; repeated headers joined with a comma, as Werkzeug and
        gunicorn do)."""
        environ = EnvironBuilder(path="/me").get_environ()
        environ["QUERY_STRING"] = self.query_bytes().decode("latin-1")
        if self.authorization:
            joined = b", ".join(value for _, value in self.header_bytes())
            environ["HTTP_AUTHORIZATION"] = joined.decode("latin-1")
        return environ


_PARAM_NAMES = (
    "access_token",
    "access%5Ftoken",
    "access%5ftoken",
    "ACCESS_TOKEN",
    "access_token%00",
    "access_token ",
    "access+token",
    "access_token[]",
    "token",
    "",
)


def _encode(value: str, how: str) -> str:
    if how == "quote":
        return quote(value, safe="", errors="surrogatepass")
    if how == "plus":
        return quote_plus(value, errors="surrogatepass")
    if how == "twice":
        return quote(quote(value, safe="", errors="surrogatepass"), safe="")
    return value


def query_strings(tokens: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Query strings around ``access_token`` (RFC 6750 §2.3): the parameter
    spelled, encoded and repeated every way, among other parameters, and
    arbitrary text."""
    pairs = st.lists(
        st.tuples(
            st.one_of(st.sampled_from(_PARAM_NAMES), st.text(max_size=6)),
            st.one_of(tokens, st.text(max_size=30)),
            st.sampled_from(["raw", "quote", "plus", "twice"]),
        ),
        min_size=1,
        max_size=4,
    )
    structured = st.builds(
        lambda items, sep: sep.join(f"{name}={_encode(value, how)}" for name, value, how in items),
        pairs,
        st.sampled_from(["&", ";", "&&", "&amp;", "&="]),
    )
    return st.one_of(
        structured,
        st.text(max_size=100),
        st.text(alphabet=st.characters(max_codepoint=255), max_size=100),
    )


def hostile_requests(valid: str) -> st.SearchStrategy[HostileRequest]:
    """Requests built from *valid* and hostile material (see the module docstring)."""
    tokens = st.one_of(st.just(valid), mutated_tokens(valid), token68s())
    values = st.one_of(authorization_values(tokens), mutated_tokens(valid).map(lambda token: f"Bearer {token}"))
    headers = st.one_of(st.lists(values, min_size=1, max_size=1), st.lists(values, max_size=3))
    query = st.one_of(st.just(""), query_strings(tokens))
    return st.builds(HostileRequest, headers.map(tuple), query)


REQUESTS = hostile_requests(WORLD.valid)
TARGETS = st.tuples(st.sampled_from(KEYS), st.sampled_from(CONFIGS))


# -- the property --------------------------------------------------------------------


def _call_wsgi(app: Any, environ: dict[str, Any]) -> Answer:
    captured: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured[:] = [status, headers]
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = captured
    return Answer(int(status.split()[0]), {name.lower(): value for name, value in headers}, body)


def send(adapter: str, keys: str, config: str, request: HostileRequest) -> Answer:
    """Deliver *request* to one application, as its server would."""
    app = WORLD.apps[adapter, keys, config]
    if adapter == "wsgi":
        return _call_wsgi(app, request.environ())
    return asyncio.run(call_asgi(app, headers=request.header_bytes(), query=request.query_bytes()))


def assert_contract(adapter: str, keys: str, config: str, request: HostileRequest) -> Answer:
    """Send *request* and check the HTTP contract (see the module docstring)."""
    before = len(WORLD.calls)
    answer = send(adapter, keys, config, request)
    reached = WORLD.calls.seen[before:]
    assert answer.status in (200, 400, 401), (answer.status, answer.body[:200])
    if answer.status == 200:
        assert [raw for _, _, raw in reached] == [WORLD.valid], "something other than the valid token was accepted"
        return answer
    assert reached == [], "a refused request reached the handler"
    assert answer.headers.get("cache-control") == "no-store"
    assert answer.headers.get("content-type") == "application/json"
    body = json.loads(answer.body)
    challenge = answer.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    if answer.status == 400:
        assert body["error"] == "invalid_request"
        assert 'error="invalid_request"' in challenge
    elif body["error"] == "invalid_token":
        assert 'error="invalid_token"' in challenge
    else:  # no credentials at all (RFC 6750 §3.1: no error code)
        assert body["error"] == "unauthorized"
        assert "error=" not in challenge
    if config == "header-only" and request.authorization == (f"Bearer {WORLD.valid}",):
        raise AssertionError("the unmodified valid token was refused")
    return answer


# -- tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("keys", KEYS)
@pytest.mark.parametrize("config", CONFIGS)
def test_controls(adapter, keys, config):
    """The valid token passes in the header (and in the query when enabled);
    without credentials the answer is a bare 401."""
    valid = HostileRequest((f"Bearer {WORLD.valid}",), "")
    assert assert_contract(adapter, keys, config, valid).status == 200
    in_query = HostileRequest((), f"access_token={WORLD.valid}")
    assert assert_contract(adapter, keys, config, in_query).status == (200 if config == "query-enabled" else 401)
    assert assert_contract(adapter, keys, config, HostileRequest((), "")).status == 401


def test_the_property_catches_a_handler_reached_by_a_refusal():
    """The oracle can fail: a handler call recorded during a refused request
    (simulated here) trips it."""

    class Leaky(Calls):
        def __len__(self) -> int:  # hides the last call from the count taken before the request
            return super().__len__() - 1

    real = WORLD.calls
    # The simulated call, whatever other tests of this worker recorded before.
    WORLD.calls = Leaky(seen=[*real.seen, ("wsgi", "/", "simulated")])
    try:
        with pytest.raises(AssertionError, match="reached the handler"):
            assert_contract("wsgi", "static", "header-only", HostileRequest(("Bearer a.b.c",), ""))
    finally:
        WORLD.calls = real


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=DEFAULT_EXAMPLES, database=None, deadline=None)
@given(target=TARGETS, request=REQUESTS)
def test_hostile_requests(adapter, target, request):
    event(f"{target[1]}: {assert_contract(adapter, *target, request).status}")


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=SLOW_EXAMPLES, database=None, deadline=None)
@given(target=TARGETS, request=REQUESTS)
def test_hostile_requests_long_run(adapter, target, request):
    event(f"{target[1]}: {assert_contract(adapter, *target, request).status}")


# -- the report --------------------------------------------------------------------


def _counted_run(adapter: str, examples: int, counts: dict[int, int]) -> Callable[[], None]:
    @settings(max_examples=examples, database=None, deadline=None)
    @given(target=TARGETS, request=REQUESTS)
    def run(target: tuple[str, str], request: HostileRequest) -> None:
        status = assert_contract(adapter, *target, request).status
        counts[status] = counts.get(status, 0) + 1

    return run


def fuzz_summary(examples: int = 500) -> Iterator[str]:
    """Report lines: *examples* hostile requests per adapter (outside pytest)."""
    for adapter in ADAPTERS:
        counts: dict[int, int] = {}
        try:
            _counted_run(adapter, examples, counts)()
        except Exception as error:  # report what escaped, do not die of it
            yield f"{adapter}: FAIL after {sum(counts.values())} examples: {type(error).__name__}: {error}"
            continue
        spread = ", ".join(f"{status}: {count}" for status, count in sorted(counts.items()))
        yield f"adapter fuzz examples through {adapter}: {sum(counts.values())} (statuses {spread}), 0 escaped, no 500"
