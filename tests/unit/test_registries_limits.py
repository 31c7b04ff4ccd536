"""Per-registry-host limits in fetch(): requests in flight, token-bucket rate, cancellation.

The registries here are fakes: httpx.MockTransport handlers that record what reaches them. Times
are the event loop's clock (what the bucket uses); every wait is bounded by asyncio.timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress

import httpx
import pytest

from mcp_operator.registries import http

WAIT = 5.0  # seconds: the bound of every wait for a condition below


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run until ``condition`` holds, at most WAIT seconds."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0)
    except TimeoutError:
        raise AssertionError(f"{what}: not reached within {WAIT} s") from None


class FakeRegistry:
    """A fake registry for MockTransport: counts requests in flight per host, records when each
    arrived (loop time), and holds the requests of ``held`` hosts until ``release`` is set."""

    def __init__(self, *held: str) -> None:
        self.held = set(held)
        self.release = asyncio.Event()
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.arrivals: dict[str, list[float]] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.arrivals.setdefault(host, []).append(asyncio.get_running_loop().time())
        self.in_flight[host] = self.in_flight.get(host, 0) + 1
        self.peak[host] = max(self.peak.get(host, 0), self.in_flight[host])
        try:
            if host in self.held:
                await self.release.wait()
            return httpx.Response(200, json={"host": host})
        finally:
            self.in_flight[host] -= 1

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def getter(
    client: httpx.AsyncClient, limits: http.HostLimits, **kwargs: object
) -> Callable[[str], Awaitable[http.Fetched]]:
    async def get(url: str) -> http.Fetched:
        return await http.fetch(client, url, what="thing", limits=limits, **kwargs)  # type: ignore[arg-type]

    return get


async def test_in_flight_bound_holds_per_host_and_other_hosts_are_not_slowed() -> None:
    limits = http.HostLimits()  # the defaults: 8 in flight, 50 requests/s with a burst of 50
    registry = FakeRegistry("slow.example")
    async with registry.client() as client:
        get = getter(client, limits)
        slow = [asyncio.create_task(get(f"https://slow.example/p{i}")) for i in range(50)]
        try:
            await until(lambda: registry.in_flight.get("slow.example") == 8, "8 requests at slow.example")
            gate = limits.gate("https://slow.example/")
            await until(lambda: gate.waiting == 42, "42 fetches waiting for slow.example")
            # slow.example holds all its slots; another host gets its answers meanwhile.
            async with asyncio.timeout(WAIT):
                quick = await asyncio.gather(*(get(f"https://quick.example/p{i}") for i in range(20)))
            assert [f.status for f in quick] == [200] * 20
            assert registry.in_flight["slow.example"] == 8
            assert not any(task.done() for task in slow)
            registry.release.set()
            async with asyncio.timeout(WAIT):
                done = await asyncio.gather(*slow)
        finally:
            for task in slow:
                task.cancel()
    assert [f.json() for f in done] == [{"host": "slow.example"}] * 50
    assert registry.peak["slow.example"] == 8
    assert gate.peak == 8
    assert (gate.in_flight, gate.waiting) == (0, 0)
    assert registry.peak["quick.example"] <= 8


@pytest.mark.parametrize("concurrency", [None, 4])
async def test_rate_is_respected_over_a_burst(concurrency: int | None) -> None:
    rate, burst, count = 100.0, 5, 30
    limits = http.HostLimits(http.HostLimit(concurrency=concurrency, rate=rate, burst=burst))
    registry = FakeRegistry()
    async with registry.client() as client:
        get = getter(client, limits)
        start = asyncio.get_running_loop().time()
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*(get(f"https://r.example/p{i}") for i in range(count)))
    times = sorted(registry.arrivals["r.example"])
    assert len(times) == count
    slack = 1e-3  # the loop may run a timer up to its clock resolution early
    # The first `burst` go at once; after them one per 1 / rate: by any moment t, at most
    # burst + rate * (t - start) requests have reached the registry. (Arrivals, not token grants,
    # are what the fake sees: a loaded machine may delay a request after its grant, never before.)
    assert times[burst - 1] - start < 1.0  # no waiting within the burst (bound generous: noisy machine)
    for k in range(burst, count):
        assert times[k] - start >= (k - burst + 1) / rate - slack, k
    assert times[-1] - start < (count - burst) / rate + 2.0  # and no slower than the rate, give or take


async def test_a_cancelled_slot_waiter_leaks_no_slot() -> None:
    limits = http.HostLimits(http.HostLimit(concurrency=1, rate=None))
    registry = FakeRegistry("r.example")
    async with registry.client() as client:
        get = getter(client, limits)
        gate = limits.gate("https://r.example/")
        first = asyncio.create_task(get("https://r.example/1"))
        await until(lambda: gate.in_flight == 1, "the first request in flight")
        second = asyncio.create_task(get("https://r.example/2"))
        await until(lambda: gate.waiting == 1, "the second fetch waiting for a slot")
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        assert (gate.in_flight, gate.waiting) == (1, 0)

        # Cancelled in flight (inside the request): its slot comes back too.
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert (gate.in_flight, gate.waiting) == (0, 0)

        # Exactly one slot is left: a third request gets it, a fourth waits.
        third = asyncio.create_task(get("https://r.example/3"))
        fourth = asyncio.create_task(get("https://r.example/4"))
        try:
            await until(lambda: gate.in_flight == 1 and gate.waiting == 1, "third in flight, fourth waiting")
            assert registry.in_flight["r.example"] == 1
            registry.release.set()
            async with asyncio.timeout(WAIT):
                assert [f.status for f in await asyncio.gather(third, fourth)] == [200, 200]
        finally:
            third.cancel()
            fourth.cancel()
    assert gate.peak == 1
    assert registry.peak["r.example"] == 1


async def test_a_cancelled_token_waiter_gives_its_token_back() -> None:
    rate = 10.0
    # Five slots: the five waiters below hold them all while they wait for tokens.
    limits = http.HostLimits(http.HostLimit(concurrency=5, rate=rate, burst=1))
    registry = FakeRegistry()
    loop = asyncio.get_running_loop()
    async with registry.client() as client:
        get = getter(client, limits)
        await get("https://r.example/first")  # takes the only token
        gate = limits.gate("https://r.example/")
        waiters = [asyncio.create_task(get(f"https://r.example/w{i}")) for i in range(5)]
        await until(lambda: gate.waiting == 5, "five fetches waiting for a token")
        assert (gate.tokens() or 0) < -4  # reserved by the five
        for task in waiters:
            task.cancel()
        for task in waiters:
            with pytest.raises(asyncio.CancelledError):
                await task
        assert (gate.waiting, gate.in_flight) == (0, 0)
        assert (gate.tokens() or 0) > -1  # handed back: at most the first one's token is missing
        # The next request waits for one token (at most 1 / rate), not behind five phantom ones,
        # and finds a slot: the waiters gave back the slots they held too.
        start = loop.time()
        async with asyncio.timeout(WAIT):
            await get("https://r.example/next")
        assert loop.time() - start < 5 / rate
    assert len(registry.arrivals["r.example"]) == 2  # no cancelled waiter reached the registry


async def test_backoff_sleeps_hold_no_slot() -> None:
    limits = http.HostLimits(http.HostLimit(concurrency=1, rate=None))
    answers = [httpx.Response(503), httpx.Response(200)]
    seen_in_flight: list[int] = []

    def fake_registry(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    async def fake_sleep(seconds: float) -> None:
        seen_in_flight.append(limits.gate("https://r.example/").in_flight)

    policy = http.RetryPolicy(attempts=2, base_delay=0, max_delay=0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake_registry)) as client:
        got = await http.fetch(
            client, "https://r.example/x", what="thing", retry=policy, sleep=fake_sleep, limits=limits
        )
    assert got.status == 200
    assert seen_in_flight == [0]


def test_gates_are_made_per_event_loop() -> None:
    """One HostLimits serves any number of loops: each gets its own semaphore and bucket."""
    limits = http.HostLimits(http.HostLimit(concurrency=1, rate=1000.0, burst=1))
    gates: list[http.HostGate] = []

    async def contended() -> None:
        registry = FakeRegistry()
        async with registry.client() as client:
            get = getter(client, limits)
            async with asyncio.timeout(WAIT):
                await asyncio.gather(*(get(f"https://r.example/{i}") for i in range(5)))
        gates.append(limits.gate("https://r.example/"))
        assert registry.peak["r.example"] == 1

    for _ in range(3):
        asyncio.run(contended())
    assert len({id(g) for g in gates}) == 3
    assert len(limits._gates) == 1  # each new loop dropped the gates of the closed ones before it

    async def only_this_loop() -> bool:
        limits.gate("https://r.example/")
        return list(limits._gates) == [asyncio.get_running_loop()]

    assert asyncio.run(only_this_loop())


async def test_limits_per_host_and_changes() -> None:
    limits = http.HostLimits(http.HostLimit(concurrency=2, rate=None))
    assert http.origin_of("https://R.example/a") == http.origin_of("https://r.example:443/b")
    assert http.origin_of("http://r.example/") != http.origin_of("https://r.example/")
    assert http.origin_of("http://[::1]:8080/simple/") == "http://[::1]:8080"
    limits.set("https://npm.example/some/path", http.HostLimit(concurrency=1, rate=5, burst=2))
    assert limits.limit_for("https://npm.example:443/other") == http.HostLimit(1, 5, 2)
    assert limits.limit_for("https://pypi.example/") == http.HostLimit(2, None)
    first = limits.gate("https://npm.example/")
    assert limits.gate("https://npm.example/x") is first
    assert set(limits.gates()) == {"https://npm.example:443"}
    limits.set("https://npm.example/", None)  # back to the default: a new gate from now on
    assert limits.gate("https://npm.example/").limit == http.HostLimit(2, None)
    limits.default = http.HostLimit(concurrency=3, rate=None)
    assert limits.gate("https://npm.example/").limit.concurrency == 3


async def test_fetch_uses_the_default_limits_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = http.HostLimits(http.HostLimit(concurrency=1, rate=None))
    monkeypatch.setattr(http, "DEFAULT_HOST_LIMITS", limits)
    registry = FakeRegistry()
    async with registry.client() as client:
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*(http.fetch(client, f"https://r.example/{i}", what="t") for i in range(6)))
    assert limits.gate("https://r.example/").peak == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"rate": 0.0}, "rate"),
        ({"rate": -1.0}, "rate"),
        ({"burst": 0}, "burst"),
    ],
)
def test_limit_values_are_checked(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        http.HostLimit(**kwargs)  # type: ignore[arg-type]


async def test_a_waiter_cancelled_by_a_timeout_leaves_the_gate_clean() -> None:
    limits = http.HostLimits(http.HostLimit(concurrency=1, rate=None))
    registry = FakeRegistry("r.example")
    async with registry.client() as client:
        get = getter(client, limits)
        holder = asyncio.create_task(get("https://r.example/hold"))
        gate = limits.gate("https://r.example/")
        await until(lambda: gate.in_flight == 1, "the holder in flight")
        with suppress(TimeoutError):
            async with asyncio.timeout(0.01):
                await get("https://r.example/impatient")
        assert gate.waiting == 0
        registry.release.set()
        async with asyncio.timeout(WAIT):
            await holder
            await get("https://r.example/after")
    assert (gate.in_flight, gate.waiting, gate.peak) == (0, 0, 1)
