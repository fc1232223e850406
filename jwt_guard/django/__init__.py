"""
Django adapter
==============

A middleware for ``settings.MIDDLEWARE`` and view decorators, for Django
served over WSGI and ASGI alike::

    # settings.py
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "jwt_guard.django.JWTGuardMiddleware",
        ...
    ]
    JWT_GUARD = {"VERIFIER": "mysite.auth.verifier", "EXCLUDE_PATHS": ["/admin/"]}

    # views.py
    from jwt_guard.django import require_access_token, require_scopes

    @require_scopes("read:messages")
    def messages(request):
        return JsonResponse({"for": require_access_token(request).subject})

:class:`JWTGuardMiddleware` sets ``request.access_token`` (the verified
:class:`~jwt_guard.AccessToken`, or ``None`` for a request let through
without one) and answers refused requests itself, with the HTTP semantics of
the ASGI and WSGI middlewares. :func:`require_scopes` and
:func:`require_any_scope` protect function views, class-based view methods
(directly or through ``method_decorator``) and REST framework views;
:func:`require_auth` adds step-up authentication (RFC 9470)::

    @require_auth(scopes=["pay"], acr_values=["urn:example:mfa"], max_age=300)
    def transfer(request):
        ...   # else 401 error="insufficient_user_authentication", acr_values="…", max_age="300"

With ``JWT_GUARD["RESOURCE"] = ProtectedResource(...)`` the middleware
serves the resource's RFC 9728 metadata at its well-known path, and every
challenge points to it with ``resource_metadata="…"``.
:mod:`jwt_guard.django.rest_framework` has an authentication class and a
scopes permission class for Django REST framework.

Every decision (where credentials come from, excluded paths, optional mode,
scope and step-up requirements, the metadata answer, the error answer) is
taken by jwt_guard's framework-free request layer; this package only
translates between it and Django.

Trust assumptions
-----------------

* The credentials are the ``Authorization`` request header (and, only with
  ``ALLOW_QUERY_TOKEN``, the ``access_token`` query parameter): client input,
  believed only after :meth:`~jwt_guard.Verifier.verify` accepted the token.
* ``request.access_token`` and ``request.META["jwt_guard.token"]`` are set
  only by the middleware (and by
  :class:`~jwt_guard.django.rest_framework.JWTAuthentication`): clients cannot
  write ``META`` keys without the ``HTTP_`` prefix. The decorators accept only
  an :class:`~jwt_guard.AccessToken` there.
* ``EXCLUDE_PATHS`` are compared with ``request.path_info``, the path Django
  routes, without normalisation.
* Django's own authentication (sessions, ``request.user``) is untouched: the
  middleware does not log anyone in.
"""

from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY
from jwt_guard.django._middleware import JWTGuardMiddleware
from jwt_guard.django._settings import SettingsError
from jwt_guard.django._user import TokenUser
from jwt_guard.django._views import (
    get_access_token,
    require_access_token,
    require_any_scope,
    require_auth,
    require_scopes,
)

__all__ = [
    "RESPONDER_KEY",
    "TOKEN_KEY",
    "JWTGuardMiddleware",
    "SettingsError",
    "TokenUser",
    "get_access_token",
    "require_access_token",
    "require_any_scope",
    "require_auth",
    "require_scopes",
]
