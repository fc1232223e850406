"""The syntax of authentication headers: quoting, auth-params, realms, scope tokens.

A leaf module (it imports nothing from jwt_guard) holding the character rules
that the error tree (:mod:`jwt_guard.errors`), the challenge renderer
(:mod:`jwt_guard._challenge`) and the request layer all apply:

- RFC 9110 §11.6.1 challenges: ``scheme [ auth-param *( ", " auth-param ) ]``
  with every value sent as a §5.6.4 quoted-string;
- RFC 6750 §3: which characters ``error``, ``error_description`` and
  ``scope`` values may hold;
- RFC 6749 §3.3: what a scope token is;
- the ``realm`` rule: configured realms must be sendable unchanged;
- and the way back: :func:`parse_challenges` reads a ``WWW-Authenticate``
  value (the ``jwt-guard check`` command reads servers' challenges).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "add_auth_param",
    "bearer_challenge",
    "challenge_value",
    "is_scope_token",
    "parse_challenges",
    "quote_param",
    "realm_ok",
    "safe_description",
    "safe_param",
]

# RFC 6750 §3: error and error_description values are limited to
# %x20-21 / %x23-5B / %x5D-7E, and scope tokens to %x21 / %x23-5B / %x5D-7E.
_NOT_DESCRIPTION_CHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# A configured realm is sent as it is: the characters a quoted-string carries
# without escaping (RFC 9110 §5.6.4 qdtext, without tab).
_REALM = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# RFC 9110 §5.6.4: quoted-string; backslash-escape the two special characters
# and drop anything a header value cannot carry.
_NOT_QDTEXT = re.compile(r"[^\t\x20-\x7e]")
_QUOTED_SPECIAL = re.compile(r'(["\\])')


def quote_param(value: str) -> str:
    """Render *value* as an RFC 9110 quoted-string."""
    return '"' + _QUOTED_SPECIAL.sub(r"\\\1", _NOT_QDTEXT.sub("", value)) + '"'


def safe_description(value: str) -> str:
    """*value* with every character RFC 6750 §3 forbids in ``error_description`` replaced by ``?``."""
    return _NOT_DESCRIPTION_CHAR.sub("?", value)


def safe_param(name: str, value: str) -> str:
    """*value* restricted to the characters RFC 6750 §3 allows for the auth-param *name*."""
    if name == "error_description":
        return safe_description(value)
    if name == "scope":
        # scope = scope-token *( SP scope-token ): no empty tokens left behind.
        return " ".join(token for token in (_NOT_DESCRIPTION_CHAR.sub("", part) for part in value.split(" ")) if token)
    return value


def challenge_value(scheme: str, realm: str | None, params: Iterable[tuple[str, str]]) -> str:
    """One ``WWW-Authenticate`` challenge: *scheme*, then ``realm`` (when
    given) and *params* in order, each value quoted (RFC 9110 §11.6.1)."""
    parts: list[str] = []
    if realm is not None:
        parts.append(f"realm={quote_param(realm)}")
    for name, value in params:
        parts.append(f"{name}={quote_param(safe_param(name, value))}")
    return f"{scheme} " + ", ".join(parts) if parts else scheme


def bearer_challenge(realm: str | None, params: Iterable[tuple[str, str]]) -> str:
    """A ``Bearer`` challenge (RFC 6750 §3) from ordered auth-params."""
    return challenge_value("Bearer", realm, params)


def realm_ok(realm: Any) -> bool:
    """True when *realm* is a string a quoted-string carries unchanged."""
    return isinstance(realm, str) and _REALM.fullmatch(realm) is not None


def is_scope_token(value: Any) -> bool:
    """True when *value* is one RFC 6749 §3.3 scope-token (no space, no quote, no backslash, ASCII)."""
    return isinstance(value, str) and _SCOPE_TOKEN.fullmatch(value) is not None


def add_auth_param(challenge: str, name: str, value: str) -> str:
    """*challenge* (as :func:`challenge_value` renders it) with one more
    auth-param, *name* = quoted *value*, at the end."""
    # A rendered challenge is "Scheme" or "Scheme p1, p2": a space means params follow.
    separator = ", " if " " in challenge else " "
    return f"{challenge}{separator}{name}={quote_param(value)}"


# RFC 9110 §5.6.2 token, §11.2 token68, §5.6.3 whitespace.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_WHITESPACE = re.compile(r"[ \t]*")
_LIST_GAP = re.compile(r"[ \t,]*")


def _quoted_string(value: str, pos: int) -> tuple[str, int]:
    """The content of the quoted-string opening at *pos*, and the position after it."""
    out: list[str] = []
    index = pos + 1
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            out.append(value[index + 1])
            index += 2
        elif char == '"':
            return "".join(out), index + 1
        else:
            out.append(char)
            index += 1
    raise ValueError("unterminated quoted-string")


def parse_challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """The challenges of a ``WWW-Authenticate`` value (RFC 9110 §11.6.1), in
    order: ``(scheme, {param: value})`` with parameter names lower-cased
    (the first of a repeated name wins) and quoted values unquoted. A
    token68 is returned under the name ``""``.

    Several header fields may be joined into one value with commas.
    ``ValueError`` for a value that does not follow the grammar.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    params: dict[str, str] | None = None
    pos = _LIST_GAP.match(value, 0).end()  # type: ignore[union-attr]
    while pos < len(value):
        name = _TOKEN.match(value, pos)
        if name is None:
            raise ValueError(f"unexpected character at {pos}")
        after = _WHITESPACE.match(value, name.end()).end()  # type: ignore[union-attr]
        if after < len(value) and value[after] == "=" and params is not None:
            # auth-param = token BWS "=" BWS ( token / quoted-string )
            start = _WHITESPACE.match(value, after + 1).end()  # type: ignore[union-attr]
            if start < len(value) and value[start] == '"':
                text, pos = _quoted_string(value, start)
            else:
                token = _TOKEN.match(value, start)
                if token is None:
                    raise ValueError(f"auth-param {name.group()!r} has no value")
                text, pos = token.group(), token.end()
            params.setdefault(name.group().lower(), text)
        else:
            params = {}
            challenges.append((name.group(), params))
            token68 = _TOKEN68.match(value, after) if after > name.end() else None
            end = _WHITESPACE.match(value, token68.end()).end() if token68 else 0  # type: ignore[union-attr]
            if token68 is None or (end < len(value) and value[end] != ","):
                # A scheme alone: its parameters, or the next challenge, follow.
                pos = _LIST_GAP.match(value, name.end()).end()  # type: ignore[union-attr]
                continue
            params[""] = token68.group()
            pos = end
        # After a parameter or a token68: the end, or a comma before the next element.
        gap = _LIST_GAP.match(value, pos).end()  # type: ignore[union-attr]
        if gap < len(value) and "," not in value[pos:gap]:
            raise ValueError(f"expected a comma at {pos}")
        pos = gap
    return challenges
