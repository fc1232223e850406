"""The attack corpus through ``Verifier.verify`` and ``verify_async``.

Every attack must be refused with exactly the error class the corpus names,
by ``verify`` with static keys and with keys fetched over discovery + JWKS,
and by ``verify_async`` with fetched keys (where the asynchronous fetch runs).
``verify_async`` with static keys (the same flow, with no effect to await) and
``bytes`` input get the corpus's surface sample
(:func:`~tests.security.attacks.surface_sample`). Nothing but that error may
escape, its description must not echo the token, nothing logged may contain
the token, and no key is ever fetched from anywhere but the configured
issuer's discovery document and JWKS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from jwt_guard import InvalidSignature, JWTGuardError, Verifier
from jwt_guard.testing import LocalIssuer
from tests.security.attacks import (
    CATEGORIES,
    SURFACE_CATEGORIES,
    Attack,
    AttackKit,
    attacker_key,
    by_category,
    corpus,
    expected_http_status,
    surface_sample,
)
from tests.security.conftest import RecordingTransport

ATTACKS = [pytest.param(attack, id=attack.name) for attack in corpus()]
SAMPLE = [pytest.param(attack, id=attack.name) for attack in surface_sample()]
#: ``verify_async``: the whole corpus with fetched keys, the sample with static keys.
ASYNC_CASES = [pytest.param(attack, "remote", id=f"{attack.name}-remote-keys") for attack in corpus()] + [
    pytest.param(attack, "static", id=f"{attack.name}-static-keys") for attack in surface_sample()
]
SOURCES = [pytest.param("static", id="static-keys"), pytest.param("remote", id="remote-keys")]


def _secrets_of(token: str) -> list[str]:
    """Substrings of *token* that must never appear in errors or logs."""
    parts = [part for part in token.split(".") if len(part) >= 16]
    return [token, *parts] if len(token) >= 16 else parts


def _check_refusal(attack: Attack, token: str, raised: BaseException | None, logs: str) -> None:
    assert raised is not None, f"{attack.name}: accepted"
    assert isinstance(raised, JWTGuardError), f"{attack.name}: {type(raised).__name__} escaped: {raised!r}"
    assert type(raised) is attack.expected, (
        f"{attack.name}: raised {type(raised).__name__} ({raised.description}), expected {attack.expected.__name__}"
    )
    for secret in _secrets_of(token):
        assert secret not in raised.description
        assert secret not in str(raised)
        assert secret not in logs


def _attempt(verify: Callable[[], object]) -> BaseException | None:
    try:
        verify()
    except BaseException as exc:  # everything, so that a stray type is reported, not re-raised
        return exc
    return None


async def _attempt_async(verifier: Verifier, token: str | bytes) -> BaseException | None:
    try:
        await verifier.verify_async(token)
    except BaseException as exc:
        return exc
    return None


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def _assert_only_configured_urls(transport: RecordingTransport, issuer: LocalIssuer) -> None:
    base = issuer.issuer.rstrip("/")
    allowed = {f"{base}/.well-known/openid-configuration", f"{base}/.well-known/jwks.json"}
    assert set(transport.urls) <= allowed, set(transport.urls) - allowed


def test_corpus_has_at_least_60_uniquely_named_attacks():
    names = [attack.name for attack in corpus()]
    assert len(names) >= 60
    assert len(set(names)) == len(names)


def test_every_category_holds_attacks():
    groups = by_category()
    assert list(groups) == list(CATEGORIES)
    assert all(groups[category] for category in CATEGORIES), [c for c in CATEGORIES if not groups[c]]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("key", ["rs256", "ps256", "es256", "es384", "eddsa", "any_rsa", "any_rsa_pss"])
def test_controls_verify(kit, attack_verifier, source, key):
    """The victim keys really verify: attacks are refused for their own fault."""
    verifier = attack_verifier(source)
    token = verifier.verify(kit.valid(getattr(kit, key), scope="read"))
    assert token.has_scopes("read")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_refused_sync(attack, source, kit, attack_verifier, recording_transport, caplog):
    caplog.set_level(logging.DEBUG, logger="jwt_guard")
    verifier = attack_verifier(source)
    token = attack.token(kit)
    raised = _attempt(lambda: verifier.verify(token))
    _check_refusal(attack, token, raised, _log_text(caplog))
    _assert_only_configured_urls(recording_transport, kit.issuer)


@pytest.mark.anyio
@pytest.mark.parametrize(("attack", "source"), ASYNC_CASES)
async def test_attack_refused_async(attack, source, kit, attack_verifier, recording_transport, caplog):
    caplog.set_level(logging.DEBUG, logger="jwt_guard")
    verifier = attack_verifier(source)
    token = attack.token(kit)
    try:
        raised = await _attempt_async(verifier, token)
    finally:
        await verifier.aclose()
    _check_refusal(attack, token, raised, _log_text(caplog))
    _assert_only_configured_urls(recording_transport, kit.issuer)


@pytest.mark.parametrize("attack", SAMPLE)
def test_attack_refused_as_bytes(attack, kit, attack_verifier):
    """The same attack as ``bytes`` (UTF-8) is refused the same way."""
    verifier = attack_verifier("static")
    token = attack.token(kit)
    raw = token.encode("utf-8", "surrogatepass")
    raised = _attempt(lambda: verifier.verify(raw))
    _check_refusal(attack, token, raised, "")


def test_surface_sample_keeps_every_category_error_and_travel_case(kit):
    """What the faces that get only the sample still see: every category,
    every (category, error class) pair, every attack of the surface
    categories, and every attack whose trip through ``Authorization`` ends
    otherwise than its verifier error (400, or not sendable at all)."""
    sample = surface_sample()
    names = {attack.name for attack in sample}
    assert len(names) == len(sample)
    assert [attack.name for attack in corpus() if attack.name in names] == [attack.name for attack in sample]
    assert {attack.category for attack in sample} == set(CATEGORIES)
    assert {(a.category, a.expected) for a in sample} == {(a.category, a.expected) for a in corpus()}
    surface = {attack.name for attack in corpus() if attack.category in SURFACE_CATEGORIES}
    assert surface <= names
    travel = {
        attack.name
        for attack in corpus()
        if expected_http_status(attack, attack.token(kit)) != attack.expected.status_code
    }
    assert travel, "the corpus has attacks the header grammar answers itself"
    assert travel <= names, travel - names
    assert len(sample) < len(corpus()) / 2


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_corpus_is_independent_of_the_issuer(clock, alg):
    """The corpus holds for any issuer URL, audience and own signing key
    (adapters reuse it with their issuers): here one without a trailing
    slash, on a port, whose own key joins the victim keys in the JWKS."""
    issuer = LocalIssuer("http://127.0.0.1:8080/tenant-a", audience="urn:api:orders", algorithm=alg, clock=clock)
    kit = AttackKit(issuer)
    verifier = kit.verifier()
    assert verifier.verify(kit.valid()).issuer == "http://127.0.0.1:8080/tenant-a"
    wrong = []
    for attack in corpus():
        raised = _attempt(lambda attack=attack: verifier.verify(attack.token(kit)))
        if type(raised) is not attack.expected:
            wrong.append((attack.name, type(raised).__name__))
    assert wrong == []


def test_kit_publishes_its_keys_once(issuer):
    first = AttackKit(issuer)
    count = len(first.jwks()["keys"])
    AttackKit(issuer)
    assert len(issuer.jwks()["keys"]) == count


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param("rs256-to-hs256-spki-pem", 401, id="ordinary-token-401"),
        pytest.param("standard-base64-alphabet", 401, id="plus-slash-is-token68-401"),
        pytest.param("padding-on-signature", 401, id="trailing-padding-is-token68-401"),
        pytest.param("padding-on-header", 400, id="inner-padding-400"),
        pytest.param("jws-json-flattened-serialisation", 400, id="json-400"),
        pytest.param("space-inside", 400, id="two-credentials-400"),
        pytest.param("leading-space", None, id="absorbed-by-separator"),
        pytest.param("trailing-newline", None, id="control-character-unsendable"),
        pytest.param("utf8-bom-prefix", None, id="non-latin1-unsendable"),
        pytest.param("empty-string", None, id="empty-unsendable"),
    ],
)
def test_expected_http_status(kit, name, status):
    """What adapters must answer when an attack arrives in ``Authorization``."""
    attack = {attack.name: attack for attack in corpus()}[name]
    assert expected_http_status(attack, attack.token(kit)) == status


class _RecordingCache(dict):
    """Stands in for the verified-token cache; remembers every lookup."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: list[object] = []

    def get(self, key: object, default: object = None) -> object:
        self.looked_up.append(key)
        return super().get(key, default)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("A" * (16 * 1024 * 1024), id="16-mib-text"),
        pytest.param(b"A" * (16 * 1024 * 1024), id="16-mib-bytes"),
        pytest.param(b"a.b.c", id="bytes"),
    ],
)
def test_input_that_cannot_be_cached_skips_the_cache(kit, token):
    """Hashing a 16 MiB token for a cache lookup (under the cache lock) would
    cost milliseconds before the size check refuses it in one ``len``; only
    text within the size cap can be a cache hit, so nothing else is looked up."""
    verifier = kit.verifier()
    recorder = _RecordingCache()
    verifier._cache._entries = recorder
    with pytest.raises(JWTGuardError):
        verifier.verify(token)
    assert recorder.looked_up == []
    # The control: a token of ordinary size is looked up.
    valid = kit.valid()
    verifier.verify(valid)
    assert recorder.looked_up == [valid]


