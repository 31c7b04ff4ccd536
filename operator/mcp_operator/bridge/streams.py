"""Server-sent event streams that outlive their HTTP connection, so clients can resume them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque

_stream_ids = itertools.count(1)


class EventStream:
    """An ordered, replayable sequence of JSON-RPC messages for one SSE stream.

    POST streams hold the messages about one HTTP request and close when every response has
    been delivered; the standalone (GET) stream lives as long as its session. Each event has a
    sequence number; `Last-Event-ID` is `<stream id>/<seq>`.
    """

    __slots__ = ("_events", "_first_seq", "_wake", "closed", "delivered", "expected", "id", "sse", "writer")

    def __init__(self, *, expected: int = 0, sse: bool = True, keep: int | None = None) -> None:
        self.id = str(next(_stream_ids))
        self._events: deque[bytes] = deque(maxlen=keep)
        self._first_seq = 1
        self._wake = asyncio.Event()
        self.closed = False
        self.expected = expected
        self.sse = sse
        self.delivered = 0
        self.writer = 0

    @property
    def last_seq(self) -> int:
        return self._first_seq + len(self._events) - 1

    def push(self, data: bytes) -> None:
        if self.closed:
            return
        events = self._events
        if events.maxlen is not None and len(events) == events.maxlen:
            self._first_seq += 1
        events.append(data)
        self._wake.set()

    def push_response(self, data: bytes) -> None:
        """Add a response; the stream closes once all expected responses are in."""
        self.push(data)
        self.expected -= 1
        if self.expected <= 0:
            self.close()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def events_after(self, seq: int) -> list[tuple[int, bytes]]:
        start = max(seq + 1, self._first_seq)
        events = self._events
        offset = start - self._first_seq
        return [(start + i, events[offset + i]) for i in range(len(events) - offset)]

    def payloads(self) -> list[bytes]:
        return list(self._events)

    async def wait(self, after: int, wait_s: float | None = None) -> None:
        """Wait until there is an event after seq `after`, the stream closes, or `wait_s` passes."""
        self._wake.clear()
        if self.closed or self.last_seq > after:
            return
        if wait_s is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self._wake.wait()

    async def done(self) -> None:
        while not self.closed:
            await self.wait(self.last_seq)
