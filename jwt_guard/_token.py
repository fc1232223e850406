"""Compact JWS parsing: every structural check that needs no key.

Pure and cheap: a garbage token is refused here, before any key lookup or
signature work. The rules follow RFC 7515 §7.1 (compact serialisation) and
§2 (base64url without padding), applied strictly.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

from jwt_guard._reasons import shown, with_details
from jwt_guard.errors import MalformedToken, TokenTooLarge, UnsupportedAlgorithm

__all__ = [
    "UNIQUE_MEMBERS_DECODER",
    "HeaderCache",
    "ParsedToken",
    "b64url_decode",
    "b64url_encode",
    "decode_json_object",
    "parse",
]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TOKEN_CHARS = _ALPHABET + b"."
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")
# A final character may only carry bits that belong to the data (RFC 4648
# §3.5, "canonical encoding"): with 2 leftover characters the last one's low
# 4 bits must be zero, with 3 leftover its low 2 bits.
_CANONICAL_LAST = (
    None,
    None,
    frozenset(_ALPHABET[i] for i in range(0, 64, 16)),
    frozenset(_ALPHABET[i] for i in range(0, 64, 4)),
)
# Header parameters this implementation understands when listed in "crit"
# (RFC 7515 §4.1.11). Only b64=true (the default meaning) is understood.
_UNDERSTOOD_CRITICAL = frozenset({"b64"})


def _reject_constant(name: str) -> Any:
    # json accepts NaN and Infinity by default; JSON (RFC 8259) does not.
    raise ValueError(f"invalid JSON constant {name}")


def _unique_object(pairs: list[tuple[str, Any]], dict: type[dict[str, Any]] = dict, len: Any = len) -> dict[str, Any]:
    # RFC 7515 §4 (header) and RFC 7519 §4 (claims): names must be unique;
    # a parser may reject duplicates or keep the lexically last one. Another
    # parser on the request path (a gateway, the application) may keep the
    # first, so rejecting is the only answer both agree on. Builtins are
    # bound as defaults: this runs for every object of every token.
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    raise ValueError("duplicate member name")


#: A JSON decoder that refuses duplicate member names (at any depth) and
#: NaN/Infinity: token headers and claims, and other JOSE objects that must
#: parse one way only (DPoP proof claims). Checking in the hook costs one
#: call per object, measured cheaper than any scan of the text that would
#: prove uniqueness.
UNIQUE_MEMBERS_DECODER = json.JSONDecoder(object_pairs_hook=_unique_object, parse_constant=_reject_constant)
_PAYLOAD_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _check_b64url(segment: bytes) -> int:
    remainder = len(segment) % 4
    if remainder == 1 or segment.translate(None, _ALPHABET):
        raise ValueError("not base64url")
    allowed_last = _CANONICAL_LAST[remainder]
    if allowed_last is not None and segment[-1] not in allowed_last:
        raise ValueError("non-canonical base64url")
    return remainder


def b64url_decode(segment: bytes) -> bytes:
    """Strict base64url decode: alphabet only, no padding, canonical last char.

    Raises :class:`ValueError` on any deviation.
    """
    remainder = _check_b64url(segment)
    return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[remainder])


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2): thumbprints, ``ath``, nonces, JWS segments."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


#: Deepest JSON nesting accepted in a claims set. Real tokens nest a handful
#: of levels; the limit makes the answer the same on every Python (3.10 to 3.12
#: raise RecursionError near 1000 levels, 3.13 parses far deeper).
MAX_JSON_DEPTH = 32
#: Most brackets a JOSE header may hold. A header is parsed before any
#: signature check, so its bound must cost no more than counting.
MAX_HEADER_BRACKETS = 16
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _too_deep(text: str, max_brackets: int | None = None) -> bool:
    brackets = text.count("{") + text.count("[")
    if max_brackets is not None:
        return brackets > max_brackets
    # Fast path: with no more containers than the limit, no deeper nesting.
    if brackets <= MAX_JSON_DEPTH:
        return False
    # Keep only the brackets outside string literals, then peel the
    # innermost pairs one level per pass (each pass is a C-speed replace).
    skeleton = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(MAX_JSON_DEPTH):
        peeled = skeleton.replace("{}", "").replace("[]", "")
        if not peeled:
            return False
        if peeled == skeleton:
            return True  # unbalanced: not JSON anyway
        skeleton = peeled
    return True


def decode_json_object(
    data: bytes,
    decoder: json.JSONDecoder = _PAYLOAD_DECODER,
    *,
    max_brackets: int | None = None,
) -> dict[str, Any] | None:
    """Decode UTF-8 JSON that must be an object; ``None`` if it is not.

    Never raises: invalid UTF-8, invalid JSON, Python's int-digits limit
    (ValueError), nesting deeper than :data:`MAX_JSON_DEPTH` and, when
    given, more than *max_brackets* brackets all answer ``None``.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _too_deep(text, max_brackets):
        return None
    try:
        # raw_decode skips decode()'s two whitespace-regex passes.
        value, end = decoder.raw_decode(text)
    except RecursionError:
        return None
    except ValueError:
        end = -1
    if end != len(text):
        # Surrounding whitespace or an error: the full decoder decides.
        try:
            value = decoder.decode(text)
        except (ValueError, RecursionError):
            return None
    return value if value.__class__ is dict else None


