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

Step-up authentication (RFC 9470): a :class:`Requirement` may also demand
``acr_values`` and ``max_age`` (:mod:`jwt_guard._step_up`), checked in
:meth:`Requirement.refusal` after the scopes.

Every decorator records its requirement on the function it returns, under
:data:`REQUIREMENTS_ATTRIBUTE` (read with :func:`requirements_of`): that is
how a middleware that can see an application's routes (Starlette, FastAPI)
lists the scopes they need in its RFC 9728 metadata, without any registry.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from jwt_guard._access_token import AccessToken
from jwt_guard._auth_syntax import is_scope_token
from jwt_guard._dpop_flow import presented_with
from jwt_guard._events import logger, scope_refusal
from jwt_guard._responder import TOKEN_KEY, responder_of
from jwt_guard._step_up import check_acr_values, check_max_age, step_up_refusal
from jwt_guard.errors import AuthError, MissingToken

if TYPE_CHECKING:
    from jwt_guard._verifier import Verifier

__all__ = [
    "REQUIREMENTS_ATTRIBUTE",
    "EndpointCheck",
    "Requirement",
    "argument",
    "is_async",
    "read_signature",
    "record_requirement",
    "requirements_of",
]

#: The attribute of a decorated endpoint holding the :class:`Requirement`
#: of every jwt_guard decorator applied to it, innermost first (a tuple).
REQUIREMENTS_ATTRIBUTE = "jwt_guard_requirements"


class Requirement:
    """What an endpoint needs of a verified token: the scopes (all of them,
    or with *any_of* one), and for step-up authentication (RFC 9470) the
    user's authentication class and age.

    :param scopes: RFC 6749 §3.3 scope tokens; duplicates are dropped, the
        order is kept (it is the order of the challenge's ``scope``).
    :param any_of: one granted scope is enough.
    :param name: who asks, for error messages (``"require_scopes"``).
    :param acr_values: the token's ``acr`` claim must be one of these
        (in order of preference, as the challenge lists them).
    :param max_age: the token's ``auth_time`` claim must be at most this
        many seconds old (with the verifier's leeway).
    """

    __slots__ = ("acr_values", "any_of", "max_age", "scopes")

    def __init__(
        self,
        scopes: Iterable[Any] = (),
        *,
        any_of: bool = False,
        name: str = "Requirement",
        acr_values: Iterable[Any] | None = None,
        max_age: int | None = None,
    ) -> None:
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
        #: The acceptable ``acr`` values (empty: any).
        self.acr_values: tuple[str, ...] = check_acr_values(acr_values, name)
        #: The longest time since the user authenticated, in seconds (``None``: any).
        self.max_age: int | None = check_max_age(max_age, name)

    @classmethod
    def for_decorator(cls, name: str, scopes: tuple[Any, ...], *, any_of: bool) -> Requirement:
        """The requirement of ``@name(*scopes)``, refusing decorator misuse
        (no scopes, ``@name`` without parentheses) with ``TypeError``."""
        if not scopes:
            raise TypeError(f"{name}() needs at least one scope")
        if any(callable(scope) for scope in scopes):
            raise TypeError(f"{name} needs parentheses and scope names: use @{name}('scope'), not @{name}")
        return cls(scopes, any_of=any_of, name=name)

    @classmethod
    def for_step_up(
        cls,
        name: str,
        misuse: tuple[Any, ...],
        *,
        scopes: Iterable[Any],
        acr_values: Iterable[Any] | None,
        max_age: int | None,
    ) -> Requirement:
        """The requirement of ``@name(scopes=…, acr_values=…, max_age=…)``;
        *misuse* holds positional arguments, which only ``@name`` without
        parentheses passes (``TypeError``)."""
        if misuse:
            raise TypeError(f"{name} takes keyword arguments: use @{name}(acr_values=[...], max_age=...)")
        return cls(scopes, name=name, acr_values=acr_values, max_age=max_age)

    def refusal(self, token: object, *, verifier: Verifier | None = None) -> AuthError | None:
        """The error refusing a request whose verified token is *token*, or
        ``None`` to let it in. Only an :class:`~jwt_guard.AccessToken`
        counts: anything else (``None`` for an anonymous request) is 401.
        Scopes are checked first (403), then the user authentication (401);
        *max_age* reads the clock and leeway of *verifier* (the one that
        verified the token; without one, the system clock and no leeway)."""
        if not isinstance(token, AccessToken):
            return MissingToken()
        scopes = self.scopes
        if scopes and not (token.has_any_scope(*scopes) if self.any_of else token.has_scopes(*scopes)):
            error = scope_refusal(scopes, token.scopes)
            error.scheme = presented_with(token)  # the challenge of the scheme the token came with
            return error
        if self.acr_values or self.max_age is not None:
            if verifier is not None:
                now, leeway = verifier.settings.clock(), verifier.settings.leeway
            else:
                now, leeway = time.time(), 0.0
            refusal = step_up_refusal(token.claims, self.acr_values, self.max_age, now=now, leeway=leeway)
            if refusal is not None:
                refusal.scheme = presented_with(token)
            return refusal
        return None

    def __repr__(self) -> str:
        step_up = ""
        if self.acr_values:
            step_up += f", acr_values={self.acr_values!r}"
        if self.max_age is not None:
            step_up += f", max_age={self.max_age}"
        return f"{type(self).__name__}({self.scopes!r}, any_of={self.any_of}{step_up})"


def record_requirement(endpoint: Callable[..., Any], requirement: Requirement) -> None:
    """Add *requirement* to the requirements recorded on *endpoint* (a
    decorator's wrapper, which ``functools.wraps`` gave the wrapped
    function's records)."""
    setattr(endpoint, REQUIREMENTS_ATTRIBUTE, (*requirements_of(endpoint), requirement))


def requirements_of(endpoint: object) -> tuple[Requirement, ...]:
    """The requirements jwt_guard decorators recorded on *endpoint*,
    innermost first; ``()`` for anything else."""
    recorded = getattr(endpoint, REQUIREMENTS_ATTRIBUTE, None)
    if isinstance(recorded, tuple) and all(isinstance(item, Requirement) for item in recorded):
        return recorded
    return ()


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
        requirement = self.requirement
        if requirement.max_age is None:
            return requirement.refusal(token)
        # auth_time is judged on the clock of the verifier that checked exp.
        return requirement.refusal(token, verifier=responder_of(values).verifier)


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
