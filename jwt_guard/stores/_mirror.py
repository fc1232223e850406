"""The background reader that keeps a :class:`RedisStore`'s local mirror current.

One daemon thread per process (a forked child starts its own). It reads
everything once (a *resync*), then follows the change log with ``XREAD
BLOCK`` from the last entry it saw: a change reaches this process as soon as
Redis hands it out, and every return of ``XREAD`` (at the latest after one
block period) proves the mirror current up to that instant. Any failure, a
new connection, and any gap in the log's sequence numbers lead to a new
resync once Redis answers again.

Why a stream rather than pub/sub: the log is ordered and resumable, so a
change written between the resync snapshot and the first read is not lost
(pub/sub would drop it unless the subscription was made first), the block
timeout doubles as a heartbeat, and the sequence numbers make a missed
change detectable instead of silent.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from jwt_guard._events import logger
from jwt_guard.stores._index import IndexFull
from jwt_guard.stores._redis_format import READ_SCRIPT, Decoded, Keys, decode_entry, decode_packed, parse_seq, read_args

__all__ = ["MirrorReader", "MirrorSink", "Row", "decode_read_reply", "error_reason", "scan_done"]

Row = Decoded

_READ_COUNT = 1000
_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 1.0
_FULL_BACKOFF = 5.0  # after the mirror ran out of room
_PRUNE_INTERVAL = 1.0


class MirrorSink(Protocol):
    """What the reader reports to (the store)."""

    def _mirror_apply(self, rows: list[Row]) -> None: ...
    def _mirror_contact(self, stamp: float) -> None: ...
    def _mirror_synced(self, records: int, seconds: float) -> None: ...
    def _mirror_lost(self, reason: str) -> None: ...
    def _mirror_skipped(self, reasons: Counter[str]) -> None: ...
    def _mirror_prune(self) -> None: ...


class _Gap(Exception):
    """The log skipped a sequence number: changes were missed."""


class _Reconnected(Exception):
    """The reader's connection was replaced without an error reaching it."""


def error_reason(error: BaseException) -> str:
    """A short, stable code for a failed Redis call."""
    name = type(error).__name__
    if "Timeout" in name or isinstance(error, TimeoutError):
        return "timeout"
    if "Connection" in name or isinstance(error, ConnectionError):
        return "connection"
    if "Response" in name:
        return "response"
    return "error"


def decode_read_reply(reply: object, skipped: Counter[str]) -> tuple[object, list[Row]]:
    """(next SCAN cursor, rows) from the read script's answer; what cannot be used
    is counted in *skipped*. A malformed answer ends the scan."""
    rows: list[Row] = []
    if not isinstance(reply, list) or not reply:
        skipped["bad_reply"] += 1
        return b"0", rows
    for item in reply[1:]:
        decoded = decode_packed(item)
        if isinstance(decoded, tuple):
            rows.append(decoded)
        else:
            skipped[decoded] += 1
    return reply[0], rows


def scan_done(cursor: object) -> bool:
    return cursor in (0, b"0", "0")


def _stream_entries(reply: object) -> Iterable[tuple[Any, Any]]:
    # RESP2: [[name, [(id, fields), ...]]]; RESP3: {name: [[id, fields], ...]}.
    streams = reply.values() if isinstance(reply, dict) else (item[1] for item in reply or ())  # type: ignore[attr-defined]
    for entries in streams:
        for entry in entries:
            yield entry[0], entry[1]


