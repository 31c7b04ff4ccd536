"""HTTP plumbing shared by the registry clients: retries with backoff, conditional requests, auth,
and per-registry-host limits (requests in flight, request rate)."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import random
import re
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from mcp_operator.registries import bounded
from mcp_operator.registries.binding import url_allowed
from mcp_operator.registries.bounded import Cap
from mcp_operator.registries.errors import InvalidSpec, RegistryAuthFailed, RegistryUnavailable
from mcp_operator.registries.limits import DEFAULT_HOST_LIMITS, HostGate, HostLimit, HostLimits, origin_of
from mcp_operator.registries.types import Credentials

__all__ = [
    "DEFAULT_CACHE",
    "DEFAULT_HOST_LIMITS",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "Fetched",
    "HostGate",
    "HostLimit",
    "HostLimits",
    "ResponseCache",
    "RetryPolicy",
    "auth_headers",
    "fetch",
    "fresh_answers",
    "freshness",
    "normalise_registry_url",
    "origin_of",
    "redact",
]

USER_AGENT = "mcp-operator (+https://mcp-operator.dev)"
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter."""

    attempts: int = 4  # total tries, including the first
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not crypto)


DEFAULT_RETRY = RetryPolicy()

Sleep = Callable[[float], Awaitable[None]]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def redact(url: str) -> str:
    """The URL without userinfo, query and fragment, for messages and logs."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))


_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9A-Fa-f:.]+$")


def normalise_registry_url(url: str, *, what: str = "registry") -> str:
    """Validate a registry URL and return it without a trailing slash.

    Only http(s) URLs with a plain host are accepted: no userinfo (credentials belong in a
    Secret), no query, no fragment.
    """
    if not isinstance(url, str) or len(url) > 2048 or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidSpec(f"{what} URL {url!r} is not valid; use an http(s) URL such as https://host/path")
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or not _HOST_RE.match(parts.hostname)
        or not port_ok
        or parts.query
        or parts.fragment
    ):
        raise InvalidSpec(
            f"{what} URL {redact(url)!r} is not valid; use an http(s) URL such as https://host/path "
            "without query or fragment"
        )
    if parts.username or parts.password:
        raise InvalidSpec(
            f"{what} URL {redact(url)!r} contains credentials; put them in the registry auth Secret instead"
        )
    return url.rstrip("/")


def basic_header(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def auth_headers(credentials: Credentials | None, url: str | None = None) -> dict[str, str]:
    """npm/PyPI style auth: a token as Bearer, a username/password as Basic; none for a `url` the
    credentials are not bound to (registries/binding.py)."""
    if credentials is None:
        return {}
    if url is not None and credentials.registry is not None and not url_allowed(credentials.registry, url):
        return {}
    if credentials.token:
        return {"Authorization": f"Bearer {credentials.token}"}
    if credentials.username is not None and credentials.password is not None:
        return {"Authorization": basic_header(credentials.username, credentials.password)}
    return {}


@dataclass(frozen=True)
class Fetched:
    """A response body with its status and headers, possibly from the cache."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    from_cache: bool = False

    def json(self) -> object:
        import json

        return json.loads(self.content)


_FRESH_OK: ContextVar[float] = ContextVar("mcp_operator_fresh_answers", default=0.0)
MAX_FRESH = 900.0  # an explicit lifetime longer than this is cut to it


@contextmanager
def fresh_answers(max_age: float = MAX_FRESH) -> Iterator[None]:
    """Within this block (this task and what it awaits), a cached answer that is still fresh and at
    most `max_age` seconds old is used without asking the registry (0: always ask). Periodic update
    checks use it with their interval; resolves, upgrade requests and checks asked for by a user
    always ask (a conditional request)."""
    token = _FRESH_OK.set(max(0.0, max_age))
    try:
        yield
    finally:
        _FRESH_OK.reset(token)


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(int(value.strip().strip('"'))))
    except ValueError:
        return None


def freshness(headers: Mapping[str, str], default: float, now: float | None = None) -> float:
    """How long a response stays fresh (RFC 9111 section 4.2.1, for a private cache): Cache-Control
    no-cache / no-store / max-age (less its Age), else Expires less Date, else `default`; at most
    MAX_FRESH."""
    lowered = {k.lower(): v for k, v in headers.items()}
    directives: dict[str, str] = {}
    for part in lowered.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.lower()] = value
    if "no-cache" in directives or "no-store" in directives:
        return 0.0
    if "max-age" in directives:
        max_age = _seconds(directives["max-age"])
        if max_age is None:
            return 0.0  # RFC 9111 4.2.1: an invalid max-age means stale
        return min(MAX_FRESH, max(0.0, max_age - (_seconds(lowered.get("age", "0")) or 0.0)))
    if "expires" in lowered:
        try:
            expires = email.utils.parsedate_to_datetime(lowered["expires"]).timestamp()
            date = lowered.get("date")
            base = email.utils.parsedate_to_datetime(date).timestamp() if date else (now or time.time())
        except (TypeError, ValueError):
            return 0.0  # an invalid Expires means already expired
        return min(MAX_FRESH, max(0.0, expires - base))
    return min(MAX_FRESH, max(0.0, default))


