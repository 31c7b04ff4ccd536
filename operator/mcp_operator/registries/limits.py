"""Per-registry-host limits on the requests registries.http.fetch sends: how many in flight at
once, and a token-bucket rate, so that checking a thousand packages never floods one registry.

The operator sets the defaults at start from MCP_OPERATOR_REGISTRY_CONCURRENCY and
MCP_OPERATOR_REGISTRY_RATE (handlers/state.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

__all__ = ["DEFAULT_HOST_LIMITS", "HostGate", "HostLimit", "HostLimits", "origin_of"]


@dataclass(frozen=True)
class HostLimit:
    """What one registry host gets: requests in flight at once, and a token-bucket request rate.

    ``concurrency`` None means unbounded; ``rate`` None means no rate limit (``burst`` is then
    unused). ``burst`` is how many requests may start at once after a quiet spell.
    """

    concurrency: int | None = 8
    rate: float | None = 100.0  # requests per second
    burst: int = 100

    def __post_init__(self) -> None:
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("HostLimit.concurrency must be at least 1, or None for unbounded")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("HostLimit.rate must be above 0, or None for no rate limit")
        if self.burst < 1:
            raise ValueError("HostLimit.burst must be at least 1")


class _Bucket:
    """A token bucket on the event loop's clock. Takers reserve a token (the count may go below
    zero) and sleep until it is theirs, so waiters start in order; a cancelled taker gives its
    token back."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens

    async def take(self, loop: asyncio.AbstractEventLoop) -> None:
        self._refill(loop.time())
        self.tokens -= 1
        if self.tokens >= 0:
            return
        try:
            await asyncio.sleep(-self.tokens / self.rate)  # call_later: the loop's clock
        except asyncio.CancelledError:
            self.tokens = min(float(self.burst), self.tokens + 1)  # never used: hand it back
            raise


class HostGate:
    """The limits of one host in one event loop: a semaphore for requests in flight and a token
    bucket for their rate. Made by :class:`HostLimits`, inside the loop it serves."""

    def __init__(self, origin: str, limit: HostLimit, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self.limit = limit
        self._loop = loop
        self._slots = asyncio.Semaphore(limit.concurrency) if limit.concurrency is not None else None
        self._bucket = _Bucket(limit.rate, limit.burst, loop.time()) if limit.rate is not None else None
        self.in_flight = 0  # requests holding a slot now
        self.peak = 0  # most requests in flight at once so far
        self.waiting = 0  # callers waiting for a slot or a token

    def tokens(self) -> float | None:
        """Tokens in the bucket now (below zero: reserved by waiters); None without a rate limit."""
        return None if self._bucket is None else self._bucket.available(self._loop.time())

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot and a token for one request; both waits can be cancelled and leave nothing."""
        self.waiting += 1
        try:
            if self._slots is not None:
                await self._slots.acquire()
            try:
                if self._bucket is not None:
                    await self._bucket.take(self._loop)
            except BaseException:
                if self._slots is not None:
                    self._slots.release()
                raise
        finally:
            self.waiting -= 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            if self._slots is not None:
                self._slots.release()


def origin_of(url: str) -> str:
    """scheme://host:port of a URL, the default port spelled out: the key of a host's limits."""
    parsed = httpx.URL(url)
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme, 0)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}:{port}"


class HostLimits:
    """Per-registry-host limits that :func:`fetch` applies to every request it sends.

    ``default`` applies to every host without an entry set with :meth:`set`. Gates (the asyncio
    semaphore and bucket of a host) are made lazily, inside the running loop, and kept per loop,
    so nothing crosses event loops; the gates of closed loops are dropped when a gate is next
    asked for. A changed limit takes effect for requests that start after it.
    """

    def __init__(self, default: HostLimit | None = None) -> None:
        self.default = default or HostLimit()
        self.hosts: dict[str, HostLimit] = {}
        # Not a WeakKeyDictionary: a gate's semaphore refers to its loop, which would keep it alive.
        self._gates: dict[asyncio.AbstractEventLoop, dict[str, HostGate]] = {}

    def set(self, url: str, limit: HostLimit | None) -> None:
        """Limits for the host of ``url`` (any URL on it); None: back to the default."""
        if limit is None:
            self.hosts.pop(origin_of(url), None)
        else:
            self.hosts[origin_of(url)] = limit

    def limit_for(self, url: str) -> HostLimit:
        return self.hosts.get(origin_of(url), self.default)

    def gate(self, url: str) -> HostGate:
        """The gate of the host of ``url`` in the running event loop."""
        loop = asyncio.get_running_loop()
        origin = origin_of(url)
        limit = self.hosts.get(origin, self.default)
        gates = self._gates.get(loop)
        if gates is None:
            for other in list(self._gates):  # a copy: another thread's loop may add its own meanwhile
                if other.is_closed():
                    self._gates.pop(other, None)
            gates = self._gates[loop] = {}
        gate = gates.get(origin)
        if gate is None or gate.limit != limit:
            gate = gates[origin] = HostGate(origin, limit, loop)
        return gate

    def gates(self) -> dict[str, HostGate]:
        """The gates made so far in the running loop, by origin."""
        return dict(self._gates.get(asyncio.get_running_loop(), {}))


# Every request fetch() sends waits here, unless the caller passes its own HostLimits. The
# operator tunes it at start (DEFAULT_HOST_LIMITS.default = HostLimit(...), or .set(url, ...)).
DEFAULT_HOST_LIMITS = HostLimits()
