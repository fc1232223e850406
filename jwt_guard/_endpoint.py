"""What protected endpoints demand, decided once for every adapter.

A :class:`Requirement` is built once, when ``require_scopes(...)`` (ASGI or
WSGI) is called or a FastAPI route's scopes are first seen, with the same
validation everywhere: ``TypeError`` for misuse (no scopes, a decorator used
without parentheses, a scope that is not a string), ``ValueError`` for a
string that is not an RFC 6749 §3.3 scope-token. An :class:`EndpointCheck`
applies it to one decorated view: it reads the verified token the middleware
left under :data:`~jwt_guard._responder.TOKEN_KEY` and tells a request the
middleware let through anonymously (401) from one that no middleware saw
(401, and a warning logged once for the view).

The decorators' signature handling is here too: reading a signature with
its string annotations resolved when possible, and telling coroutine
functions apart, the same way in :mod:`jwt_guard.asgi` and
:mod:`jwt_guard.wsgi`.

Step-up authentication (RFC 9470) will add ``acr_values`` and ``max_age``
to :class:`Requirement`, checked in :meth:`Requirement.refusal` after the
scopes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jwt_guard._access_token import AccessToken
from jwt_guard._auth_syntax import is_scope_token
from jwt_guard._dpop_flow import presented_with
from jwt_guard._events import logger
from jwt_guard._responder import TOKEN_KEY
from jwt_guard.errors import AuthError, InsufficientScope, MissingToken

__all__ = ["EndpointCheck", "Requirement", "argument", "is_async", "read_signature"]


class Requirement:
    """The scopes an endpoint needs: all of them, or with *any_of* one.

    :param scopes: RFC 6749 §3.3 scope tokens; duplicates are dropped, the
        order is kept (it is the order of the challenge's ``scope``).
    :param any_of: one granted scope is enough.
    :param name: who asks, for error messages (``"require_scopes"``).
    """

    __slots__ = ("any_of", "scopes")

    def __init__(self, scopes: Iterable[Any] = (), *, any_of: bool = False, name: str = "Requirement") -> None:
        if isinstance(scopes, str):
            raise TypeError(f"{name}() takes scope names one by one, not a space-delimited string")
        checked = tuple(scopes)
        for scope in checked:
            if not isinstance(scope, str):
                raise TypeError(f"{name}() takes scopes as strings, not {type(scope).__name__}")
            if not is_scope_token(scope):
                raise ValueError(f"{name}(): {scope!r} is not a scope token (RFC 6749 §3.3)")
        #: The required scopes, deduplicated, in their declared order.
        self.scopes: tuple[str, ...] = tuple(dict.fromkeys(checked))
        #: True when one of :attr:`scopes` is enough.
        self.any_of = bool(any_of)

    @classmethod
    def for_decorator(cls, name: str, scopes: tuple[Any, ...], *, any_of: bool) -> Requirement:
        """The requirement of ``@name(*scopes)``, refusing decorator misuse
        (no scopes, ``@name`` without parentheses) with ``TypeError``."""
        if not scopes:
            raise TypeError(f"{name}() needs at least one scope")
        if any(callable(scope) for scope in scopes):
            raise TypeError(f"{name} needs parentheses and scope names: use @{name}('scope'), not @{name}")
        return cls(scopes, any_of=any_of, name=name)

    def refusal(self, token: object) -> AuthError | None:
        """The error refusing a request whose verified token is *token*, or
        ``None`` to let it in. Only an :class:`~jwt_guard.AccessToken`
        counts: anything else (``None`` for an anonymous request) is 401."""
        if not isinstance(token, AccessToken):
            return MissingToken()
        scopes = self.scopes
        if scopes and not (token.has_any_scope(*scopes) if self.any_of else token.has_scopes(*scopes)):
            error = InsufficientScope(scopes)
            error.scheme = presented_with(token)  # the challenge of the scheme the token came with
            return error
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scopes!r}, any_of={self.any_of})"


class EndpointCheck:
    """A :class:`Requirement` applied to one view named *view*."""

    __slots__ = ("_warned", "requirement", "view")

    def __init__(self, requirement: Requirement, view: str) -> None:
        self.requirement = requirement
        self.view = view
        self._warned = False

    def refusal(self, values: Mapping[str, Any]) -> AuthError | None:
        """The error refusing the request whose scope or environ is *values*, or ``None``."""
        try:
            token = values[TOKEN_KEY]
        except KeyError:
            # No middleware ran: nothing was verified, so nothing is granted.
            if not self._warned:
                self._warned = True
                logger.warning(
                    "jwt_guard: %s requires a token but JWTGuardMiddleware did not run; answering 401", self.view
                )
            return MissingToken()
        return self.requirement.refusal(token)


def read_signature(func: Callable[..., Any], decorator: str) -> inspect.Signature:
    """The signature of *func*, string annotations resolved when they can be
    (names defined later stay strings); ``TypeError`` when there is none."""
    try:
        try:
            return inspect.signature(func, eval_str=True)
        except (NameError, AttributeError, SyntaxError, TypeError):
            return inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{decorator}: cannot read the signature of {func!r}") from exc


def is_async(func: Callable[..., Any]) -> bool:
    """True for a coroutine function, also behind ``functools.partial`` or
    as a callable object's ``__call__``. ``__wrapped__`` is not followed: a
    plain function wrapping a coroutine function is called as what it is."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))  # noqa: B004


def argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    """The argument at position *index* or keyword *name* of a call; ``TypeError`` if absent."""
    if index < len(args):
        return args[index]
    try:
        return kwargs[name]
    except KeyError:
        raise TypeError(f"missing the {name!r} argument") from None