class ParsedToken:
    """A structurally valid compact JWS whose signature is not yet checked."""

    __slots__ = ("_claims", "alg", "header", "kid", "payload_segment", "raw", "signature", "signing_input")

    def __init__(
        self,
        raw: str,
        header: dict[str, Any],
        alg: str,
        kid: str | None,
        signing_input: bytes,
        payload_segment: bytes,
        signature: bytes,
    ) -> None:
        self.raw = raw
        self.header = header
        self.alg = alg
        self.kid = kid
        self.signing_input = signing_input
        self.payload_segment = payload_segment
        self.signature = signature
        self._claims: dict[str, Any] | None = None

    def claims(self) -> dict[str, Any]:
        """The payload decoded as a JSON object (the JWT claims set); decoded
        once, on first use."""
        claims = self._claims
        if claims is None:
            claims = self._claims = self._decode_claims()
        return claims

    def _decode_claims(self) -> dict[str, Any]:
        try:
            data = _decode_segment(self.payload_segment)
        except (ValueError, binascii.Error):
            raise MalformedToken("the token payload is not valid base64url") from None
        claims = decode_json_object(data, UNIQUE_MEMBERS_DECODER)
        if claims is None:
            if decode_json_object(data) is not None:
                raise MalformedToken("the token payload has duplicate claim names")
            raise MalformedToken("the token payload is not a JSON object")
        return claims


def _diagnose(token: bytes) -> MalformedToken:
    """Explain why *token* is not three base64url segments."""
    if not token:
        return MalformedToken("the token is empty")
    stripped = token.strip()
    if stripped[:1] == b"{":
        return MalformedToken("JWS JSON serialization is not accepted; send a compact token")
    dots = token.count(b".")
    if dots == 4:
        return MalformedToken("encrypted tokens (JWE) are not accepted")
    if dots != 2:
        return MalformedToken("the token must have three dot-separated segments")
    if b"=" in token:
        return MalformedToken("the token must not contain base64 padding")
    return MalformedToken("the token contains characters outside base64url")


def _decode_segment(segment: bytes) -> bytes:
    # The caller already checked the alphabet for the whole token.
    remainder = len(segment) % 4
    allowed_last = _CANONICAL_LAST[remainder]
    if allowed_last is not None and segment[-1] not in allowed_last:
        raise ValueError("non-canonical base64url")
    if remainder == 1:
        raise ValueError("not base64url")
    return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[remainder])


