"""Compact JWS parsing (jwt_guard._token.parse): every structural rule, before any key or crypto."""

from __future__ import annotations

import json

import pytest

from jwt_guard._config import DEFAULT_MAX_TOKEN_SIZE
from jwt_guard._token import (
    MAX_HEADER_BRACKETS,
    MAX_JSON_DEPTH,
    ParsedToken,
    b64url_decode,
    decode_json_object,
    parse,
)
from jwt_guard.errors import InvalidToken, JWTGuardError, MalformedToken, TokenTooLarge, UnsupportedAlgorithm
from jwt_guard.testing import b64url

ALGS = frozenset({"RS256", "ES256"})
HEADER = b'{"alg":"RS256","kid":"k1"}'
PAYLOAD = b'{"sub":"user-1","exp":1800000300}'
SIGNATURE = bytes(range(64))


def compact(header: bytes = HEADER, payload: bytes = PAYLOAD, signature: bytes = SIGNATURE) -> str:
    return f"{b64url(header)}.{b64url(payload)}.{b64url(signature)}"


def header_token(header: dict | bytes) -> str:
    return compact(header if isinstance(header, bytes) else json.dumps(header).encode())


def do_parse(token, *, max_size: int = DEFAULT_MAX_TOKEN_SIZE, algorithms: frozenset[str] = ALGS) -> ParsedToken:
    return parse(token, max_size=max_size, algorithms=algorithms)


def sized_token(length: int) -> str:
    """A well-formed token exactly *length* characters long."""
    for spaces in range(3):
        header = b64url(b'{"alg":"RS256"' + b" " * spaces + b"}")
        payload = b64url(PAYLOAD)
        for size in range(length):
            token = f"{header}.{payload}.{b64url(b'x' * size)}"
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise AssertionError(f"no token of length {length}")


def noncanonical(segment: str) -> str:
    """Same decoded bytes for a lenient decoder, but the last character carries non-zero spare bits."""
    assert len(segment) % 4 in (2, 3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) + 1]


# -- a valid token --------------------------------------------------------------


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda token: token, id="str"),
        pytest.param(lambda token: token.encode(), id="bytes"),
        pytest.param(lambda token: bytearray(token.encode()), id="bytearray"),
        pytest.param(lambda token: memoryview(token.encode()), id="memoryview"),
    ],
)
def test_parse_valid_token(convert):
    token = compact()
    parsed = do_parse(convert(token))
    assert parsed.raw == token
    assert isinstance(parsed.raw, str)
    assert parsed.alg == "RS256"
    assert parsed.kid == "k1"
    assert parsed.header == {"alg": "RS256", "kid": "k1"}
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert parsed.signature == SIGNATURE
    assert parsed.claims() == json.loads(PAYLOAD)


def test_parse_without_kid():
    parsed = do_parse(header_token({"alg": "ES256", "typ": "at+jwt"}))
    assert parsed.kid is None
    assert parsed.alg == "ES256"
    assert parsed.header["typ"] == "at+jwt"


# -- size cap -------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("a" * (1024 * 1024), id="1MiB-str"),
        pytest.param(b"a" * (1024 * 1024), id="1MiB-bytes"),
        pytest.param(bytearray(1024 * 1024), id="1MiB-bytearray-of-nul"),
        pytest.param("\u00e9" * (1024 * 1024), id="1MiB-non-ascii"),
        pytest.param(sized_token(DEFAULT_MAX_TOKEN_SIZE + 1), id="one-over-default"),
        pytest.param(sized_token(DEFAULT_MAX_TOKEN_SIZE + 1).encode(), id="one-over-default-bytes"),
    ],
)
def test_too_large(token):
    """The size cap comes first: even garbage over the cap is TokenTooLarge, not MalformedToken."""
    with pytest.raises(TokenTooLarge):
        do_parse(token)


def test_default_cap_is_8_kib():
    assert DEFAULT_MAX_TOKEN_SIZE == 8 * 1024