class MirrorReader:
    """Resync, then follow the log, until stopped; never raises out of its thread."""

    def __init__(
        self,
        sink: MirrorSink,
        client: Any,
        keys: Keys,
        *,
        block: float,
        errors: tuple[type[BaseException], ...],
        unblock: Callable[[int], object],
    ):
        self.pid = os.getpid()
        self._sink = sink
        self._client = client
        self._keys = keys
        self._block_ms = max(1, round(block * 1000))
        self._errors = errors
        self._read = client.register_script(READ_SCRIPT)
        self._unblock = unblock
        self._connection_id: int | None = None
        self._stop = threading.Event()
        self._last_id: bytes = b"0-0"
        self._next_seq = 1
        self._thread = threading.Thread(target=self._run, name="jwt_guard-revocation-mirror", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        connection_id = self._connection_id
        if connection_id is not None and self._thread.is_alive():
            # CLIENT UNBLOCK ends a blocked XREAD at once, from another
            # connection; closing the reader's socket under it is not safe.
            with contextlib.suppress(*self._errors):
                self._unblock(connection_id)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            with contextlib.suppress(*self._errors):
                self._client.close()

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        delay = _MIN_BACKOFF
        while not self._stop.is_set():
            try:
                self._resync()
                delay = _MIN_BACKOFF
                self._follow()
            except _Gap:
                logger.warning("jwt_guard: the revocation log skipped entries; reading every record again")
                self._stop.wait(_MIN_BACKOFF)
            except _Reconnected:
                logger.info("jwt_guard: the revocation mirror reconnected to Redis; reading every record again")
                self._stop.wait(_MIN_BACKOFF)
            except IndexFull:
                self._stop.wait(_FULL_BACKOFF)
            except self._errors as error:
                if self._stop.is_set():
                    break
                self._sink._mirror_lost(error_reason(error))
                self._stop.wait(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not secrecy
                delay = min(delay * 2, _MAX_BACKOFF)
            except Exception:  # noqa: BLE001 - logged below; the thread must survive
                # A bug must not end the thread: the mirror would silently
                # stop following. Log it, then start over after a pause.
                logger.exception("jwt_guard: the revocation mirror failed unexpectedly")
                self._sink._mirror_lost("error")
                self._stop.wait(_MAX_BACKOFF)

    def _resync(self) -> None:
        started = time.monotonic()
        client = self._client
        self._connection_id = client.client_id()
        with client.pipeline(transaction=True) as pipe:
            pipe.get(self._keys.seq)
            pipe.xrevrange(self._keys.log, count=1)
            seq_raw, last = pipe.execute()
        seq = parse_seq(seq_raw) if seq_raw is not None else 0
        skipped: Counter[str] = Counter()
        if seq is None:
            skipped["bad_counter"] += 1
            seq = 0
        last_id = last[0][0] if last else b"0-0"
        records = 0
        cursor: object = 0
        while not self._stop.is_set():
            cursor, rows = decode_read_reply(self._read(args=read_args(cursor, self._keys), client=client), skipped)
            self._sink._mirror_apply(rows)
            records += len(rows)
            if scan_done(cursor):
                break
        if self._stop.is_set():
            return
        if skipped:
            self._sink._mirror_skipped(skipped)
        self._last_id, self._next_seq = last_id, seq + 1
        self._sink._mirror_synced(records, time.monotonic() - started)

    def _follow(self) -> None:
        # The first read does not block: it proves the mirror current right away.
        block: int | None = None
        last_prune = time.monotonic()
        while not self._stop.is_set():
            # The connection pool silently replaces a connection the server
            # closed while it sat idle between two reads: what was written
            # meanwhile outside the log would go unseen. The connection's id,
            # read with each XREAD on the same connection, tells.
            with self._client.pipeline(transaction=False) as pipe:
                pipe.client_id()
                pipe.xread({self._keys.log: self._last_id}, count=_READ_COUNT, block=block)
                connection_id, reply = pipe.execute()
            if connection_id != self._connection_id:
                raise _Reconnected
            stamp = time.monotonic()
            if reply:
                self._apply(reply)
            self._sink._mirror_contact(stamp)
            if stamp - last_prune >= _PRUNE_INTERVAL:
                last_prune = stamp
                self._sink._mirror_prune()
            block = self._block_ms

    def _apply(self, reply: object) -> None:
        rows: list[Row] = []
        skipped: Counter[str] = Counter()
        gap = False
        for entry_id, fields in _stream_entries(reply):
            self._last_id = entry_id
            seq, decoded = decode_entry(fields)
            if seq is None:
                skipped["bad_entry"] += 1
                continue
            if seq != self._next_seq:
                gap = True
                break
            self._next_seq += 1
            if isinstance(decoded, tuple):
                rows.append(decoded)
            else:
                skipped[decoded] += 1
        if rows:
            self._sink._mirror_apply(rows)
        if skipped:
            self._sink._mirror_skipped(skipped)
        if gap:
            raise _Gap
