"""The security-review findings, replayed outside pytest as countable cases.

:func:`hardening_summary` yields one ``(name, passed, total)`` line per
finding for ``benchmarks/security_report.py``; ``test_hardening.py`` holds it
to all-passed. Each case exercises the real parts (a Verifier, the command
line, a LocalServer on 127.0.0.1); the focused regression tests live next to
the modules they guard (see SECURITY.md).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization

from jwt_guard import ConfigurationError, InvalidClaim, KeyCacheOptions, KeySetUnavailable, Verifier
from jwt_guard._claims import extract_scopes
from jwt_guard._config import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, parse_scope_claims
from jwt_guard.cli import main
from jwt_guard.testing import LocalIssuer, LocalServer, SigningKey
from tests.security.attacks import DUPLICATE, AttackKit, by_category

__all__ = ["hardening_summary"]

ISSUER = "https://issuer.hardening.test/"
AUDIENCE = "https://api.hardening.test"
#: Only to detect a hang (the dripping server outlasts it many times over).
HANG_GUARD = 60.0

Line = tuple[str, int, int]


def _tally(name: str, cases: list[Callable[[], bool]]) -> Line:
    passed = 0
    for case in cases:
        # A case that blows up did not pass: the line's count says so.
        with contextlib.suppress(Exception):
            passed += bool(case())
    return (name, passed, len(cases))


# -- 1. public key material is never a shared secret -----------------------------------------


def _public_encodings() -> list[bytes]:
    rsa_key, ec_key, ed_key = SigningKey("RS256"), SigningKey("ES256"), SigningKey("EdDSA")
    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    openssh = serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    der_spki = rsa_key.public_key.public_bytes(der, spki)
    return [
        rsa_key.public_key.public_bytes(pem, spki),
        rsa_key.public_key.public_bytes(pem, serialization.PublicFormat.PKCS1),
        der_spki,
        rsa_key.public_key.public_bytes(der, serialization.PublicFormat.PKCS1),
        ec_key.public_key.public_bytes(der, spki),
        ed_key.public_key.public_bytes(der, spki),
        base64.b64encode(der_spki),
        rsa_key.public_key.public_bytes(*openssh),
        ec_key.public_key.public_bytes(*openssh),
        ed_key.public_key.public_bytes(*openssh),
        json.dumps({"keys": [rsa_key.public_jwk()]}).encode(),
        json.dumps(ec_key.public_jwk()).encode(),
        ec_key.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
    ]


def _refused_without_hint(**options: Any) -> bool:
    try:
        Verifier(issuer=ISSUER, audience=AUDIENCE, **options).close()
    except ConfigurationError as error:
        return "HS256" not in error.description and "algorithms=" not in error.description
    return False


def _secrets() -> Line:
    cases: list[Callable[[], bool]] = []
    for material in _public_encodings():
        cases.append(lambda m=material: _refused_without_hint(secret=m, algorithms=["HS256"]))
        if b"-----BEGIN" not in material:
            cases.append(lambda m=material: _refused_without_hint(keys=m, algorithms=["HS256"]))
            cases.append(lambda m=material: _refused_without_hint(keys=m))
    return _tally("public key material refused as an HMAC secret (secret= and keys=, no HS* hint)", cases)


# -- 2. scopes split on the ASCII space only --------------------------------------------------

_LOOKALIKES = "\u00a0\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u1680\u2000\u2003\u2028\u2029\u202f\u205f\u3000"


def _scopes() -> Line:
    sources = parse_scope_claims(("scope", "scp"))
    cases: list[Callable[[], bool]] = []
    for separator in _LOOKALIKES:
        value = f"read{separator}admin"
        cases.append(lambda v=value: "admin" not in extract_scopes({"scope": f"openid {v}"}, sources))
        cases.append(lambda v=value: "admin" not in extract_scopes({"scp": ["openid", v]}, sources))
    return _tally("scope separator look-alikes granting nothing (strings and lists)", cases)


# -- 3. the total deadline against a server dripping its headers ------------------------------


def _dripping_fetch(asynchronous: bool) -> bool:
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE)
    with LocalServer(issuer, hang_limit=600.0) as server:
        server.keys.set_fault("header_drip", delay=0.05)
        verifier = Verifier(
            issuer=server.issuer_url,
            audience=AUDIENCE,
            jwks_uri=server.jwks_uri,
            key_cache=KeyCacheOptions(timeout=1.0, connect_timeout=1.0),
        )
        token = issuer.token()
        outcomes: list[object] = []
        if asynchronous:
            outcomes = asyncio.run(_gather(verifier, token))
        else:

            def verify() -> None:
                try:
                    outcomes.append(verifier.verify(token))
                except KeySetUnavailable as error:
                    outcomes.append(error)

            threads = [threading.Thread(target=verify, daemon=True) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(HANG_GUARD)
        verifier.close()
    return len(outcomes) == 3 and all(isinstance(outcome, KeySetUnavailable) for outcome in outcomes)


async def _gather(verifier: Verifier, token: str) -> list[object]:
    async def one() -> object:
        try:
            return await verifier.verify_async(token)
        except KeySetUnavailable as error:
            return error

    try:
        return list(await asyncio.wait_for(asyncio.gather(*(one() for _ in range(3))), HANG_GUARD))
    except asyncio.TimeoutError:
        return []
    finally:
        await verifier.aclose()


def _deadline() -> Line:
    return _tally(
        "fetches (and requests waiting on them) ended at the deadline by a header-dripping server",
        [lambda: _dripping_fetch(False), lambda: _dripping_fetch(True)],
    )


# -- 4. URL provenance and 503 bodies ------------------------------------------------------------


def _served(issuer: LocalIssuer, answers: dict[str, httpx.Response]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return answers.get(str(request.url)) or httpx.Response(200, json=issuer.jwks())

    return httpx.MockTransport(handle)


def _provenance_case(answers: dict[str, httpx.Response], *, refused: bool, jwks_uri: str | None) -> bool:
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE)
    transport = _served(issuer, answers)
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=AUDIENCE,
        transport=transport,
        async_transport=transport,
        key_cache=KeyCacheOptions(max_redirects=3),
        jwks_uri=jwks_uri,
    )
    try:
        verifier.verify(issuer.token())
    except KeySetUnavailable as error:
        return refused and not any(char.isdigit() for char in error.description)
    finally:
        verifier.close()
    return not refused


def _provenance() -> Line:
    jwks = f"{ISSUER}jwks"
    discovery = f"{ISSUER}.well-known/openid-configuration"

    def discovered(target: str) -> dict[str, httpx.Response]:
        return {discovery: httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": target})}

    loopback = ("http://127.0.0.1:8080/jwks", "http://localhost:8080/jwks", "http://[::1]:8080/jwks")
    cases: list[Callable[[], bool]] = []
    for target in (*loopback, "http://keys.localhost/jwks"):
        redirect = {jwks: httpx.Response(302, headers={"location": target})}
        cases.append(lambda r=redirect: _provenance_case(r, refused=True, jwks_uri=jwks))
        cases.append(lambda t=target: _provenance_case(discovered(t), refused=True, jwks_uri=None))
    cases.append(lambda: _provenance_case({jwks: httpx.Response(500)}, refused=True, jwks_uri=jwks))
    local = "http://127.0.0.1:8080/a"
    hop = {local: httpx.Response(302, headers={"location": "http://127.0.0.1:8080/b"})}
    cases.append(lambda: _provenance_case(hop, refused=False, jwks_uri=local))
    return _tally("server-supplied URLs refused plain http (discovery, redirects), fixed 503 phrases", cases)


# -- 5. client_ids ---------------------------------------------------------------------------------


def _client_ids() -> Line:
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE)

    def refused(**claims: Any) -> bool:
        with Verifier(issuer=ISSUER, audience=None, client_ids=["api-client"], keys=issuer.jwks()) as verifier:
            try:
                verifier.verify(issuer.token(aud=None, **claims))
            except InvalidClaim:
                return True
        return False

    def accepted() -> bool:
        with Verifier(issuer=ISSUER, audience=None, client_ids=["api-client"], keys=issuer.jwks()) as verifier:
            return verifier.verify(issuer.token(aud=None, client_id="api-client")).client_id == "api-client"

    return _tally(
        "tokens of other clients refused with audience=None and client_ids",
        [
            lambda: refused(client_id="another-app"),
            lambda: refused(client_id=None, azp="another-app"),
            lambda: refused(client_id="api-client", azp="another-app"),
            lambda: refused(client_id=None),
            accepted,
        ],
    )


# -- 6. terminal escapes in the command line --------------------------------------------------------

_HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\x00\x7f\x9b31m\x9d0;x\x9c\nscopes    admin"


def _cli_output(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(list(argv))
    return out.getvalue() + err.getvalue()


def _clean(text: str) -> bool:
    return not any((ord(char) < 0x20 and char != "\n") or 0x7F <= ord(char) <= 0x9F for char in text)


def _terminal(tmp: Path) -> Line:
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE)
    keys = tmp / "keys.json"
    keys.write_text(json.dumps(issuer.jwks()))
    hostile = issuer.token(sub=_HOSTILE, client_id=_HOSTILE, jti=_HOSTILE, aud=[AUDIENCE, _HOSTILE])
    other = issuer.token(sub=_HOSTILE, aud="https://elsewhere.test\x1b[2J")
    base = ["--issuer", ISSUER, "--audience", AUDIENCE, "--key", str(keys)]
    return _tally(
        "command-line output free of C0/C1/DEL characters from token content",
        [
            lambda: _clean(_cli_output("verify", hostile, *base)),
            lambda: _clean(_cli_output("verify", other, *base)),
            lambda: _clean(_cli_output("inspect", hostile)),
        ],
    )


# -- 7. duplicate claim names (the corpus's category) -------------------------------------------------


def _duplicates() -> Line:
    kit = AttackKit(LocalIssuer(ISSUER, audience=AUDIENCE))
    attacks = by_category()[DUPLICATE]
    verifier = kit.verifier()

    def refused(attack: Any) -> bool:
        try:
            verifier.verify(attack.token(kit))
        except attack.expected:
            return True
        return False

    return _tally("signed tokens naming a claim twice refused", [lambda a=a: refused(a) for a in attacks])


# -- 8. the development server and DNS rebinding -------------------------------------------------------


def _status(port: int, host: str, path: str) -> int:
    request = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 29\r\n"
    request += "Content-Type: application/x-www-form-urlencoded\r\n\r\ngrant_type=client_credentials"
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD) as connection:
        connection.sendall(request.encode())
        reply = connection.recv(64)
    return int(reply.split(b" ", 2)[1])


def _rebinding() -> Line:
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE)
    with LocalServer(issuer) as server:
        port = server.port
        forged = (
            "rebound.attacker.test",
            f"rebound.attacker.test:{port}",
            f"dev.localhost:{port}",
            f"127.0.0.1:{port + 1}",
        )
        path = "/issuer/oauth/token"
        cases: list[Callable[[], bool]] = [lambda h=host: _status(port, h, path) == 421 for host in forged]
        cases.append(lambda: _status(port, f"127.0.0.1:{port}", path) == 200)
        return _tally("development token endpoint: forged Host refused (421), loopback answered", cases)


# -- 9. python-jose's pure-Python backends ----------------------------------------------------------------

_LOADED = """
import sys
from jwt_guard.testing import LocalIssuer, SigningKey
for alg in sys.argv[1:]:
    issuer = LocalIssuer("https://idp.example.test/", keys=[SigningKey(alg)])
    with issuer.verifier() as verifier:
        verifier.verify(issuer.token())
print(",".join(sorted({name.split(".")[0] for name in sys.modules} & {"ecdsa", "rsa", "pyasn1"})))
"""


def _transitive() -> Line:
    algorithms = sorted(ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS)
    completed = subprocess.run(
        [sys.executable, "-c", _LOADED, *algorithms], capture_output=True, text=True, timeout=120, check=False
    )
    loaded = [name for name in completed.stdout.strip().split(",") if name]
    clean = completed.returncode == 0 and not loaded
    return ("ecdsa, rsa and pyasn1 not loaded after verifying every algorithm", int(clean), 1)


def hardening_summary() -> Iterator[str | Line]:
    """Report lines, one per security-review finding (for security_report.py).

    The library's log lines (the failed fetches these cases provoke) are
    kept out of the report.
    """
    logger = logging.getLogger("jwt_guard")
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    try:
        yield from _lines()
    finally:
        logger.removeHandler(quiet)


def _lines() -> Iterator[Line]:
    yield _secrets()
    yield _scopes()
    yield _deadline()
    yield _provenance()
    yield _client_ids()
    with tempfile.TemporaryDirectory() as tmp:
        yield _terminal(Path(tmp))
    yield _duplicates()
    yield _rebinding()
    yield _transitive()