@pytest.mark.parametrize("as_bytes", [pytest.param(False, id="str"), pytest.param(True, id="bytes")])
def test_exactly_at_cap_is_parsed(as_bytes):
    token = sized_token(DEFAULT_MAX_TOKEN_SIZE)
    assert len(token) == DEFAULT_MAX_TOKEN_SIZE
    parsed = do_parse(token.encode() if as_bytes else token)
    assert parsed.alg == "RS256"


@pytest.mark.parametrize(
    ("max_size", "length", "too_large"),
    [
        pytest.param(256, 256, False, id="at-custom-cap"),
        pytest.param(256, 257, True, id="over-custom-cap"),
        pytest.param(1024 * 1024, 20_000, False, id="raised-cap"),
    ],
)
def test_configurable_cap(max_size, length, too_large):
    token = sized_token(length)
    if too_large:
        with pytest.raises(TokenTooLarge):
            do_parse(token, max_size=max_size)
    else:
        assert do_parse(token, max_size=max_size).raw == token


def test_too_large_is_malformed():
    assert issubclass(TokenTooLarge, MalformedToken)


# -- segments ---------------------------------------------------------------------

H, P, S = compact().split(".")
JWE_HEADER = b64url(b'{"alg":"RSA-OAEP","enc":"A256GCM"}')


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("", "empty", id="empty-str"),
        pytest.param(b"", "empty", id="empty-bytes"),
        pytest.param(H, "three", id="one-segment"),
        pytest.param(f"{H}.{P}", "three", id="two-segments"),
        pytest.param(f"{H}.{P}.{S}.{S}", "three", id="four-segments"),
        pytest.param(f"{H}.{P}.{S}.{S}.{S}.{S}", "three", id="six-segments"),
        pytest.param(f"{JWE_HEADER}.{S}.{S}.{S}.{S}", "JWE", id="jwe-five-segments"),
        pytest.param(f"{JWE_HEADER}..{S}.{S}.{S}", "JWE", id="jwe-dir-empty-key"),
        pytest.param("....", "JWE", id="five-empty-segments"),
        pytest.param('{"payload":"e30","signatures":[]}', "JSON serialization", id="json-general"),
        pytest.param('{"payload":"e30","protected":"e30","signature":"AA"}', "JSON serialization", id="json-flattened"),
        pytest.param('  {"payload":"e30"}', "JSON serialization", id="json-leading-space"),
        pytest.param(f".{P}.{S}", "empty segment", id="empty-header"),
        pytest.param(f"{H}..{S}", "empty segment", id="empty-payload"),
        pytest.param(f"{H}.{P}.", "unsigned", id="empty-signature"),
        pytest.param("..", "empty segment", id="only-dots"),
    ],
)
def test_segments(token, message):
    with pytest.raises(MalformedToken, match=message) as info:
        do_parse(token)
    assert type(info.value) is MalformedToken


# -- strict base64url ---------------------------------------------------------------


# Segments whose length % 4 is 2 or 3, so the last character has spare bits.
HEADER_2 = b'{"alg":"RS256" }'  # 16 bytes -> 22 characters
HEADER_3 = b'{"alg":"RS256"  }'  # 17 bytes -> 23 characters
PAYLOAD_2 = b'{"a":1}'  # 7 bytes -> 10 characters
PAYLOAD_3 = b"{}"  # 2 bytes -> 3 characters
SIG_2 = bytes(range(64))  # 64 bytes -> 86 characters
SIG_3 = bytes(range(65))  # 65 bytes -> 87 characters