def parse(
    token: str | bytes, *, max_size: int, algorithms: frozenset[str], headers: HeaderCache | None = None
) -> ParsedToken:
    """Check *token*'s structure and header; return its parts.

    Order matters: size first (a 1 MiB token costs one ``len``), then the
    alphabet, segments and base64url, then the header JSON, then the
    algorithm allowlist, all before any key is looked up. *headers* (one
    per verifier) remembers headers already parsed and checked.
    """
    if isinstance(token, str):
        if len(token) > max_size:
            raise TokenTooLarge()
        try:
            data = token.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedToken("the token contains characters outside base64url") from None
        raw = token
    elif isinstance(token, (bytes, bytearray, memoryview)):
        if len(token) > max_size:
            raise TokenTooLarge()
        data = bytes(token)
        try:
            raw = data.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedToken("the token contains characters outside base64url") from None
    else:
        raise MalformedToken("the token must be a string")

    # One pass over the whole token checks every segment's alphabet.
    if not data or data.translate(None, _TOKEN_CHARS):
        raise _diagnose(data)
    parts = data.split(b".")
    if len(parts) != 3:
        raise _diagnose(data)
    header_segment, payload_segment, signature_segment = parts
    if not header_segment or not payload_segment:
        raise MalformedToken("the token has an empty segment")
    if not signature_segment:
        raise MalformedToken("the token is unsigned")
    try:
        signature = _decode_segment(signature_segment)
        # The payload is decoded only after the signature verifies, but its
        # encoding is checked now so that a bad token costs no crypto.
        remainder = len(payload_segment) % 4
        allowed_last = _CANONICAL_LAST[remainder]
        if remainder == 1 or (allowed_last is not None and payload_segment[-1] not in allowed_last):
            raise ValueError("not base64url")
    except (ValueError, binascii.Error):
        raise MalformedToken("the token is not valid base64url") from None
    known = headers.get(header_segment) if headers is not None else None
    if known is None:
        known = _parse_header(header_segment, algorithms)
        if headers is not None:
            headers.put(header_segment, known)
    header, alg, kid = known
    return ParsedToken(
        raw,
        header,
        alg,
        kid,
        data[: len(header_segment) + 1 + len(payload_segment)],
        payload_segment,
        signature,
    )


def _parse_header(segment: bytes, algorithms: frozenset[str]) -> tuple[dict[str, Any], str, str | None]:
    """The JOSE header of *segment*, its ``alg`` and ``kid``, every check done."""
    try:
        header_bytes = _decode_segment(segment)
    except (ValueError, binascii.Error):
        raise MalformedToken("the token is not valid base64url") from None
    header = decode_json_object(header_bytes, UNIQUE_MEMBERS_DECODER, max_brackets=MAX_HEADER_BRACKETS)
    if header is None:
        raise MalformedToken("the token header is not a JSON object")
    alg = header.get("alg")
    if alg.__class__ is not str:
        raise MalformedToken("the token header has no algorithm")
    if "enc" in header:
        raise MalformedToken("encrypted tokens (JWE) are not accepted")
    if alg not in algorithms:
        raise with_details(UnsupportedAlgorithm(), claim="alg", expected=sorted(algorithms), received=shown(alg))
    kid = header.get("kid")
    if kid.__class__ is not str:
        # RFC 7515 §4.1.4: kid is a string; "kid": null is not "no kid".
        if "kid" in header:
            raise MalformedToken("the token header has a non-string kid")
        kid = None
    if "crit" in header or "b64" in header:
        _check_critical(header)
    return header, alg, kid


class HeaderCache:
    """Parsed JOSE headers by their encoded segment, bounded (FIFO).

    Every token a key signs carries the same header bytes, so parsing them
    once per key instead of once per token saves a base64 and a JSON decode
    on every verification. Only headers that passed every check (for one
    verifier's allowlist) are stored; the dicts are shared and never
    mutated. A flood of distinct headers only empties it now and then.
    """

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int = 32) -> None:
        self._entries: dict[bytes, tuple[dict[str, Any], str, str | None]] = {}
        self._size = size

    def get(self, segment: bytes) -> tuple[dict[str, Any], str, str | None] | None:
        return self._entries.get(segment)

    def put(self, segment: bytes, parsed: tuple[dict[str, Any], str, str | None]) -> None:
        entries = self._entries
        if len(entries) >= self._size:
            entries.clear()  # a flood of distinct headers: start over
        entries[segment] = parsed


def _check_critical(header: dict[str, Any]) -> None:
    # RFC 7797: b64=false changes what is signed; never accepted here.
    if "b64" in header and header["b64"] is not True:
        raise MalformedToken("unencoded payloads (b64=false) are not accepted")
    if "crit" not in header:
        return
    crit = header["crit"]
    # RFC 7515 §4.1.11: a non-empty list of names, each present in the header.
    if not isinstance(crit, list) or not crit:
        raise MalformedToken("the token header has an invalid crit parameter")
    for name in crit:
        if not isinstance(name, str) or name not in header or name not in _UNDERSTOOD_CRITICAL:
            raise MalformedToken("the token header requires an unsupported extension")
