"""Reusable hypothesis strategies for hostile input.

Property, fuzz and adapter tests share these: raw garbage, structured
mutations of a *valid* token (so that inputs get past the cheap checks and
reach key selection and signature verification), signed tokens with hostile
headers or claim sets, and ``Authorization`` header values.

Every strategy here is pure data: nothing imports an adapter or a verifier,
so the core-only test environment can use the module too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from hypothesis import strategies as st

__all__ = [
    "B64URL_ALPHABET",
    "HOSTILE_ALGS",
    "HOSTILE_HEADER_PARAMS",
    "HOSTILE_KIDS",
    "Mutant",
    "authorization_values",
    "b64url",
    "b64url_json",
    "bearer_values",
    "claim_sets",
    "compact_tokens",
    "garbage_inputs",
    "hostile_headers",
    "json_values",
    "mutated_tokens",
    "token68s",
    "token_mutants",
]

B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Characters an attacker or a broken client slips into a token: padding, the
# standard base64 alphabet, separators, whitespace, URL escapes, NUL, non-ASCII.
_FOREIGN_CHARS = "=+/. \t\r\n%?#&,;:\"'\\\x00\x7f\u00e9\u2028\U0001f600"
_TOKEN_CHARS = B64URL_ALPHABET + "."

#: ``alg`` values that must never be accepted by a verifier configured for
#: asymmetric algorithms: ``none`` in every case, HMAC (algorithm confusion),
#: wrong case, padding, encryption algorithms, lookalikes and non-strings.
HOSTILE_ALGS: tuple[Any, ...] = (
    "none",
    "None",
    "NONE",
    "nOnE",
    "none ",
    " none",
    "",
    "HS256",
    "HS384",
    "HS512",
    "hs256",
    "rs256",
    "RS256 ",
    " RS256",
    "RS256\x00",
    "RS 256",
    "RS1",
    "ES256K",
    "Ed25519",
    "RSA-OAEP",
    "RSA1_5",
    "dir",
    "A256GCM",
    "A128KW",
    None,
    0,
    1,
    True,
    ["RS256"],
    {"alg": "RS256"},
)

#: ``kid`` values used for injection attempts (path traversal, SQL, URLs,
#: headers, huge and empty strings) and non-string kids.
HOSTILE_KIDS: tuple[Any, ...] = (
    "",
    " ",
    "../../../../dev/null",
    "/dev/null",
    "' OR '1'='1",
    "1; DROP TABLE keys --",
    "https://attacker.example/jwks.json",
    "kid\r\nX-Injected: 1",
    "\x00",
    "\u202e\u0635",
    "k" * 2000,
    None,
    0,
    -1,
    1.5,
    True,
    [],
    ["kid"],
    {},
    {"kid": "kid"},
)

_ATTACKER_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
    "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
}

#: Header parameters that must never make a token acceptable on their own:
#: key injection (``jwk``, ``jku``, ``x5u``, ``x5c``), critical extensions,
#: unencoded payloads (RFC 7797), JWE markers and odd ``typ`` values.
HOSTILE_HEADER_PARAMS: tuple[tuple[str, Any], ...] = (
    ("jwk", _ATTACKER_JWK),
    ("jwk", {"kty": "oct", "k": "c2VjcmV0"}),
    ("jku", "https://attacker.example/jwks.json"),
    ("jku", "http://127.0.0.1:1/jwks"),
    ("x5u", "https://attacker.example/cert.pem"),
    ("x5c", ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
    ("x5t", "dGh1bWJwcmludA"),
    ("crit", ["exp"]),
    ("crit", ["b64"]),
    ("crit", []),
    ("crit", "b64"),
    ("crit", [1]),
    ("crit", ["zip"]),
    ("crit", ["alg"]),
    ("zip", "DEF"),
    ("b64", False),
    ("b64", True),
    ("b64", "false"),
    ("b64", 0),
    ("enc", "A256GCM"),
    ("typ", "JWT"),
    ("typ", "at+jwt"),
    ("typ", "application/at+jwt"),
    ("typ", "AT+JWT"),
    ("typ", "JOSE"),
    ("typ", "id_token+jwt"),
    ("typ", "secevent+jwt"),
    ("typ", ""),
    ("typ", 1),
    ("typ", None),
    ("cty", "JWT"),
    ("kid", None),
    ("kid", 7),
    ("kid", "unknown-kid"),
    ("nested", {"a": [{"b": [1, 2, {"c": None}]}]}),
)


class Mutant(NamedTuple):
    """A changed copy of a token and the name of the change (for reports)."""

    kind: str
    token: str


def b64url(data: bytes | str) -> str:
    """base64url without padding (RFC 7515 §2)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    """Compact JSON, base64url-encoded (NaN and Infinity allowed on purpose)."""
    return b64url(json.dumps(value, separators=(",", ":")))


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- raw input ----------------------------------------------------------------


