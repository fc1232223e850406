"""Timed verification events, paid for only while an event hook listens.

A verifier without a hook runs :meth:`Verifier.verify` exactly as written:
no clock read, no check. The first hook (``on_event=`` or
:meth:`Verifier.add_event_hook`) calls :func:`observe`, which gives that one
verifier instance its own ``verify`` and ``verify_async``: each times a call
of the class's method — the one verification, never a copy of its steps —
and reports the outcome (``token_verified``, ``token_rejected`` or
``verification_failed``) with its duration and whether the verified-result
cache answered.

An instrumentation that would record nothing yet (OpenTelemetry's API
without a configured SDK) asks for :func:`observe_later` instead: counting
faces, a fraction of the cost, which ask every few calls whether anything
would now be recorded and then install the timed faces.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from jwt_guard._events import EventKind, Reporter
from jwt_guard._reasons import reason_code
from jwt_guard.errors import AuthError, JWTGuardError

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken
    from jwt_guard._verifier import Verifier

__all__ = ["observe", "observe_later"]

VERIFIED = EventKind.TOKEN_VERIFIED

Lookup = Callable[[Any], "AccessToken | None"]

#: Verifiers running the counting faces of :func:`observe_later`.
_COUNTING: weakref.WeakSet[Verifier] = weakref.WeakSet()


def observe(verifier: Verifier, reporter: Reporter, lookup: Lookup | None) -> None:
    """Report every verification of *verifier* to *reporter*, timed.

    *lookup* is the verifier's cache lookup (``None`` without a cache): read
    once before the verification to tell a cache hit from a miss. The
    verification repeats it; a second lookup of the same string costs one
    dict access, its hash being cached. Calling this again changes nothing.
    """
    if "verify" in vars(verifier) and verifier not in _COUNTING:
        return
    cls = type(verifier)
    plain = cls.verify
    plain_async = cls.verify_async
    emit = reporter.emit
    send = reporter.send

    def cached(token: Any) -> bool | None:
        if lookup is None:
            return None
        try:
            return lookup(token) is not None
        except JWTGuardError:  # an introspection refusal remembered: a hit too
            return True

    def failed(error: Exception, started: float, hit: bool | None) -> None:
        kind = EventKind.TOKEN_REJECTED if isinstance(error, AuthError) else EventKind.VERIFICATION_FAILED
        emit(
            kind,
            None,
            reason_code(error),
            error=type(error).__name__,
            duration=perf_counter() - started,
            cached=hit,
        )

    # Keyword arguments pass through unchanged, whatever the class's methods
    # accept now or later. Without a cache, no lookup is made (cached=None).
    def verify(token: Any, /, **options: Any) -> AccessToken:
        started = perf_counter()
        hit = None if lookup is None else cached(token)
        try:
            # Calling without ** when nothing was passed: the common case, faster.
            result = plain(verifier, token, **options) if options else plain(verifier, token)
        except Exception as error:
            failed(error, started, hit)
            raise
        send(VERIFIED, result.issuer, None, {"duration": perf_counter() - started, "cached": hit, "token": result})
        return result

    async def verify_async(token: Any, /, **options: Any) -> AccessToken:
        started = perf_counter()
        hit = None if lookup is None else cached(token)
        try:
            result = await (plain_async(verifier, token, **options) if options else plain_async(verifier, token))
        except Exception as error:
            failed(error, started, hit)
            raise
        send(VERIFIED, result.issuer, None, {"duration": perf_counter() - started, "cached": hit, "token": result})
        return result

    _install(verifier, verify, verify_async, counting=False)


def observe_later(verifier: Verifier, due: Callable[[], object], every: int) -> None:
    """Until *verifier* is observed, call *due* once every *every*
    verifications (sync and async together), untimed.

    *due* decides whether verifications are now worth timing, and if so
    calls :func:`observe` (through the verifier), which replaces these
    faces. A verifier that is already observed is left as it is.
    """
    if "verify" in vars(verifier):
        return
    cls = type(verifier)
    plain = cls.verify
    plain_async = cls.verify_async
    left = every

    def count() -> None:
        nonlocal left
        left -= 1
        if left <= 0:  # threads may race past 0: never stuck below it
            left = every
            due()

    def verify(token: Any, /, **options: Any) -> AccessToken:
        count()
        return plain(verifier, token, **options) if options else plain(verifier, token)

    async def verify_async(token: Any, /, **options: Any) -> AccessToken:
        count()
        return await (plain_async(verifier, token, **options) if options else plain_async(verifier, token))

    _install(verifier, verify, verify_async, counting=True)


def _install(
    verifier: Verifier, verify: Callable[..., Any], verify_async: Callable[..., Any], *, counting: bool
) -> None:
    """Give *verifier* these faces. Instance attributes come before the
    class's methods on lookup: this verifier (and no other) now runs them."""
    cls = type(verifier)
    instance = vars(verifier)
    instance["verify"] = functools.update_wrapper(verify, cls.verify.__get__(verifier))
    instance["verify_async"] = functools.update_wrapper(verify_async, cls.verify_async.__get__(verifier))
    if counting:
        _COUNTING.add(verifier)
    else:
        _COUNTING.discard(verifier)