@pytest.mark.parametrize(
    ("header", "payload", "signature", "part"),
    [
        pytest.param(HEADER_2, PAYLOAD, SIGNATURE, 0, id="header-2-spare-bits"),
        pytest.param(HEADER_3, PAYLOAD, SIGNATURE, 0, id="header-3-spare-bits"),
        pytest.param(HEADER, PAYLOAD_2, SIGNATURE, 1, id="payload-2-spare-bits"),
        pytest.param(HEADER, PAYLOAD_3, SIGNATURE, 1, id="payload-3-spare-bits"),
        pytest.param(HEADER, PAYLOAD, SIG_2, 2, id="signature-2-spare-bits"),
        pytest.param(HEADER, PAYLOAD, SIG_3, 2, id="signature-3-spare-bits"),
    ],
)
def test_non_canonical_trailing_bits(header, payload, signature, part):
    """RFC 4648 §3.5: a last character with non-zero spare bits is refused (token malleability)."""
    segments = compact(header, payload, signature).split(".")
    assert do_parse(".".join(segments)).alg == "RS256"  # the canonical form parses
    segments[part] = noncanonical(segments[part])
    with pytest.raises(MalformedToken, match="base64url"):
        do_parse(".".join(segments))


@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
def test_length_one_mod_four(part):
    """A segment of length 4n+1 cannot be base64url."""
    segments = compact().split(".")
    segments[part] = segments[part] + "A" * ((1 - len(segments[part])) % 4)
    assert len(segments[part]) % 4 == 1
    with pytest.raises(MalformedToken, match="base64url"):
        do_parse(".".join(segments))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param(compact(HEADER_2).replace(".", "==.", 1), "padding", id="header-padding"),
        pytest.param(f"{H}.{b64url(PAYLOAD_3)}=.{S}", "padding", id="payload-padding"),
        pytest.param(compact(HEADER, PAYLOAD, SIG_2) + "==", "padding", id="signature-padding"),
        pytest.param(f"{H}.{P}.{S[:4]}+{S[5:]}", "base64url", id="plus"),
        pytest.param(f"{H}.{P}.{S[:4]}/{S[5:]}", "base64url", id="slash"),
        pytest.param(f" {H}.{P}.{S}", "base64url", id="leading-space"),
        pytest.param(f"{H}.{P}.{S} ", "base64url", id="trailing-space"),
        pytest.param(f"{H}.{P}.{S}\n", "base64url", id="trailing-newline"),
        pytest.param(f"{H}\n.{P}.{S}", "base64url", id="inner-newline"),
        pytest.param(f"{H}.{P[:4]}\t{P[4:]}.{S}", "base64url", id="tab"),
        pytest.param(f"Bearer {H}.{P}.{S}", "base64url", id="scheme-included"),
        pytest.param(f"{H}.{P}.{S}\u00e9", "base64url", id="non-ascii-str"),
        pytest.param(f"{H}.{P}.{S}".encode() + b"\xc3\xa9", "base64url", id="non-ascii-bytes"),
        pytest.param(f"{H}.{P}.{S}\x00", "base64url", id="nul"),
        pytest.param(f"{H}.{P}.{S}\ud800", "base64url", id="lone-surrogate"),
        pytest.param(f"{H}.{P}.{S[:-2]}%3D", "base64url", id="percent-encoded"),
    ],
)
def test_strict_base64url(token, message):
    with pytest.raises(MalformedToken, match=message):
        do_parse(token)


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        pytest.param(b"", b"", id="empty"),
        pytest.param(b"YQ", b"a", id="two-chars"),
        pytest.param(b"YWI", b"ab", id="three-chars"),
        pytest.param(b"YWJj", b"abc", id="four-chars"),
        pytest.param(b"-_8", b"\xfb\xff", id="url-alphabet"),
    ],
)
def test_b64url_decode(segment, expected):
    assert b64url_decode(segment) == expected


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param(b"YQ==", id="padding"),
        pytest.param(b"YR", id="spare-bits"),
        pytest.param(b"Y", id="length-1-mod-4"),
        pytest.param(b"+/8A", id="standard-alphabet"),
        pytest.param(b"YW Jj", id="space"),
    ],
)
def test_b64url_decode_strict(segment):
    with pytest.raises(ValueError):
        b64url_decode(segment)


