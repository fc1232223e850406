"""``settings.JWT_GUARD``: the Django settings of the middleware, read once.

The ``VERIFIER`` entry names the :class:`~jwt_guard.Verifier` (the object, or
a dotted path to it) and ``ON_ERROR`` the error renderer (a callable or a
dotted path). Every other entry is an option of the framework-free request
layer under its upper-case name: ``EXCLUDE_PATHS`` is ``exclude_paths``,
``OPTIONAL`` is ``optional``, ``REALM`` is ``realm``, and so on for every
keyword-only option of :func:`jwt_guard._guard.middleware_layer`, which
checks them exactly as for the ASGI and WSGI middlewares, with the WSGI
middleware's defaults. An option added there is a Django setting at once,
with no code here.

The result is cached per settings: the middleware builds its request layer
once per handler, and REST framework, which makes its authentication classes
per request, reuses the same one. Changing ``JWT_GUARD`` under
``override_settings`` (Django's ``setting_changed`` signal) drops the cache.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from jwt_guard import wsgi
from jwt_guard._guard import Guard, middleware_layer
from jwt_guard._responder import Responder
from jwt_guard._verifier import Verifier
from jwt_guard.errors import ConfigurationError

__all__ = ["SETTING", "GuardSettings", "SettingsError", "guard_settings", "option_defaults", "read_settings"]

#: The name of the Django setting.
SETTING = "JWT_GUARD"
# Entries that name objects (possibly by dotted path) rather than options.
_VERIFIER = "VERIFIER"
_ON_ERROR = "ON_ERROR"
# Keyword-only parameters of middleware_layer that are not user options.
_INTERNAL = frozenset({"on_error_returns", "route_scopes", "adapter"})
_EMPTY = inspect.Parameter.empty


class SettingsError(ConfigurationError, ImproperlyConfigured):
    """``settings.JWT_GUARD`` is wrong: a :class:`~jwt_guard.ConfigurationError`
    that is also Django's ``ImproperlyConfigured``."""


@dataclass(frozen=True)
class GuardSettings:
    """The request layer that ``settings.JWT_GUARD`` describes."""

    verifier: Verifier
    guard: Guard
    responder: Responder


def option_defaults() -> dict[str, Any]:
    """The request-layer options ``settings.JWT_GUARD`` may set (lower case),
    each with its default: that of :func:`~jwt_guard._guard.middleware_layer`,
    else that of the WSGI middleware (the same option there)."""
    wsgi_parameters = inspect.signature(wsgi.JWTGuardMiddleware).parameters
    defaults: dict[str, Any] = {}
    for name, parameter in inspect.signature(middleware_layer).parameters.items():
        if parameter.kind is not parameter.KEYWORD_ONLY or name in _INTERNAL:
            continue
        default = parameter.default
        if default is parameter.empty and name in wsgi_parameters:
            default = wsgi_parameters[name].default
        defaults[name] = default
    return defaults


def _named(value: object, entry: str) -> object:
    """*value*, or the object its dotted path names."""
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise SettingsError(f"{SETTING}[{entry!r}]: cannot import {value!r} ({exc})") from exc


def read_settings(config: object) -> GuardSettings:
    """Build the request layer from the value of ``settings.JWT_GUARD``.

    Raises :class:`SettingsError` naming the entry at fault.
    """
    if config is None:
        raise SettingsError(
            f"settings.{SETTING} is not set: add {SETTING} = {{'VERIFIER': 'myproject.auth.verifier'}} to settings.py"
        )
    if not isinstance(config, Mapping):
        raise SettingsError(f"settings.{SETTING} must be a dict such as {{'VERIFIER': 'myproject.auth.verifier'}}")
    if _VERIFIER not in config:
        raise SettingsError(f"settings.{SETTING} needs 'VERIFIER': a jwt_guard.Verifier or the dotted path to one")
    verifier = _named(config[_VERIFIER], _VERIFIER)
    if not isinstance(verifier, Verifier):
        raise SettingsError(
            f"{SETTING}['VERIFIER'] must be a jwt_guard.Verifier or the dotted path to one, "
            f"not {type(verifier).__name__}"
        )
    on_error = _named(config.get(_ON_ERROR), _ON_ERROR)
    defaults = option_defaults()
    known = set(defaults)
    options: dict[str, Any] = {}
    for entry, value in config.items():
        if entry in (_VERIFIER, _ON_ERROR):
            continue
        name = entry.lower() if isinstance(entry, str) else ""
        if name not in known or entry != name.upper():
            choices = sorted(option.upper() for option in {*known, "verifier", "on_error"})
            close = difflib.get_close_matches(str(entry).upper(), choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the entries are {', '.join(choices)}"
            raise SettingsError(f"{SETTING}: unknown entry {entry!r}{hint}")
        options[name] = value
    missing = sorted(name.upper() for name, default in defaults.items() if default is _EMPTY and name not in options)
    if missing:
        raise SettingsError(f"settings.{SETTING} needs {', '.join(map(repr, missing))}")
    try:
        guard, responder = middleware_layer(
            verifier, on_error, on_error_returns="an HttpResponse or None", **{**defaults, **options}, adapter="django"
        )
    except ConfigurationError as exc:
        raise SettingsError(f"settings.{SETTING}: {exc}") from exc
    return GuardSettings(verifier, guard, responder)


@functools.lru_cache(maxsize=1)
def guard_settings() -> GuardSettings:
    """The request layer of the current ``settings.JWT_GUARD`` (cached)."""
    return read_settings(getattr(settings, SETTING, None))


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        guard_settings.cache_clear()


setting_changed.connect(_settings_changed, dispatch_uid="jwt_guard.django.settings")
