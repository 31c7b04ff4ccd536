"""A keyed work queue, the shape client-go's workqueue has made standard for controllers.

- A key is queued at most once: events that arrive while it waits collapse into one reconcile.
- A key is processed by one worker at a time; a key added while it is being processed is
  processed again right after (nothing that happened during a reconcile is lost).
- `retry` requeues a key after a per-key exponential backoff; `succeeded` resets it.
- `forget` drops everything the queue holds about a key (the object was deleted).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, base: float = 1.0, cap: float = 60.0) -> None:
        self.base, self.cap = base, cap
        self._order: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._wakeup = asyncio.Event()
        self._closed = False

    def add(self, key: K) -> None:
        """Reconcile this key as soon as a worker is free."""
        if self._closed:
            return
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._order.append(key)
            self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        """Reconcile this key after `delay` seconds (an earlier timer for it wins)."""
        if self._closed:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        current = self._timers.get(key)
        if current is not None:
            if current[0] <= due:
                return
            current[1].cancel()
        self._timers[key] = (due, loop.call_later(delay, self._fire, key))

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def backoff(self, key: K) -> float:
        """The next delay for this key: base, 2x base, 4x base ... at most cap, with 10 % jitter."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.cap, self.base * (2 ** min(failures, 30)))
        jittered: float = delay * random.uniform(0.9, 1.1)  # noqa: S311 (jitter, not cryptography)
        return jittered

    def retry(self, key: K) -> float:
        """Requeue the key after its backoff; returns the delay chosen."""
        delay = self.backoff(key)
        self.add_after(key, delay)
        return delay

    def succeeded(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)
        self._dirty.discard(key)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer[1].cancel()

    async def get(self) -> K:
        """The next key to process; the caller must call `done(key)` when finished."""
        while not self._order:
            if self._closed:
                raise QueueClosed
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._order.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def close(self) -> None:
        """Wake every waiting worker with QueueClosed; pending timers are cancelled."""
        self._closed = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._order.clear()
        self._queued.clear()
        self._wakeup.set()

    def sizes(self) -> dict[str, int]:
        """How much the queue holds, per structure: for tests that check nothing leaks."""
        return {
            "queued": len(self._queued),
            "processing": len(self._processing),
            "dirty": len(self._dirty),
            "failures": len(self._failures),
            "timers": len(self._timers),
        }


class QueueClosed(Exception):
    """The queue was closed: the worker that waited on it stops."""