# -- header JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(b'["alg","RS256"]', "not a JSON object", id="array"),
        pytest.param(b'"RS256"', "not a JSON object", id="string"),
        pytest.param(b"256", "not a JSON object", id="number"),
        pytest.param(b"null", "not a JSON object", id="null"),
        pytest.param(b"true", "not a JSON object", id="true"),
        pytest.param(b"{", "not a JSON object", id="truncated"),
        pytest.param(b'{"alg":"RS256"} {}', "not a JSON object", id="two-values"),
        pytest.param(b'{"alg":"RS256",}', "not a JSON object", id="trailing-comma"),
        pytest.param(b"{'alg':'RS256'}", "not a JSON object", id="single-quotes"),
        pytest.param(b'{"alg":"RS\xff256"}', "not a JSON object", id="invalid-utf8"),
        pytest.param(b'\xef\xbb\xbf{"alg":"RS256"}', "not a JSON object", id="utf8-bom"),
        pytest.param(b'{"alg":"RS256"}'.decode().encode("utf-16"), "not a JSON object", id="utf16"),
        pytest.param(b'{"alg":"RS256","x":NaN}', "not a JSON object", id="nan"),
        pytest.param(b'{"alg":"RS256","x":Infinity}', "not a JSON object", id="infinity"),
        pytest.param(b'{"alg":"RS256","x":-Infinity}', "not a JSON object", id="minus-infinity"),
        pytest.param(b'{"alg":"RS256","alg":"RS256"}', "not a JSON object", id="duplicate-alg"),
        pytest.param(b'{"alg":"none","alg":"RS256"}', "not a JSON object", id="duplicate-alg-smuggling"),
        pytest.param(b'{"alg":"RS256","kid":"a","kid":"b"}', "not a JSON object", id="duplicate-kid"),
        pytest.param(b'{"alg":"RS256","x":{"y":1,"y":2}}', "not a JSON object", id="duplicate-nested"),
        pytest.param(b'{"alg":"RS256","x":' + b"[" * 3000 + b"]" * 3000 + b"}", "not a JSON object", id="deep-array"),
        pytest.param(
            b'{"alg":"RS256","x":' + b'{"a":' * 1500 + b"1" + b"}" * 1500 + b"}", "not a JSON object", id="deep-object"
        ),
        pytest.param(b'{"alg":"RS256","x":' + b"9" * 5000 + b"}", "not a JSON object", id="huge-integer"),
        pytest.param(b'{"alg":"RS256","x":-' + b"9" * 5000 + b"}", "not a JSON object", id="huge-negative-integer"),
        pytest.param(b"{}", "no algorithm", id="no-alg"),
        pytest.param(b'{"alg":null}', "no algorithm", id="alg-null"),
        pytest.param(b'{"alg":256}', "no algorithm", id="alg-number"),
        pytest.param(b'{"alg":["RS256"]}', "no algorithm", id="alg-list"),
        pytest.param(b'{"alg":{"name":"RS256"}}', "no algorithm", id="alg-object"),
        pytest.param(b'{"alg":true}', "no algorithm", id="alg-bool"),
        pytest.param(b'{"ALG":"RS256"}', "no algorithm", id="alg-case"),
    ],
)
def test_header_must_be_an_object_with_a_string_alg(header, message):
    """Every bad header is MalformedToken, never a Python exception (RecursionError, ValueError, ...)."""
    with pytest.raises(MalformedToken, match=message):
        do_parse(compact(header), max_size=1024 * 1024)


def test_deep_nesting_fits_in_the_default_cap():
    """The RecursionError case is reachable by a token small enough to pass the size cap."""
    token = compact(b'{"alg":"RS256","x":' + b"[" * 3000 + b"]" * 3000 + b"}")
    assert len(token) <= DEFAULT_MAX_TOKEN_SIZE
    with pytest.raises(MalformedToken):
        do_parse(token)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b' {"alg":"RS256"} ', id="surrounding-whitespace"),
        pytest.param(b'{"alg":"RS256","x":[[1]],"y":{"z":null}}', id="nested-values"),
        pytest.param(b'{"alg":"RS256","x":' + b"9" * 1000 + b"}", id="large-but-allowed-integer"),
        pytest.param('{"alg":"RS256","x":"caf\u00e9"}'.encode(), id="utf8-text"),
        pytest.param(b'{"alg":"RS256","x":"\\u0000"}', id="escaped-nul"),
    ],
)
def test_acceptable_headers(header):
    assert do_parse(compact(header)).alg == "RS256"


