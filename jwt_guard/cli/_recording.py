"""An httpx transport that remembers what the key server answered, for
``jwt-guard check``: the library fetches through it exactly as it would
through any transport, and the report then shows the status lines, the
``Date`` headers and the documents the library saw.

Imported by ``check`` only when it runs (it imports httpx).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

__all__ = ["Exchange", "RecordingTransport"]

#: Most bytes of a body kept (the library's own cap is 256 KiB by default).
MAX_RECORDED = 1024 * 1024


@dataclass
class Exchange:
    """One request and what came back: a status, or the transport error."""

    url: str
    received_at: float
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    error: str | None = None


class _Tee(httpx.SyncByteStream):
    """Passes a body through, keeping a bounded copy."""

    def __init__(self, stream: httpx.SyncByteStream, record: Exchange) -> None:
        self._stream = stream
        self._record = record

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            room = MAX_RECORDED - len(self._record.body)
            if room > 0:
                self._record.body += chunk[:room]
            yield chunk

    def close(self) -> None:
        self._stream.close()


class RecordingTransport(httpx.BaseTransport):
    """Sends requests through *inner* and records each :class:`Exchange`."""

    def __init__(self, inner: httpx.BaseTransport, clock: Callable[[], float]) -> None:
        self._inner = inner
        self._clock = clock
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        record = Exchange(str(request.url), self._clock())
        self.exchanges.append(record)
        try:
            response = self._inner.handle_request(request)
        except httpx.HTTPError as exc:
            record.error = type(exc).__name__
            raise
        record.received_at = self._clock()
        record.status = response.status_code
        record.headers = {name.lower(): value for name, value in response.headers.items()}
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Tee(stream, record),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()