@dataclass
class _Entry:
    etag: str | None
    last_modified: str | None
    headers: dict[str, str]
    packed: bytes  # the body, zlib-compressed: registry documents shrink 4-10x
    fresh_until: float = 0.0  # time.monotonic() until which it may be used without asking
    checked_at: float = 0.0  # time.monotonic() of the registry's last answer for it

    @property
    def content(self) -> bytes:
        return zlib.decompress(self.packed)


class ResponseCache:
    """A small in-memory LRU of GET responses, revalidated with ETag / Last-Modified.

    Keys include a digest of the request's Authorization and Accept headers, so responses
    fetched with one set of credentials are never served to another. Bounded by entries and by
    the bytes it holds (bodies are kept compressed), whichever is reached first. Update checks go
    through the packages in turn, the access pattern a plain LRU handles worst: once the
    documents checked outgrow the cache, every check misses and downloads its document again.
    The defaults hold a few thousand packages' documents of ~100 versions each.

    Where a caller accepts fresh answers (:func:`fresh_answers`), an entry is used without a
    request while it is fresh: for as long as the registry's Cache-Control or Expires says, else
    for `default_fresh` seconds (the operator sets it from MCP_OPERATOR_REGISTRY_FRESH). Responses
    without a validator are kept for that too, and only that long.
    """

    def __init__(
        self,
        max_entries: int = 4096,
        max_body: int = 8 * 1024 * 1024,
        max_bytes: int = 64 * 1024 * 1024,
        default_fresh: float = 60.0,
    ) -> None:
        self.max_entries = max_entries
        self.default_fresh = default_fresh
        self.max_body = max_body  # larger bodies are not kept
        self.max_bytes = max_bytes  # compressed bodies held, at most
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.bytes = 0  # compressed bodies held
        self.hits = 0  # 304 responses answered from the cache
        self.fresh_hits = 0  # answers given without a request

    @staticmethod
    def key(url: str, headers: Mapping[str, str]) -> str:
        lowered = {k.lower(): v for k, v in headers.items()}
        vary = f"{lowered.get('authorization', '')}\n{lowered.get('accept', '')}"
        return url + "#" + hashlib.sha256(vary.encode()).hexdigest()[:16]

    def get(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= len(entry.packed)

    def fresh(self, key: str, max_age: float) -> _Entry | None:
        """The entry, if it may be used without asking the registry: fresh, and the registry's
        answer is at most `max_age` seconds old."""
        entry = self.get(key)
        now = time.monotonic()
        if entry is None or now >= entry.fresh_until or now - entry.checked_at > max_age:
            return None
        return entry

    def revalidated(self, entry: _Entry, headers: Mapping[str, str]) -> None:
        """A 304 answered: the entry is fresh again for as long as the new headers say."""
        entry.checked_at = time.monotonic()
        entry.fresh_until = entry.checked_at + freshness(headers, self.default_fresh)

    def put(self, key: str, response: httpx.Response) -> None:
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        lifetime = freshness(response.headers, self.default_fresh)
        if not (etag or last_modified or lifetime > 0) or len(response.content) > self.max_body:
            self._drop(key)
            return
        if "no-store" in response.headers.get("cache-control", ""):
            return
        packed = zlib.compress(response.content, 1)  # level 1: ~0.2 ms for 60 KB of JSON
        self._drop(key)
        if len(packed) > self.max_bytes:
            return
        now = time.monotonic()
        entry = _Entry(etag, last_modified, dict(response.headers), packed, now + lifetime, now)
        self._entries[key] = entry
        self.bytes += len(packed)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
        self.hits = 0
        self.fresh_hits = 0

    def __len__(self) -> int:
        return len(self._entries)


DEFAULT_CACHE = ResponseCache()


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    cache: ResponseCache | None = None,
    sleep: Sleep = asyncio.sleep,
    ok_statuses: frozenset[int] = frozenset({404, 401, 403}),
    limits: HostLimits | None = None,
    cap: Cap | None = None,
) -> Fetched:
    """Send a request with retries for transient failures; return the final response.

    Transport errors, timeouts, 408/425/429 and 5xx are retried up to ``retry.attempts``
    times (Retry-After honoured), then raise :class:`RegistryUnavailable`. 2xx and the
    statuses in ``ok_statuses`` are returned for the caller to interpret; any other status
    raises :class:`RegistryUnavailable` (non-transient ones are not retried).
    ``what`` names the thing asked for, e.g. "npm package 'foo' from https://registry.npmjs.org".
    Every try waits for a slot and a token of the URL's host (``limits``, default
    :data:`DEFAULT_HOST_LIMITS`); backoff sleeps hold neither.
    The body is streamed and read within ``cap`` (default: the registry document cap) and each try
    within a total deadline (registries/bounded.py): :class:`TooLarge` past the cap, :class:`TooSlow`
    past the deadline, neither retried here.
    """
    retry = retry or DEFAULT_RETRY  # looked up per call, so tests and operators can tune it
    limits = DEFAULT_HOST_LIMITS if limits is None else limits  # looked up per call too
    request_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    cache_key = cache.key(url, request_headers) if cache is not None and method == "GET" else None
    if cache is not None and cache_key is not None and _FRESH_OK.get() > 0:
        fresh = cache.fresh(cache_key, _FRESH_OK.get())
        if fresh is not None:
            cache.fresh_hits += 1
            return Fetched(200, fresh.headers, fresh.content, url, from_cache=True)
    cached = cache.get(cache_key) if cache is not None and cache_key is not None else None
    if cached is not None:
        if cached.etag:
            request_headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            request_headers["If-Modified-Since"] = cached.last_modified

    problem = ""
    for attempt in range(max(1, retry.attempts)):
        retry_after: float | None = None
        try:
            async with limits.gate(url).slot():
                response = await bounded.receive(
                    client,
                    method,
                    url,
                    headers=request_headers,
                    what=what,
                    where=redact(url),
                    cap=bounded.document_cap() if cap is None else cap,
                    body_for=lambda status: status < 300 or status in ok_statuses,
                )
        except httpx.TransportError as exc:  # connect errors, timeouts, protocol errors
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if response.status_code == 304 and cached is not None and cache is not None:
                cache.hits += 1
                cache.revalidated(cached, response.headers)
                return Fetched(200, cached.headers, cached.content, str(response.url), from_cache=True)
            if response.status_code < 300 or response.status_code in ok_statuses:
                if cache is not None and cache_key is not None and response.status_code == 200:
                    cache.put(cache_key, response)
                return Fetched(response.status_code, response.headers, response.content, str(response.url))
            problem = f"HTTP {response.status_code}"
            if response.status_code not in TRANSIENT_STATUS:
                raise RegistryUnavailable(
                    f"{what} could not be fetched from {redact(url)}: the registry answered {problem}; "
                    "check the registry URL and that the registry is healthy"
                )
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        if attempt + 1 < retry.attempts:
            await sleep(retry.delay(attempt, retry_after))
    raise RegistryUnavailable(
        f"{what} could not be fetched from {redact(url)} after {retry.attempts} tries ({problem}); "
        "the registry is unreachable or failing: check the registry URL and network access; "
        "the operator retries later"
    )


async def fetch_document(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    accept: str,
    credentials: Credentials | None,
    retry: RetryPolicy | None,
    cache: ResponseCache | None,
) -> Fetched:
    """GET a registry document with npm/PyPI-style auth; a 401/403 becomes RegistryAuthFailed."""
    sent = auth_headers(credentials, url)
    headers = {"Accept": accept, **sent}
    fetched = await fetch(client, url, what=what, headers=headers, retry=retry, cache=cache)
    raise_for_auth(fetched, what, url, sent=bool(sent))
    return fetched


def raise_for_auth(fetched: Fetched, what: str, url: str, *, sent: bool = True) -> None:
    """401/403 as RegistryAuthFailed, saying what to do: check the credentials that were sent, or
    give some (`sent`: whether the request carried any)."""
    if fetched.status in {401, 403}:
        advice = (
            "check the credentials in the Secret named by spec.source.registryAuthSecret"
            if sent
            else "the registry needs credentials: set spec.source.registryAuthSecret to a Secret of "
            "type mcp-operator.dev/registry-auth bound to this registry "
            "(docs/security.md#registry-credentials)"
        )
        raise RegistryAuthFailed(
            f"{what}: the registry {redact(url)} refused access (HTTP {fetched.status}); {advice}"
        )
