"""Retries, backoff, Retry-After, conditional requests and URL checks (httpx.MockTransport)."""

from __future__ import annotations

import email.utils
import time
import zlib
from collections.abc import Callable

import httpx
import pytest

from mcp_operator.registries import errors, http
from mcp_operator.registries.types import Credentials

FAST = http.RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def sequence(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_transient_statuses_are_retried(status: int) -> None:
    handler = sequence(httpx.Response(status), httpx.Response(200, json={"ok": True}))
    sleeps = Sleeps()
    async with client_for(handler) as client:
        got = await http.fetch(client, "https://r.example/x", what="thing", retry=FAST, sleep=sleeps)
    assert got.status == 200
    assert got.json() == {"ok": True}
    assert len(sleeps.calls) == 1


async def test_retry_after_is_honoured() -> None:
    handler = sequence(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200))
    sleeps = Sleeps()
    async with client_for(handler) as client:
        await http.fetch(client, "https://r.example/x", what="thing", retry=FAST, sleep=sleeps)
    assert sleeps.calls == [3.0]


async def test_retry_after_is_capped() -> None:
    policy = http.RetryPolicy(attempts=2, max_retry_after=5)
    handler = sequence(httpx.Response(503, headers={"Retry-After": "3600"}), httpx.Response(200))
    sleeps = Sleeps()
    async with client_for(handler) as client:
        await http.fetch(client, "https://r.example/x", what="thing", retry=policy, sleep=sleeps)
    assert sleeps.calls == [5]


async def test_connect_errors_exhaust_into_registry_unavailable() -> None:
    handler = sequence(httpx.ConnectError("refused"))
    sleeps = Sleeps()
    async with client_for(handler) as client:
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await http.fetch(
                client, "https://u:p@r.example/x?q=1", what="npm package 'a'", retry=FAST, sleep=sleeps
            )
    assert len(handler.seen) == 4  # type: ignore[attr-defined]
    assert len(sleeps.calls) == 3
    assert caught.value.transient
    assert caught.value.reason == "RegistryUnavailable"
    assert "after 4 tries" in str(caught.value)
    assert "ConnectError" in str(caught.value)
    assert "u:p" not in str(caught.value)
    assert "q=1" not in str(caught.value)


async def test_timeouts_are_retried() -> None:
    handler = sequence(httpx.ReadTimeout("slow"), httpx.Response(200))
    async with client_for(handler) as client:
        got = await http.fetch(client, "https://r.example/x", what="thing", retry=FAST, sleep=Sleeps())
    assert got.status == 200


async def test_persistent_5xx_raises_after_bounded_tries() -> None:
    handler = sequence(httpx.Response(503))
    async with client_for(handler) as client:
        with pytest.raises(errors.RegistryUnavailable, match="HTTP 503"):
            await http.fetch(client, "https://r.example/x", what="thing", retry=FAST, sleep=Sleeps())
    assert len(handler.seen) == FAST.attempts  # type: ignore[attr-defined]


async def test_other_client_errors_are_not_retried() -> None:
    handler = sequence(httpx.Response(400))
    async with client_for(handler) as client:
        with pytest.raises(errors.RegistryUnavailable, match="HTTP 400"):
            await http.fetch(client, "https://r.example/x", what="thing", retry=FAST, sleep=Sleeps())
    assert len(handler.seen) == 1  # type: ignore[attr-defined]


async def test_404_is_returned_to_the_caller() -> None:
    async with client_for(sequence(httpx.Response(404))) as client:
        got = await http.fetch(client, "https://r.example/x", what="thing", retry=FAST)
    assert got.status == 404
    assert not got.from_cache


async def test_default_retry_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", http.RetryPolicy(attempts=2, base_delay=0, max_delay=0))
    handler = sequence(httpx.Response(500))
    async with client_for(handler) as client:
        with pytest.raises(errors.RegistryUnavailable, match="after 2 tries"):
            await http.fetch(client, "https://r.example/x", what="thing")


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    policy = http.RetryPolicy(base_delay=1, max_delay=8)
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (6, 8)]:
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert policy.delay(0, retry_after=-4) == 0


def test_parse_retry_after() -> None:
    assert http.parse_retry_after(None) is None
    assert http.parse_retry_after("12") == 12
    assert http.parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 25 <= (http.parse_retry_after(date, now=now) or 0) <= 31
    assert http.parse_retry_after(email.utils.formatdate(now - 30, usegmt=True)) == 0