def json_values(*, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, including huge integers, NaN/Infinity and odd text."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def compact_tokens() -> st.SearchStrategy[str]:
    """Three base64url segments: random JSON (often a plausible header with an
    allowlisted ``alg``), random payload and random signature bytes."""
    algs = st.sampled_from(["RS256", "PS256", "ES256", "ES512", "EdDSA", "HS256", *HOSTILE_ALGS[:8]])
    plausible_header = st.fixed_dictionaries(
        {"alg": algs},
        optional={"kid": st.one_of(st.text(max_size=10), st.sampled_from(HOSTILE_KIDS)), "typ": st.text(max_size=8)},
    )
    header = st.one_of(plausible_header.map(b64url_json), json_values().map(b64url_json), st.binary().map(b64url))
    payload = st.one_of(json_values().map(b64url_json), st.binary(max_size=64).map(b64url))
    signature = st.one_of(
        st.binary(max_size=600).map(b64url),
        st.sampled_from([32, 48, 64, 96, 132, 256, 384, 512]).flatmap(
            lambda n: st.binary(min_size=n, max_size=n).map(b64url)
        ),
    )
    return st.tuples(header, payload, signature).map(".".join)


def garbage_inputs() -> st.SearchStrategy[Any]:
    """Anything a caller might pass as a token: text, bytes, token-like text,
    structured three-segment tokens, and values that are not strings at all."""
    return st.one_of(
        st.text(),
        st.binary(),
        st.text(alphabet=_TOKEN_CHARS + _FOREIGN_CHARS, max_size=200),
        compact_tokens(),
        compact_tokens().map(lambda token: token.encode("ascii")),
        st.binary().map(bytearray),
        st.binary().map(memoryview),
        st.binary().map(lambda data: memoryview(bytearray(data))),
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    )


# -- mutations of a valid token -------------------------------------------------


def _segments(token: str) -> list[str]:
    return token.split(".")


def _header(token: str) -> dict[str, Any]:
    value = json.loads(_b64url_decode(_segments(token)[0]))
    assert isinstance(value, dict)
    return value


def _claims(token: str) -> dict[str, Any]:
    value = json.loads(_b64url_decode(_segments(token)[1]))
    assert isinstance(value, dict)
    return value


def _with_segment(token: str, index: int, segment: str) -> str:
    parts = _segments(token)
    parts[index] = segment
    return ".".join(parts)


@st.composite
def _character_mutants(draw: st.DrawFn, token: str) -> Mutant:
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "append", "case"]))
    index = draw(st.integers(min_value=0, max_value=len(token) - 1))
    char = draw(st.sampled_from(B64URL_ALPHABET + _FOREIGN_CHARS))
    if kind == "flip":
        return Mutant(kind, token[:index] + char + token[index + 1 :])
    if kind == "insert":
        return Mutant(kind, token[:index] + char + token[index:])
    if kind == "delete":
        return Mutant(kind, token[:index] + token[index + 1 :])
    if kind == "truncate":
        return Mutant(kind, token[:index])
    if kind == "append":
        return Mutant(kind, token + draw(st.text(min_size=1, max_size=8)))
    return Mutant(kind, token[:index] + token[index].swapcase() + token[index + 1 :])


