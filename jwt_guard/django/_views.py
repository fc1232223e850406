"""Reading the verified token in Django views, and the scope and step-up decorators."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from jwt_guard._access_token import AccessToken
from jwt_guard._endpoint import EndpointCheck, Requirement, is_async, record_requirement
from jwt_guard._responder import TOKEN_KEY, responder_of
from jwt_guard.django._request import answer, http_request
from jwt_guard.errors import MissingToken

__all__ = [
    "get_access_token",
    "require_access_token",
    "require_any_scope",
    "require_auth",
    "require_scopes",
    "scope_decorator",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def get_access_token(request: object) -> AccessToken | None:
    """The verified :class:`~jwt_guard.AccessToken` of a Django request (or a
    REST framework ``Request``), or ``None``: an anonymous request in optional
    mode, an excluded path, or a request no middleware saw.

    Only a token that :class:`~jwt_guard.django.JWTGuardMiddleware` (or
    :class:`~jwt_guard.django.rest_framework.JWTAuthentication`) verified
    counts.
    """
    token = http_request(request).META.get(TOKEN_KEY)
    return token if isinstance(token, AccessToken) else None


def require_access_token(request: object) -> AccessToken:
    """Like :func:`get_access_token`, typed without ``None``: raises
    :class:`~jwt_guard.MissingToken` when the request has no verified token,
    which :class:`~jwt_guard.django.JWTGuardMiddleware` answers with a 401
    challenge. Inside a view decorated with :func:`require_scopes` it always
    returns the token."""
    token = get_access_token(request)
    if token is None:
        raise MissingToken()
    return token


def _request_argument(args: tuple[Any, ...], name: str, view: str) -> Any:
    """The request among the first two positional arguments: a function view
    gets it first, a method (also through ``method_decorator``) after self."""
    for candidate in args[:2]:
        try:
            http_request(candidate)
        except TypeError:
            continue
        return candidate
    raise TypeError(
        f"{name}: {view} was not called with a Django request as its first argument (or second, after self)"
    )


def _check_view(view: Callable[..., Any], name: str) -> None:
    if isinstance(view, type):
        raise TypeError(
            f"{name} decorates view functions and methods, not classes: use "
            f"method_decorator({name}(...), name='get') on a class-based view, or decorate View.as_view()"
        )
    if not callable(view):
        raise TypeError(f"{name} decorates callables, not {type(view).__name__}")
    try:
        # The callable's own parameters: method_decorator hands over a partial
        # of the bound method whose __wrapped__ still has ``self``.
        parameters = inspect.signature(view, follow_wrapped=False).parameters.values()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: cannot read the signature of {view!r}") from exc
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    if not positional or (len(positional) == 1 and positional[0].name in ("self", "cls")):
        raise TypeError(f"{name}: {getattr(view, '__qualname__', view)!r} takes no request argument")


def scope_decorator(name: str, requirement: Requirement) -> Callable[[_F], _F]:
    """The decorator applying *requirement* to Django views (``name`` for messages)."""
    checks: dict[str, EndpointCheck] = {}  # one per view: method_decorator decorates on every call

    def recorded(view: _F) -> _F:
        wrapper = decorate(view)
        record_requirement(wrapper, requirement)  # the record of what the view needs, as in the other adapters
        return wrapper

    def decorate(view: _F) -> _F:
        _check_view(view, name)
        label = getattr(view, "__qualname__", None) or repr(view)
        check = checks.get(label)
        if check is None:
            check = checks[label] = EndpointCheck(requirement, label)

        def refusal(args: tuple[Any, ...]) -> Any:
            request = http_request(_request_argument(args, name, label))
            error = check.refusal(request.META)
            return None if error is None else answer(error, request, responder_of(request.META))

        if is_async(view):

            @functools.wraps(view)
            async def async_view(*args: Any, **kwargs: Any) -> Any:
                denied = refusal(args)
                if denied is not None:
                    return denied
                return await view(*args, **kwargs)

            return async_view  # type: ignore[return-value]

        @functools.wraps(view)
        def sync_view(*args: Any, **kwargs: Any) -> Any:
            denied = refusal(args)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        return sync_view  # type: ignore[return-value]

    return recorded


def require_scopes(*scopes: str) -> Callable[[_F], _F]:
    """Let a Django view run only for a verified token granting **all** of *scopes*.

    Works on function views, on methods of class-based views (directly, or
    through ``django.utils.decorators.method_decorator``), on the result of
    ``View.as_view()``, on REST framework view methods, sync and async. The
    answers are the middleware's (its realm and ``on_error``): 401 without
    a verified token, 403 ``insufficient_scope`` naming the scopes. Mistakes
    fail at decoration time: ``TypeError`` without parentheses or scopes, on a
    class, or for a callable that takes no request; ``ValueError`` for a
    string that is not an RFC 6749 §3.3 scope token.

    .. warning::
       Only the token verified by :class:`~jwt_guard.django.JWTGuardMiddleware`
       counts; without the middleware every request is answered 401 (and a
       warning is logged once per view).
    """
    return scope_decorator("require_scopes", Requirement.for_decorator("require_scopes", scopes, any_of=False))


def require_any_scope(*scopes: str) -> Callable[[_F], _F]:
    """Like :func:`require_scopes`, satisfied by **one** of *scopes*."""
    return scope_decorator("require_any_scope", Requirement.for_decorator("require_any_scope", scopes, any_of=True))


def require_auth(
    *misuse: Any, scopes: Iterable[str] = (), acr_values: Iterable[str] | None = None, max_age: int | None = None
) -> Callable[[_F], _F]:
    """Let a Django view run only for a verified token whose user
    authentication is strong and recent enough (RFC 9470 step-up), and that
    grants *scopes*.

    ``@require_auth(acr_values=["urn:example:mfa"], max_age=300)``: the
    token's ``acr`` must be one of *acr_values* and its ``auth_time`` at
    most *max_age* seconds old (with the clock and leeway of the verifier in
    ``settings.JWT_GUARD``). Otherwise the view answers ``401`` with
    ``error="insufficient_user_authentication"`` and the ``acr_values``
    and/or ``max_age`` it needs, so that the client can send the user back
    to the authorization server. An ``acr`` that is not a listed string, or
    an ``auth_time`` that is absent, not a finite number or in the future,
    falls short. A token lacking one of *scopes* gets ``403
    insufficient_scope`` first. Stacks with :func:`require_scopes`; the
    views it decorates, its answers and its decoration-time mistakes
    (``TypeError`` for positional arguments or ``@require_auth`` without
    parentheses, ``ValueError`` for an empty ``acr_values`` or a negative
    ``max_age``) are as for :func:`require_scopes`.

    .. warning::
       As for :func:`require_scopes`: only the token verified by
       :class:`~jwt_guard.django.JWTGuardMiddleware` counts.
    """
    requirement = Requirement.for_step_up("require_auth", misuse, scopes=scopes, acr_values=acr_values, max_age=max_age)
    return scope_decorator("require_auth", requirement)