async def test_conditional_requests_use_the_cache() -> None:
    cache = http.ResponseCache()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(
            200, json={"n": 1}, headers={"ETag": '"v1"', "Last-Modified": "Sat, 01 Jan 2026 00:00:00 GMT"}
        )

    async with client_for(handler) as client:
        first = await http.fetch(client, "https://r.example/p", what="p", cache=cache)
        second = await http.fetch(client, "https://r.example/p", what="p", cache=cache)
        other_auth = await http.fetch(
            client, "https://r.example/p", what="p", cache=cache, headers={"Authorization": "Bearer x"}
        )
    assert first.json() == second.json() == {"n": 1}
    assert second.from_cache
    assert not first.from_cache
    assert not other_auth.from_cache
    assert seen[1].headers["if-modified-since"] == "Sat, 01 Jan 2026 00:00:00 GMT"
    assert "if-none-match" not in seen[2].headers  # credentials never share cache entries
    assert cache.hits == 1
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0
    assert cache.hits == 0


async def test_cache_skips_uncacheable_responses_and_evicts() -> None:
    cache = http.ResponseCache(max_entries=2, max_body=10)
    bodies = {"/big": b"x" * 100, "/nostore": b"{}"}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        headers = {"ETag": '"e"'}
        if path == "/nostore":
            headers["Cache-Control"] = "no-store"
        if path == "/plain":
            headers = {}
        return httpx.Response(200, content=bodies.get(path, b"{}"), headers=headers)

    async with client_for(handler) as client:
        for path in ["/big", "/nostore", "/plain", "/a", "/b", "/c"]:
            await http.fetch(client, f"https://r.example{path}", what="p", cache=cache)
    assert len(cache) == 2
    assert cache.get(cache.key("https://r.example/c", {"User-Agent": http.USER_AGENT})) is not None
    assert cache.get(cache.key("https://r.example/a", {"User-Agent": http.USER_AGENT})) is None


async def test_cache_is_bounded_by_bytes_and_holds_a_thousand_packages() -> None:
    """Checks go through the packages in turn: a cache smaller than the fleet misses every time."""
    body = b'{"versions": {' + b'"1.0.0": {}, ' * 500 + b"}}"
    stored = len(zlib.compress(body, 1))  # bodies are kept compressed
    assert stored * 10 < len(body)
    small = http.ResponseCache(max_bytes=2 * stored + 1)
    unlimited = http.HostLimits(http.HostLimit(concurrency=None, rate=None))

    def fake_registry(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"v"':
            return httpx.Response(304)
        return httpx.Response(200, content=body, headers={"ETag": '"v"'})

    cache = http.ResponseCache()
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake_registry)) as client:
        for path in ("/a", "/b", "/c"):
            await http.fetch(client, f"https://r.example{path}", what="p", cache=small, limits=unlimited)
        assert (len(small), small.bytes) == (2, 2 * stored)  # /a went: the bytes bound, not the count
        again = await http.fetch(client, "https://r.example/c", what="p", cache=small, limits=unlimited)
        assert (again.from_cache, again.content, small.hits) == (True, body, 1)
        key = small.key("https://r.example/c", {})
        small.put(key, httpx.Response(200, content=b"abc", headers={"ETag": '"w"'}))
        assert small.bytes == stored + len(zlib.compress(b"abc", 1))  # replaced: the old body uncounted
        for _ in range(2):
            for i in range(1000):
                await http.fetch(client, f"https://r.example/p{i}", what="p", cache=cache, limits=unlimited)
    assert cache.hits == 1000  # the second round: every one answered from the cache
    assert cache.bytes == 1000 * stored
    small.clear()
    assert (len(small), small.bytes) == (0, 0)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://registry.npmjs.org/", "https://registry.npmjs.org"),
        ("http://127.0.0.1:4873", "http://127.0.0.1:4873"),
        ("https://host.example/artifactory/api/npm/npm/", "https://host.example/artifactory/api/npm/npm"),
        ("http://[::1]:8080/simple/", "http://[::1]:8080/simple"),
    ],
)
def test_registry_urls_accepted(url: str, expected: str) -> None:
    assert http.normalise_registry_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/",
        "file:///etc/passwd",
        "https://",
        "https://host/?x=1",
        "https://host/#frag",
        "https://host:99999/",
        "https://ho st/",
        "https://host/\nX-Header: 1",
        "https://bad_host!/",
        "registry.npmjs.org",
        "",
    ],
)
def test_registry_urls_rejected(url: str) -> None:
    with pytest.raises(errors.InvalidSpec, match="not valid"):
        http.normalise_registry_url(url)


def test_registry_urls_with_credentials_are_rejected() -> None:
    with pytest.raises(errors.InvalidSpec, match="Secret") as caught:
        http.normalise_registry_url("https://user:secret@host/")
    assert "secret" not in str(caught.value).replace("Secret", "")


def test_auth_headers() -> None:
    assert http.auth_headers(None) == {}
    assert http.auth_headers(Credentials()) == {}
    assert http.auth_headers(Credentials(token="t0k")) == {"Authorization": "Bearer t0k"}
    assert http.auth_headers(Credentials(username="u", password="p")) == {"Authorization": "Basic dTpw"}
    assert "t0k" not in repr(Credentials(token="t0k", password="pw"))


