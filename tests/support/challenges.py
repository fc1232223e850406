"""Read ``WWW-Authenticate`` the way a client must (RFC 9110 §11.6.1).

One field may carry several challenges, separated by commas that also
separate each challenge's auth-params; several fields mean the same as
their values joined with ``", "`` (§5.3). :func:`parse_challenges` takes the
field values as sent and returns ``[(scheme, {param: value})]``, so a test
can check that both forms say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SCHEME = re.compile(_TOKEN)
_PARAM = re.compile(rf'({_TOKEN})[ \t]*=[ \t]*({_TOKEN}|"(?:[^"\\]|\\.)*")')
_SEPARATORS = re.compile(r"[ \t,]*")
_SPACE = re.compile(r"[ \t]*")


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_challenges(fields: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """The challenges in *fields* (``WWW-Authenticate`` values), in order.

    Auth-param names are lower-cased (they are case-insensitive); a
    malformed field raises ``ValueError``.
    """
    text = ", ".join(fields)
    challenges: list[tuple[str, dict[str, str]]] = []
    position = _SEPARATORS.match(text, 0).end()  # type: ignore[union-attr]
    while position < len(text):
        scheme = _SCHEME.match(text, position)
        if scheme is None:
            raise ValueError(f"no auth-scheme at {text[position:]!r}")
        position = scheme.end()
        params: dict[str, str] = {}
        while True:
            start = _SPACE.match(text, position).end()  # type: ignore[union-attr]
            param = _PARAM.match(text, start)
            if param is None:
                break
            params[param.group(1).lower()] = _unquote(param.group(2))
            position = _SPACE.match(text, param.end()).end()  # type: ignore[union-attr]
            if text.startswith(",", position):
                position += 1
        challenges.append((scheme.group(0), params))
        position = _SEPARATORS.match(text, position).end()  # type: ignore[union-attr]
    return challenges