@pytest.mark.parametrize("source", SOURCES)
def test_kid_cannot_forge_log_lines(kit, attack_verifier, source, caplog):
    """An attacker's kid reaches the logs (unknown-kid refetch) only escaped."""
    caplog.set_level(logging.DEBUG, logger="jwt_guard")
    attack = {attack.name: attack for attack in corpus()}["kid-crlf-log-injection"]
    verifier = attack_verifier(source)
    with pytest.raises(attack.expected):
        verifier.verify(attack.token(kit))
    messages = [record.getMessage() for record in caplog.records]
    if source == "remote":
        assert any("unknown kid" in message for message in messages), messages
    assert not any("\n" in message or "\r" in message for message in messages), messages


def test_embedded_jwk_is_ignored_when_no_kid_meets_the_sole_key(kit):
    """Without a kid, the one configured key that fits the alg is used, never
    the key the token carries: the attacker's own signature fails on it."""
    verifier = kit.verifier(keys={"keys": [kit.eddsa.public_jwk()]})
    assert verifier.verify(kit.valid(kit.eddsa, headers={"kid": None})).subject == "user-1"
    forged = kit.sign(
        kit.claims(),
        attacker_key("EdDSA"),
        {"kid": None, "jwk": attacker_key("EdDSA").public_jwk()},
    )
    with pytest.raises(InvalidSignature):
        verifier.verify(forged)
