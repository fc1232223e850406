"""pytest fixtures for testing applications protected by jwt_guard.

The plugin is registered through the ``pytest11`` entry point: installing
jwt_guard makes the fixtures available in every test suite, with no import
and no network. (Disable it with ``-p no:jwt_guard``.)

``jwt_issuer``
    A fresh :class:`~jwt_guard.testing.LocalIssuer` for
    ``https://issuer.jwt-guard.test/`` with audience
    ``https://api.jwt-guard.test``. Its RS256 key is made once per session.
``make_token``
    ``make_token(scope=None, sub="user-1", *, aud=..., expires_in=...,
    headers=None, **claims) -> str`` mints a signed access token from
    ``jwt_issuer``. ``make_token(expires_in=-120)`` is expired (past the
    default 60 s leeway), ``make_token(aud="other")`` is for another API.
``jwt_verifier``
    A :class:`~jwt_guard.Verifier` for ``jwt_issuer`` that fetches the
    discovery document and the JWKS through an in-process
    ``httpx.MockTransport`` (sync and async): the real fetch-and-cache path,
    no sockets. Hand it to your application (``create_app(verifier=...)``,
    a FastAPI dependency override, ...).
``auth_header``
    ``auth_header(token=None, **claims) -> {"Authorization": "Bearer ..."}``;
    mints a token from *claims* (as ``make_token``) when none is given.

Every fixture is function-scoped: tests never share an issuer, a verifier or
its caches. Tokens are plain strings, so the same fixtures serve sync test
clients (Flask, Django, Starlette's ``TestClient``) and async ones
(``httpx.AsyncClient`` with ``ASGITransport``).

To match an application's configured issuer or audience, override
``jwt_issuer`` in your ``conftest.py``::

    @pytest.fixture
    def jwt_issuer(jwt_issuer):
        jwt_issuer.issuer = "https://login.example.com/"
        jwt_issuer.audience = "https://api.example.com"
        return jwt_issuer

.. warning::
   These fixtures mint tokens for anyone: they belong in test suites only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from jwt_guard._verifier import Verifier
    from jwt_guard.testing._issuer import LocalIssuer
    from jwt_guard.testing._signing import SigningKey

__all__ = ["AUDIENCE", "ISSUER", "auth_header", "jwt_issuer", "jwt_verifier", "make_token"]

#: The issuer of the ``jwt_issuer`` fixture (``.test`` is a reserved TLD).
ISSUER = "https://issuer.jwt-guard.test/"
#: The audience of tokens minted by ``make_token``.
AUDIENCE = "https://api.jwt-guard.test"

# jwt_guard itself is imported inside the fixtures: this module is loaded in
# every pytest run of every project that has jwt_guard installed, and should
# cost nothing there.


@pytest.fixture(scope="session")
def _jwt_guard_signing_key() -> SigningKey:
    from jwt_guard.testing._signing import SigningKey

    return SigningKey("RS256", kid="jwt-guard-test-key")


@pytest.fixture
def jwt_issuer(_jwt_guard_signing_key: SigningKey) -> LocalIssuer:
    """A local issuer for ``https://issuer.jwt-guard.test/`` (audience
    ``https://api.jwt-guard.test``) signing with the session's RS256 key."""
    from jwt_guard.testing._issuer import LocalIssuer

    return LocalIssuer(ISSUER, audience=AUDIENCE, keys=[_jwt_guard_signing_key])


@pytest.fixture
def make_token(jwt_issuer: LocalIssuer) -> Callable[..., str]:
    """Mint tokens: ``make_token(scope="read", sub="alice", **claims)``.

    Keyword arguments are those of :meth:`LocalIssuer.token
    <jwt_guard.testing.LocalIssuer.token>`: ``scope`` (a string or a list),
    ``sub``, ``aud``, ``expires_in`` (seconds; negative for an expired
    token), ``key``, ``headers`` (header overrides, ``None`` removes one) and
    any other claim (``permissions=[...]``, ``exp=None`` removes a claim).
    """

    def make(scope: Any = None, sub: str | None = "user-1", **claims: Any) -> str:
        return jwt_issuer.token(scope=scope, sub=sub, **claims)

    return make


@pytest.fixture
def jwt_verifier(jwt_issuer: LocalIssuer) -> Iterator[Verifier]:
    """A :class:`~jwt_guard.Verifier` for ``jwt_issuer``: it discovers and
    fetches the issuer's keys through an ``httpx.MockTransport``, for
    ``verify`` and ``verify_async`` alike. Closed after the test."""
    from jwt_guard._verifier import Verifier

    transport = jwt_issuer.mock_transport()
    verifier = Verifier(
        issuer=jwt_issuer.issuer,
        audience=jwt_issuer.audience,
        transport=transport,
        async_transport=transport,
    )
    yield verifier
    verifier.close()


@pytest.fixture
def auth_header(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth_header(token=None, **claims)`` → ``{"Authorization": "Bearer …"}``.

    With no *token*, one is minted from *claims* as by ``make_token``.
    """

    def header(token: str | None = None, **claims: Any) -> dict[str, str]:
        if token is None:
            token = make_token(**claims)
        elif claims:
            raise TypeError("auth_header: pass either a token or claims to mint one, not both")
        return {"Authorization": f"Bearer {token}"}

    return header