# -- crit, b64, enc, kid -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param({"alg": "RS256", "crit": ["exp"], "exp": 1}, "unsupported extension", id="crit-unknown"),
        pytest.param({"alg": "RS256", "crit": ["b64"]}, "unsupported extension", id="crit-name-absent"),
        pytest.param({"alg": "RS256", "crit": ["b64", "x"], "b64": True, "x": 1}, "unsupported", id="crit-one-unknown"),
        pytest.param({"alg": "RS256", "crit": []}, "invalid crit", id="crit-empty"),
        pytest.param({"alg": "RS256", "crit": "b64", "b64": True}, "invalid crit", id="crit-string"),
        pytest.param({"alg": "RS256", "crit": None}, "invalid crit", id="crit-null"),
        pytest.param({"alg": "RS256", "crit": [1]}, "unsupported extension", id="crit-number-entry"),
        pytest.param({"alg": "RS256", "b64": False}, "b64=false", id="b64-false"),
        pytest.param({"alg": "RS256", "b64": False, "crit": ["b64"]}, "b64=false", id="b64-false-critical"),
        pytest.param({"alg": "RS256", "b64": "false"}, "b64=false", id="b64-string"),
        pytest.param({"alg": "RS256", "b64": None}, "b64=false", id="b64-null"),
        pytest.param({"alg": "RS256", "b64": 0}, "b64=false", id="b64-zero"),
        pytest.param({"alg": "RS256", "enc": "A256GCM"}, "JWE", id="enc"),
        pytest.param({"alg": "RS256", "enc": None}, "JWE", id="enc-null"),
        pytest.param({"alg": "RSA-OAEP", "enc": "A256GCM"}, "JWE", id="jwe-header"),
        pytest.param({"alg": "RS256", "kid": 1}, "non-string kid", id="kid-number"),
        pytest.param({"alg": "RS256", "kid": None}, "non-string kid", id="kid-null"),
        pytest.param({"alg": "RS256", "kid": ["k1"]}, "non-string kid", id="kid-list"),
        pytest.param({"alg": "RS256", "kid": {"k": 1}}, "non-string kid", id="kid-object"),
        pytest.param({"alg": "RS256", "kid": True}, "non-string kid", id="kid-bool"),
    ],
)
def test_header_parameters(header, message):
    with pytest.raises(MalformedToken, match=message):
        do_parse(header_token(header))


@pytest.mark.parametrize(
    ("header", "kid"),
    [
        pytest.param({"alg": "RS256", "crit": ["b64"], "b64": True}, None, id="b64-true-critical"),
        pytest.param({"alg": "RS256", "b64": True}, None, id="b64-true"),
        pytest.param({"alg": "RS256", "kid": ""}, "", id="empty-kid"),
        pytest.param({"alg": "RS256", "kid": "caf\u00e9"}, "caf\u00e9", id="non-ascii-kid"),
        pytest.param({"alg": "RS256", "typ": "JWT", "cty": "x"}, None, id="extra-registered"),
    ],
)
def test_header_parameters_accepted(header, kid):
    assert do_parse(header_token(header)).kid == kid