@st.composite
def _segment_mutants(draw: st.DrawFn, token: str) -> Mutant:
    header, payload, signature = _segments(token)
    shapes = {
        "swap header and payload": f"{payload}.{header}.{signature}",
        "swap payload and signature": f"{header}.{signature}.{payload}",
        "header twice": f"{header}.{header}.{signature}",
        "payload twice": f"{header}.{payload}.{payload}",
        "signature stripped": f"{header}.{payload}.",
        "signature dropped": f"{header}.{payload}",
        "extra segment": f"{token}.{signature}",
        "extra empty segment": f"{token}.",
        "empty header": f".{payload}.{signature}",
        "empty payload": f"{header}..{signature}",
        "leading dot": f".{token}",
        "double dot": f"{header}..{payload}.{signature}",
        "jwe shape": f"{header}.{payload}.{signature}.{payload}.{signature}",
        "json serialization": json.dumps({"protected": header, "payload": payload, "signature": signature}),
        "signature doubled": f"{header}.{payload}.{signature}{signature}",
        "signature halved": f"{header}.{payload}.{signature[: len(signature) // 2]}",
    }
    kind = draw(st.sampled_from(sorted(shapes)))
    return Mutant(kind, shapes[kind])


def _non_canonical(segment: str, offset: int) -> str | None:
    """*segment* with its last character's unused low bits set (RFC 4648 §3.5)."""
    unused = {2: 4, 3: 2}.get(len(segment) % 4)
    if unused is None:
        return None
    value = B64URL_ALPHABET.index(segment[-1])
    extra = 1 + offset % ((1 << unused) - 1)
    return segment[:-1] + B64URL_ALPHABET[(value & ~((1 << unused) - 1)) | extra]


@st.composite
def _encoding_mutants(draw: st.DrawFn, token: str) -> Mutant:
    parts = _segments(token)
    index = draw(st.integers(min_value=0, max_value=2))
    kind = draw(
        st.sampled_from(["padding", "whitespace", "standard alphabet", "non-canonical", "percent-encoded", "unicode"])
    )
    if kind == "padding":
        parts[index] += draw(st.sampled_from(["=", "==", "==="]))
    elif kind == "whitespace":
        space = draw(st.sampled_from([" ", "\t", "\n", "\r\n", "\u00a0"]))
        where = draw(st.sampled_from(["before", "after", "inside"]))
        if where == "before":
            parts[index] = space + parts[index]
        elif where == "after":
            parts[index] += space
        else:
            cut = draw(st.integers(min_value=0, max_value=len(parts[index])))
            parts[index] = parts[index][:cut] + space + parts[index][cut:]
    elif kind == "standard alphabet":
        converted = parts[index].replace("-", "+").replace("_", "/")
        if converted == parts[index]:
            converted = parts[index][:-1] + draw(st.sampled_from("+/"))
        parts[index] = converted
    elif kind == "non-canonical":
        changed = None
        for offset in range(3):
            changed = _non_canonical(parts[(index + offset) % 3], draw(st.integers(0, 6)))
            if changed is not None:
                parts[(index + offset) % 3] = changed
                break
        if changed is None:  # every segment is a multiple of 4 characters long
            parts[index] += "A="
    elif kind == "percent-encoded":
        parts[index] = parts[index].replace("-", "%2D").replace("_", "%5F") + "%3D"
    else:
        parts[index] = parts[index][:-1] + draw(st.sampled_from(["\u0410", "\uff21", "\u00e9", "\U0001d400"]))
    return Mutant(f"encoding: {kind}", ".".join(parts))


def _raw_json_header(header: Mapping[str, Any], extra: str) -> str:
    """A header whose JSON text is written by hand (things json.dumps refuses)."""
    body = json.dumps(dict(header), separators=(",", ":"))
    return b64url(body[:-1] + "," + extra + "}")


