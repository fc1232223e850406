"""The syntax of authentication headers: quoting, auth-params, realms, scope tokens.

A leaf module (it imports nothing from jwt_guard) holding the character rules
that the error tree (:mod:`jwt_guard.errors`), the challenge renderer
(:mod:`jwt_guard._challenge`) and the request layer all apply:

- RFC 9110 §11.6.1 challenges: ``scheme [ auth-param *( ", " auth-param ) ]``
  with every value sent as a §5.6.4 quoted-string;
- RFC 6750 §3: which characters ``error``, ``error_description`` and
  ``scope`` values may hold;
- RFC 6749 §3.3: what a scope token is;
- the ``realm`` rule: configured realms must be sendable unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "bearer_challenge",
    "challenge_value",
    "is_scope_token",
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