def test_redact() -> None:
    assert http.redact("https://u:p@h:8443/a/b?token=1#x") == "https://h:8443/a/b"


def test_error_classes() -> None:
    table = {
        errors.PackageNotFound: ("PackageNotFound", False),
        errors.VersionNotFound: ("VersionNotFound", False),
        errors.RegistryUnavailable: ("RegistryUnavailable", True),
        errors.RegistryAuthFailed: ("RegistryAuthFailed", False),
        errors.InvalidPackage: ("InvalidPackage", False),
        errors.InvalidSpec: ("InvalidSpec", False),
    }
    for cls, (reason, transient) in table.items():
        err = cls("what and what to do")
        assert isinstance(err, errors.RegistryError)
        assert (err.reason, err.transient, str(err), err.message) == (
            reason,
            transient,
            "what and what to do",
            "what and what to do",
        )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 60.0),  # no lifetime of its own: the operator's default
        ({"Cache-Control": "public, max-age=300"}, 300.0),  # registry.npmjs.org
        ({"Cache-Control": "max-age=300", "Age": "280"}, 20.0),  # a CDN held it 280 s already
        ({"Cache-Control": "max-age=99999"}, http.MAX_FRESH),
        ({"Cache-Control": "no-cache, max-age=300"}, 0.0),
        ({"Cache-Control": "no-store"}, 0.0),
        ({"Cache-Control": "max-age=soon"}, 0.0),  # invalid: stale (RFC 9111 4.2.1)
        ({"Expires": "Thu, 01 Jan 2026 00:02:00 GMT", "Date": "Thu, 01 Jan 2026 00:00:00 GMT"}, 120.0),
        ({"Expires": "0"}, 0.0),  # invalid: already expired
        ({"Cache-Control": "max-age=10", "Expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, 10.0),
    ],
)
def test_freshness_follows_cache_control_then_expires_then_the_default(
    headers: dict[str, str], expected: float
) -> None:
    assert http.freshness(headers, 60.0) == expected


async def test_fresh_answers_are_used_without_a_request_only_where_accepted() -> None:
    cache = http.ResponseCache()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"Cache-Control": "max-age=300"})
        return httpx.Response(200, json={"n": 1}, headers={"ETag": '"v1"', "Cache-Control": "max-age=300"})

    url = "https://r.example/p"
    async with client_for(handler) as client:
        await http.fetch(client, url, what="p", cache=cache)
        with http.fresh_answers(600):
            fresh = await http.fetch(client, url, what="p", cache=cache)
        assert len(seen) == 1
        assert fresh.from_cache
        assert fresh.json() == {"n": 1}
        assert cache.fresh_hits == 1
        await http.fetch(client, url, what="p", cache=cache)  # not accepted here: a conditional request
        assert len(seen) == 2
        assert seen[1].headers["if-none-match"] == '"v1"'
        with http.fresh_answers(0):  # a check a user asked for
            await http.fetch(client, url, what="p", cache=cache)
        assert len(seen) == 3
        entry = cache.get(cache.key(url, {"User-Agent": http.USER_AGENT}))
        assert entry is not None
        entry.checked_at -= 120  # the registry answered 2 minutes ago, fresh for 3 more
        with http.fresh_answers(60):  # a check every minute wants an answer younger than that
            await http.fetch(client, url, what="p", cache=cache)
        assert len(seen) == 4
        entry.fresh_until = time.monotonic() - 1  # stale: asked again, however long the interval
        with http.fresh_answers(3600):
            await http.fetch(client, url, what="p", cache=cache)
        assert len(seen) == 5
        with http.fresh_answers(3600):  # the 304 made it fresh again
            await http.fetch(client, url, what="p", cache=cache)
        assert len(seen) == 5


async def test_an_answer_without_validators_is_kept_only_while_fresh() -> None:
    """pypiserver sends neither ETag nor Last-Modified: its pages are reused only while fresh."""
    cache = http.ResponseCache(default_fresh=30)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="<html/>")

    async with client_for(handler) as client:
        await http.fetch(client, "https://r.example/simple/p/", what="p", cache=cache)
        with http.fresh_answers():
            await http.fetch(client, "https://r.example/simple/p/", what="p", cache=cache)
        assert len(seen) == 1
        await http.fetch(client, "https://r.example/simple/p/", what="p", cache=cache)
    assert len(seen) == 2
    assert "if-none-match" not in seen[1].headers
    assert "if-modified-since" not in seen[1].headers
    no_default = http.ResponseCache(default_fresh=0)
    async with client_for(handler) as client:
        await http.fetch(client, "https://r.example/simple/p/", what="p", cache=no_default)
    assert len(no_default) == 0  # nothing to revalidate with and never fresh: not kept