@st.composite
def _header_mutants(draw: st.DrawFn, token: str) -> Mutant:
    header = _header(token)
    kind = draw(
        st.sampled_from(
            [
                "alg",
                "kid",
                "param",
                "drop alg",
                "drop kid",
                "reorder",
                "whitespace",
                "duplicate member",
                "deep nesting",
                "huge number",
                "not an object",
                "not utf-8",
                "nan",
            ]
        )
    )
    changed = dict(header)
    if kind == "alg":
        changed["alg"] = draw(st.sampled_from(HOSTILE_ALGS))
        return Mutant(f"header alg={changed['alg']!r}", _with_segment(token, 0, b64url_json(changed)))
    if kind == "kid":
        changed["kid"] = draw(st.one_of(st.sampled_from(HOSTILE_KIDS), st.text(max_size=30)))
        return Mutant("header kid", _with_segment(token, 0, b64url_json(changed)))
    if kind == "param":
        for name, value in draw(st.lists(st.sampled_from(HOSTILE_HEADER_PARAMS), min_size=1, max_size=3)):
            changed[name] = value
        return Mutant("header params", _with_segment(token, 0, b64url_json(changed)))
    if kind in ("drop alg", "drop kid"):
        changed.pop(kind.split()[1], None)
        return Mutant(f"header {kind}", _with_segment(token, 0, b64url_json(changed)))
    if kind == "reorder":
        return Mutant("header reordered", _with_segment(token, 0, b64url_json(dict(reversed(header.items())))))
    if kind == "whitespace":
        text = json.dumps(header, indent=draw(st.sampled_from([None, 1, 2])))
        return Mutant("header whitespace", _with_segment(token, 0, b64url(" " + text + "\n")))
    if kind == "duplicate member":
        alg = draw(st.sampled_from(['"none"', '"HS256"', json.dumps(header.get("alg"))]))
        return Mutant("header duplicate alg", _with_segment(token, 0, _raw_json_header(header, f'"alg":{alg}')))
    if kind == "deep nesting":
        depth = draw(st.sampled_from([50, 1000, 2500]))
        nested = "[" * depth + "]" * depth
        return Mutant(f"header nesting {depth}", _with_segment(token, 0, _raw_json_header(header, f'"x":{nested}')))
    if kind == "huge number":
        number = draw(st.sampled_from(["9" * 5000, "1e999", "-1e999", "1" + "0" * 400 + ".5", "123456789" * 50]))
        return Mutant("header huge number", _with_segment(token, 0, _raw_json_header(header, f'"x":{number}')))
    if kind == "not an object":
        text = draw(st.sampled_from(["[]", "null", '"RS256"', "1", "true", "{", '{"alg":"RS256"', "", "\ufeff{}"]))
        return Mutant("header not an object", _with_segment(token, 0, b64url(text)))
    if kind == "not utf-8":
        raw = b'{"alg":"' + draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80"])) + b'"}'
        return Mutant("header not utf-8", _with_segment(token, 0, b64url(raw)))
    constant = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
    return Mutant("header json constant", _with_segment(token, 0, _raw_json_header(header, f'"x":{constant}')))


@st.composite
def _payload_mutants(draw: st.DrawFn, token: str) -> Mutant:
    claims = _claims(token)
    kind = draw(
        st.sampled_from(["claim", "drop claim", "add claim", "reorder", "whitespace", "not an object", "raw bytes"])
    )
    changed = dict(claims)
    if kind == "claim":
        name = draw(st.sampled_from(sorted({*claims, "iss", "aud", "exp", "scope", "sub"})))
        changed[name] = draw(
            st.one_of(
                json_values(max_leaves=4),
                st.sampled_from(["admin", "read write admin", 2**62, 9_999_999_999, ["https://other.example"]]),
            )
        )
        return Mutant(f"payload {name} changed", _with_segment(token, 1, b64url_json(changed)))
    if kind == "drop claim":
        name = draw(st.sampled_from(sorted(claims)))
        changed.pop(name)
        return Mutant(f"payload {name} dropped", _with_segment(token, 1, b64url_json(changed)))
    if kind == "add claim":
        changed[draw(st.text(min_size=1, max_size=10))] = draw(json_values(max_leaves=4))
        return Mutant("payload claim added", _with_segment(token, 1, b64url_json(changed)))
    if kind == "reorder":
        return Mutant("payload reordered", _with_segment(token, 1, b64url_json(dict(reversed(claims.items())))))
    if kind == "whitespace":
        return Mutant("payload whitespace", _with_segment(token, 1, b64url(json.dumps(claims, indent=1))))
    if kind == "not an object":
        text = draw(st.sampled_from(["[]", "null", '"claims"', "1e999", "{", "NaN"]))
        return Mutant("payload not an object", _with_segment(token, 1, b64url(text)))
    return Mutant("payload raw bytes", _with_segment(token, 1, b64url(draw(st.binary(min_size=1, max_size=64)))))


