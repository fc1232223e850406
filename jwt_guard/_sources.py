"""Where a :class:`~jwt_guard.Verifier` gets each issuer's keys: one
:class:`~jwt_guard._keysource.StaticKeys` for configured keys, else a
:class:`~jwt_guard._keysource.RemoteKeys` per issuer (found through its
discovery document), or one shared by every issuer for a configured
``jwks_uri``, with its sync and async shells on one set of HTTP clients."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from jwt_guard._fetch import attach_shells
from jwt_guard._http import HTTPClients
from jwt_guard._keysource import KeySource, RemoteKeys, StaticKeys
from jwt_guard._policy import KeySetState

if TYPE_CHECKING:
    import httpx

    from jwt_guard._config import Settings
    from jwt_guard._events import Reporter
    from jwt_guard._keys import KeySet

__all__ = ["key_sources_for", "remote_sources"]


def key_sources_for(
    settings: Settings,
    static: KeySet | None,
    reporter: Reporter,
    transport: httpx.BaseTransport | None,
    async_transport: httpx.AsyncBaseTransport | None,
    *,
    on_change: Callable[[], None],
) -> tuple[dict[str, KeySource], HTTPClients | None]:
    """The key source of each configured issuer, and the HTTP clients the
    remote ones share (``None`` with static keys). *on_change* runs when a
    fetched key set changes (the verifier then forgets cached results)."""
    if static is not None:
        # Algorithms cannot mix HS* with asymmetric ones, so every key of
        # a non-empty static set fits the allowlist's kind.
        return dict.fromkeys(settings.issuers, StaticKeys(static)), None
    clients = HTTPClients(
        settings.key_cache, transport, async_transport, allow_insecure_http=settings.allow_insecure_http
    )

    def remote(label: str, issuer: str | None, jwks_uri: str | None) -> RemoteKeys:
        state = KeySetState(
            label=label,
            issuer=issuer,
            jwks_uri=jwks_uri,
            options=settings.key_cache,
            algorithms=settings.algorithms,
            allow_insecure_http=settings.allow_insecure_http,
            reporter=reporter,
        )
        source = RemoteKeys(state, clock=settings.clock, reporter=reporter, on_change=on_change)
        return attach_shells(source, clients)

    if settings.jwks_uri is not None:
        return dict.fromkeys(settings.issuers, remote(settings.jwks_uri, None, settings.jwks_uri)), clients
    return {issuer: remote(issuer, issuer, None) for issuer in settings.issuers}, clients


def remote_sources(sources: Mapping[str, KeySource]) -> list[RemoteKeys]:
    """The distinct fetching sources among *sources* (several issuers may share one)."""
    distinct = {id(source): source for source in sources.values()}
    return [source for source in distinct.values() if isinstance(source, RemoteKeys)]
