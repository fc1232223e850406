"""The user of a request that carried a verified access token, for Django code that reads ``request.user``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jwt_guard._access_token import AccessToken

__all__ = ["TokenUser"]


class TokenUser:
    """A user known only by its verified access token: no database row.

    ``is_authenticated`` is true; ``pk``, ``id`` and ``username`` are the
    token's ``sub`` (``""`` when it has none, as for some client-credentials
    tokens), so per-user throttling keys differ per subject. It has no Django
    permissions (``has_perm`` is false): authorise with the token's scopes
    (:attr:`scopes`, :class:`~jwt_guard.django.rest_framework.HasScopes`).
    """

    is_active = True
    is_anonymous = False
    is_authenticated = True
    is_staff = False
    is_superuser = False

    def __init__(self, access_token: AccessToken) -> None:
        #: The verified token.
        self.access_token = access_token

    @property
    def username(self) -> str:
        """The token's ``sub``, or ``""``."""
        return self.access_token.subject or ""

    @property
    def pk(self) -> str:
        return self.username

    @property
    def id(self) -> str:
        return self.username

    @property
    def scopes(self) -> frozenset[str]:
        """The scopes the token grants."""
        return self.access_token.scopes

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Iterable[str], obj: Any = None) -> bool:
        if isinstance(perm_list, str):
            raise ValueError("perm_list must be an iterable of permissions")
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"TokenUser({self.access_token!r})"