def token_mutants(token: str) -> st.SearchStrategy[Mutant]:
    """Structured mutations of the compact JWS *token*, none of them re-signed.

    Characters flipped, inserted, deleted; segments swapped, duplicated,
    dropped or added; padding, whitespace, ``+``/``/``, non-canonical final
    characters; headers re-encoded with hostile ``alg``/``kid``/``crit``/
    ``b64``/``typ``/``jwk``/``jku``, nested JSON, huge numbers or duplicate
    members; payloads re-encoded with changed claims. The original signature
    is kept, so a correct verifier refuses every one of them. Mutants equal to
    *token* are filtered out.
    """
    if token.count(".") != 2:
        raise ValueError("token_mutants needs a compact JWS (three segments)")
    return st.one_of(
        _character_mutants(token),
        _segment_mutants(token),
        _encoding_mutants(token),
        _header_mutants(token),
        _payload_mutants(token),
    ).filter(lambda mutant: mutant.token != token)


def mutated_tokens(token: str) -> st.SearchStrategy[str]:
    """Like :func:`token_mutants`, yielding only the mutated token text."""
    return token_mutants(token).map(lambda mutant: mutant.token)


# -- signed hostile content -----------------------------------------------------


def hostile_headers(alg: str, kid: str | None) -> st.SearchStrategy[dict[str, Any]]:
    """Headers for a token that *is* signed with the right key (``alg`` and
    ``kid`` kept) but carries hostile extra parameters."""
    base: dict[str, Any] = {"alg": alg} if kid is None else {"alg": alg, "kid": kid}
    extras = st.lists(st.sampled_from(HOSTILE_HEADER_PARAMS), max_size=3)
    junk = st.dictionaries(
        st.text(min_size=1, max_size=6).filter(lambda k: k not in ("alg", "kid")), json_values(max_leaves=4), max_size=2
    )

    def build(pairs: list[tuple[str, Any]], more: dict[str, Any]) -> dict[str, Any]:
        header = dict(base)
        header.update(more)
        header.update(pairs)
        # The signature must stay verifiable with the configured key.
        header["alg"] = alg
        if kid is not None:
            header["kid"] = kid
        return header

    return st.builds(build, extras, junk)