# -- algorithm allowlist -------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "none"}, id="none"),
        pytest.param({"alg": "None"}, id="None"),
        pytest.param({"alg": "NONE"}, id="NONE"),
        pytest.param({"alg": ""}, id="empty"),
        pytest.param({"alg": "HS256"}, id="hs256-not-allowed"),
        pytest.param({"alg": "RS512"}, id="rs512-not-allowed"),
        pytest.param({"alg": "rs256"}, id="case-differs"),
        pytest.param({"alg": "RS256 "}, id="trailing-space"),
        pytest.param({"alg": "EdDSA"}, id="eddsa-not-allowed"),
        pytest.param({"alg": "none", "kid": 1}, id="before-kid-type"),
        pytest.param({"alg": "none", "crit": ["zip"], "zip": "DEF"}, id="before-crit"),
        pytest.param({"alg": "none", "b64": False}, id="before-b64"),
        pytest.param({"alg": "HS256", "kid": None}, id="before-kid-null"),
    ],
)
def test_algorithm_not_in_allowlist(header):
    """The allowlist is checked before kid, crit and b64 (and before any key lookup)."""
    with pytest.raises(UnsupportedAlgorithm):
        do_parse(header_token(header))


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES384", "EdDSA", "HS512"])
def test_algorithm_in_allowlist(alg):
    assert do_parse(header_token({"alg": alg}), algorithms=frozenset({alg})).alg == alg


def test_empty_allowlist_accepts_nothing():
    with pytest.raises(UnsupportedAlgorithm):
        do_parse(compact(), algorithms=frozenset())


def test_payload_not_decoded_before_signature():
    """parse() checks the payload's encoding, but a payload that is not JSON fails only in claims()."""
    parsed = do_parse(compact(payload=b"not json"))
    with pytest.raises(MalformedToken, match="not a JSON object"):
        parsed.claims()


# -- payload (claims) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[]", id="array"),
        pytest.param(b'"claims"', id="string"),
        pytest.param(b"1", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"sub":"\xff"}', id="invalid-utf8"),
        pytest.param(b'{"exp":NaN}', id="nan"),
        pytest.param(b'{"exp":Infinity}', id="infinity"),
        pytest.param(b'{"x":' + b"[" * 3000 + b"]" * 3000 + b"}", id="deep"),
        pytest.param(b'{"exp":' + b"1" * 5000 + b"}", id="huge-integer"),
        pytest.param(b'{"a":1} x', id="trailing-garbage"),
    ],
)
def test_claims_must_be_a_json_object(payload):
    parsed = do_parse(compact(payload=payload))
    with pytest.raises(MalformedToken):
        parsed.claims()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"sub":"alice","scope":"read","scope":"admin"}', id="top-level"),
        pytest.param(b'{"scope":"admin","sub":"alice","scope":"read"}', id="first-value-escalates"),
        pytest.param(b'{"sub":"a","sub":"a"}', id="same-value-twice"),
        pytest.param(b'{"sub":"alice","sc\\u006fpe":"read","scope":"admin"}', id="escaped-name"),
        pytest.param(b'{"sub" :"alice", "sub":"root"}', id="whitespace-before-colon"),
        pytest.param(b'{"sub":"alice",\n "sub"\t:\r"root"}', id="json-whitespace"),
        pytest.param(b'{"realm_access":{"roles":["user"],"roles":["admin"]}}', id="nested-object"),
        pytest.param(b'{"x":[{"a":1},{"b":2,"b":3}]}', id="object-in-array"),
        pytest.param(b'{"a":{"b":{"c":1,"c":2}}}', id="deeply-nested"),
        pytest.param(b'{"":1,"":2}', id="empty-name"),
        pytest.param(b'{"url":"https://a:b","url":"x:y"}', id="colons-in-values"),
    ],
)
def test_claims_with_duplicate_names_are_refused(payload):
    """A claims set naming a member twice is refused, at any depth (RFC 7519
    §4: a JWT with duplicate claim names must be rejected, or parsed
    lexically-last; another parser keeping the first value would disagree)."""
    parsed = do_parse(compact(payload=payload))
    with pytest.raises(MalformedToken, match="duplicate claim names"):
        parsed.claims()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"sub":"alice","scope":"read admin"}', id="flat"),
        pytest.param(b'{"a":{"b":1},"b":{"a":1}}', id="same-names-in-different-objects"),
        pytest.param(b'{"x":[{"a":1},{"a":2}]}', id="same-name-in-sibling-objects"),
        pytest.param(b'{"sub":"scope","scope":"sub"}', id="names-as-values"),
        pytest.param(b'{"iss":"https://idp.example.com/","aud":"urn:a:b","scope":":x y:"}', id="colons"),
        pytest.param(b' {"sub" : "alice" ,\n"x":1}\n', id="json-whitespace"),
    ],
)
def test_claims_without_duplicates_are_accepted(payload):
    assert do_parse(compact(payload=payload)).claims() == json.loads(payload)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b'{"a":1}', {"a": 1}, id="object"),
        pytest.param(b' {"a":1}\n', {"a": 1}, id="whitespace"),
        pytest.param(b"[1]", None, id="array"),
        pytest.param(b"\xff", None, id="bad-utf8"),
        pytest.param(b"[" * 100_000, None, id="recursion"),
        pytest.param(b"{", None, id="truncated"),
    ],
)
def test_decode_json_object(data, expected):
    """decode_json_object never raises: it answers None for anything but a JSON object."""
    assert decode_json_object(data) == expected