def claim_sets(*, issuer: str, audience: str, now: float) -> st.SearchStrategy[dict[str, Any]]:
    """Claim sets around an access token for *issuer*/*audience* at *now*:
    sometimes valid, often with one or more claims of the wrong type, out of
    range, in the past or future, or missing."""
    moment = int(now)
    numeric = st.one_of(
        st.integers(min_value=moment - 10_000, max_value=moment + 10_000),
        st.floats(min_value=moment - 10_000, max_value=moment + 10_000),
        st.sampled_from([0, -1, 2**31, 2**63, 10**20, 253402300799, 253402300800, 1e308, True, False]),
        st.sampled_from(["1800000000", None, [moment], {"t": moment}]),
    )
    fields: dict[str, st.SearchStrategy[Any]] = {
        "iss": st.sampled_from([issuer, issuer.rstrip("/"), issuer + "/", issuer.upper(), "", None, 1, [issuer]]),
        "aud": st.sampled_from(
            [audience, [audience], [audience, "other"], ["other"], [], [1], [audience, 1], "", None, {"aud": audience}]
        ),
        "exp": numeric,
        "nbf": numeric,
        "iat": numeric,
        "sub": st.one_of(st.text(max_size=10), st.sampled_from([None, 1, ["a"]])),
        "jti": st.one_of(st.text(max_size=10), st.sampled_from([None, 7])),
        "client_id": st.one_of(st.text(max_size=10), st.sampled_from([None, 7, {"id": 1}])),
        "azp": st.one_of(st.text(max_size=10), st.sampled_from([None, False])),
        "scope": st.one_of(
            st.text(max_size=20),
            st.lists(st.text(max_size=5), max_size=3),
            st.sampled_from([None, 1, [1], {"a": "b"}, ["read", None]]),
        ),
        "scp": st.one_of(st.lists(st.text(max_size=5), max_size=3), st.sampled_from([None, 0, "read write"])),
    }
    valid = {"iss": issuer, "aud": audience, "exp": moment + 300, "iat": moment, "nbf": moment}

    def build(chosen: dict[str, Any], dropped: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        claims = {**valid, **extra, **chosen}
        for name in dropped:
            claims.pop(name, None)
        return claims

    return st.builds(
        build,
        st.fixed_dictionaries({}, optional=fields),
        st.lists(st.sampled_from(sorted(valid)), max_size=2),
        st.dictionaries(st.text(min_size=1, max_size=8), json_values(max_leaves=4), max_size=3),
    )


# -- Authorization header values ---------------------------------------------


def token68s() -> st.SearchStrategy[str]:
    """Credentials in RFC 6750 §2.1 ``b64token`` syntax."""
    return st.from_regex(r"[A-Za-z0-9\-._~+/]+=*", fullmatch=True)


def _schemes() -> st.SearchStrategy[str]:
    return st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"])


def bearer_values(tokens: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """Well-formed ``Bearer <token>`` values (scheme in any case; surrounding
    and separating spaces varied as RFC 9110 allows)."""
    tokens = token68s() if tokens is None else tokens
    return st.builds(
        lambda lead, scheme, gap, token, trail: f"{lead}{scheme}{gap}{token}{trail}",
        st.sampled_from(["", " "]),
        _schemes(),
        st.sampled_from([" ", "  "]),
        tokens,
        st.sampled_from(["", " "]),
    )


def authorization_values(tokens: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """``Authorization`` header values, well-formed and not: other schemes,
    missing or doubled credentials, separators, control and non-ASCII
    characters, and arbitrary text."""
    tokens = token68s() if tokens is None else tokens
    malformed: list[Callable[[str, str], str]] = [
        lambda scheme, token: scheme,
        lambda scheme, token: scheme + " ",
        lambda scheme, token: f"{scheme}\t{token}",
        lambda scheme, token: f"{scheme} {token} {token}",
        lambda scheme, token: f"{scheme} {token},",
        lambda scheme, token: f"{scheme} {token}, {scheme} {token}",
        lambda scheme, token: f"{scheme} {token}=a",
        lambda scheme, token: f"{scheme} ={token}",
        lambda scheme, token: f"{scheme} {token}\x00",
        lambda scheme, token: f"{scheme} {token}\r\n",
        lambda scheme, token: f"{scheme} \u00e9{token}",
        lambda scheme, token: f'{scheme} "{token}"',
        lambda scheme, token: f"{scheme}:{token}",
        lambda scheme, token: f"{scheme}{token}",
        lambda scheme, token: f"{scheme} token={token}",
    ]
    other_schemes = st.sampled_from(["Basic", "Digest", "DPoP", "MAC", "Token", "JWT", "Bearer-", "Bear", "X"])
    return st.one_of(
        bearer_values(tokens),
        st.builds(lambda build, scheme, token: build(scheme, token), st.sampled_from(malformed), _schemes(), tokens),
        st.builds(lambda scheme, token: f"{scheme} {token}", other_schemes, tokens),
        st.text(),
        st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255)),
    )