def _nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        pytest.param(_nested(MAX_JSON_DEPTH), True, id="at-the-limit"),
        pytest.param(_nested(MAX_JSON_DEPTH + 1), False, id="one-level-too-deep"),
        pytest.param(_nested(900), False, id="deep-but-parseable-on-every-python"),
        pytest.param(b'{"a":[' + b'{"b":1},' * 200 + b"{}]}", True, id="many-shallow-containers"),
        pytest.param(b'{"a":"' + b"[" * 500 + b'"}', True, id="brackets-inside-a-string"),
        pytest.param(b'{"a":"\\\\"' + b',"b":[[[]]]}', True, id="escaped-backslash-before-quote"),
    ],
)
def test_nesting_depth_is_bounded_the_same_on_every_python(data, accepted):
    """Claims nested deeper than MAX_JSON_DEPTH are refused whatever Python's own
    recursion behaviour (3.13 parses far deeper than 3.10-3.12)."""
    assert (decode_json_object(data) is not None) is accepted


@pytest.mark.parametrize(
    ("extra", "accepted"),
    [
        pytest.param(b'"crit":["exp"],"jwk":{"kty":"RSA"},"x5c":["a"]', True, id="realistic"),
        pytest.param(b'"x":' + b"[" * MAX_HEADER_BRACKETS + b"]" * MAX_HEADER_BRACKETS, False, id="too-many"),
        pytest.param(b'"x":"' + b"{" * 100 + b'"', False, id="counted-even-inside-strings"),
    ],
)
def test_header_bracket_budget(extra, accepted):
    """A header is parsed before any signature check: its complexity is capped by a count."""
    header = b'{"alg":"RS256",' + extra + b"}"
    assert (decode_json_object(header, max_brackets=MAX_HEADER_BRACKETS) is not None) is accepted


# -- only contract errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="None"),
        pytest.param(0, id="int"),
        pytest.param(1.5, id="float"),
        pytest.param(["a.b.c"], id="list"),
        pytest.param({"token": "a.b.c"}, id="dict"),
        pytest.param(object(), id="object"),
    ],
)
def test_non_token_types(token):
    with pytest.raises(MalformedToken, match="must be a string"):
        do_parse(token)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("...", id="dots"),
        pytest.param("a.b.c", id="tiny"),
        pytest.param("=.=.=", id="padding-only"),
        pytest.param("e30.e30.AA", id="empty-object-header"),
        pytest.param("bnVsbA.e30.AA", id="null-header"),
        pytest.param("\x00" * 10, id="nuls"),
        pytest.param("\u202e" * 3, id="bidi-controls"),
    ],
)
def test_garbage_raises_only_invalid_token(token):
    with pytest.raises(JWTGuardError) as info:
        do_parse(token)
    assert isinstance(info.value, InvalidToken)
