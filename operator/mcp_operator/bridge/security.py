"""Who may use the bridge's MCP endpoints: the Origin check the MCP specification requires
(Streamable HTTP, "Security Warning": servers MUST validate Origin; a present, invalid one gets
403), and an optional bearer token read from a file. The probes (/healthz, /readyz) are outside
both: the kubelet sends neither.

Pure standard library, so that the operator can share the token rule (handlers/verify.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mcp_operator.bridge")

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HOST = r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)"
_ORIGIN = re.compile(rf"([a-z][a-z0-9+.-]*)://{_HOST}(?::([0-9]{{1,5}}|\*))?")
_HOST_HEADER = re.compile(rf"{_HOST}(?::([0-9]{{1,5}}))?")
ORIGIN_EXAMPLES = "'https://app.example', 'http://localhost:3000', 'http://localhost:*', '*' or 'null'"

MAX_TOKEN = 4096
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what an HTTP header can carry as it is
REALM = 'Bearer realm="mcp"'


# ------------------------------------------------------------------------------------- Origin
@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower case; an IPv6 address in brackets
    port: int | None  # as written, else the scheme's default (None: no port, unknown scheme)
    any_port: bool = False  # a pattern written with ':*'

    def matches(self, other: Origin) -> bool:
        return (
            self.scheme == other.scheme
            and self.host == other.host
            and (self.any_port or self.port == other.port)
        )


def parse_origin(text: str, *, pattern: bool = False) -> Origin | None:
    """`scheme://host[:port]` (the form browsers send), or None; `pattern` also allows ':*'."""
    found = _ORIGIN.fullmatch(text.strip().lower())
    if found is None:
        return None
    scheme, host, port = found.groups()
    if port == "*":
        return Origin(scheme, host, None, any_port=True) if pattern else None
    if port is None:
        return Origin(scheme, host, DEFAULT_PORTS.get(scheme))
    number = int(port)
    return Origin(scheme, host, number) if number <= 65535 else None


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (brackets allowed)."""
    host = host.strip().lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OriginError(ValueError):
    """An allowed origin that is not one; the message says how to write it."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    cross_origin: bool = False  # allowed by the list, not as same-origin: the answer carries CORS headers
    why: str = ""


SAME = Verdict(True)


class OriginPolicy:
    """Requests without Origin (SDKs, curl, the operator) pass. A browser's Origin passes when it
    is the same origin as the Host it called (and, when the bridge listens on loopback only, a
    loopback origin: a DNS-rebinding page names its own host in both), or is in `allowed`."""

    def __init__(self, allowed: Sequence[str], *, loopback: bool) -> None:
        self.anything = "*" in allowed
        self.null = "null" in allowed
        patterns: list[Origin] = []
        for item in allowed:
            if item in ("*", "null"):
                continue
            parsed = parse_origin(item, pattern=True)
            if parsed is None:
                raise OriginError(
                    f"{item!r} is not an origin: write scheme://host[:port], like {ORIGIN_EXAMPLES}"
                )
            patterns.append(parsed)
        self.patterns = tuple(patterns)
        self.loopback = loopback

    def check(self, origin: str | None, host: str | None) -> Verdict:
        if origin is None:
            return SAME
        if self.anything:
            return Verdict(True, cross_origin=True)
        if origin.strip().lower() == "null":
            return Verdict(True, cross_origin=True) if self.null else self._refuse(origin, host)
        parsed = parse_origin(origin)
        if parsed is None:
            return self._refuse(origin, host)
        if any(p.matches(parsed) for p in self.patterns):
            return Verdict(True, cross_origin=True)
        return SAME if self._same(parsed, host) else self._refuse(origin, host)

    def _same(self, origin: Origin, host: str | None) -> bool:
        found = _HOST_HEADER.fullmatch((host or "").strip().lower())
        if found is None:
            return False
        name, port = found.group(1), found.group(2)
        number = int(port) if port is not None else origin.port
        return name == origin.host and number == origin.port and (not self.loopback or is_loopback(name))

    def _refuse(self, origin: str, host: str | None) -> Verdict:
        where = " on loopback" if self.loopback else ""
        return Verdict(
            False,
            why=(
                f"Origin {origin[:200]!r} may not use this MCP server: browsers may call it only from "
                f"its own origin{where} (Host {(host or '')[:200]!r}); to allow another origin, give it "
                "with the bridge's --allow-origin (an MCPServer's spec.bridge.allowedOrigins)"
            ),
        )


# ------------------------------------------------------------------------------- bearer token
class TokenError(ValueError):
    """The token file cannot serve; the message says what is wrong and what to do."""


def token_problem(token: str) -> str | None:
    """Why `token` (already stripped) cannot be a bearer token, or None."""
    if not token:
        return "is empty"
    if len(token) > MAX_TOKEN:
        return f"holds more than {MAX_TOKEN} characters"
    if not _TOKEN.fullmatch(token):
        return "holds spaces, control or non-ASCII characters inside the token"
    return None


def read_token(path: str) -> str:
    """The token in `path`, without surrounding whitespace (a trailing newline is common)."""
    fix = "put the token in it (one line of visible ASCII characters), or leave --auth-token-file out"
    try:
        raw = Path(path).read_bytes()[: MAX_TOKEN * 2]
    except FileNotFoundError:
        raise TokenError(f"--auth-token-file {path}: no such file; {fix}") from None
    except OSError as exc:
        raise TokenError(f"--auth-token-file {path}: cannot read it ({exc.strerror or exc}); {fix}") from None
    token = raw.decode("utf-8", "replace").strip()
    problem = token_problem(token)
    if problem is not None:
        raise TokenError(f"--auth-token-file {path} {problem}; {fix}")
    return token


class TokenFile:
    """The token, read at start and again when the file changes (a Secret volume is updated in
    place); a change that leaves no usable token keeps the previous one, with a warning."""

    RECHECK = 1.0  # seconds between looks at the file

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self.token = read_token(path).encode()
        self._stamp = self._stat()
        self._checked = clock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)  # follows the symlinks a Secret volume swaps
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> bytes:
        now = self.clock()
        if now - self._checked >= self.RECHECK:
            self._checked = now
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self.token = read_token(self.path).encode()
                except TokenError as exc:
                    log.warning("%s; keeping the token read before", exc)
                else:
                    log.info("read the bearer token again from %s (the file changed)", self.path)
        return self.token


def bearer_problem(header: str | None, token: bytes) -> tuple[str, str] | None:
    """None when `header` carries `token`; else (RFC 6750 error code or "", what is wrong)."""
    if header is None or not header.strip():
        return "", (
            "missing Authorization header: this MCP server requires 'Authorization: Bearer <token>' "
            "(the token in the bridge's --auth-token-file; for an MCPServer, the Secret key named in "
            "spec.bridge.auth.secretRef)"
        )
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return "invalid_request", (
            f"the Authorization header uses {scheme[:20]!r}, not 'Bearer <token>': send the bearer token"
        )
    if not hmac.compare_digest(value.encode("utf-8", "replace"), token):
        return "invalid_token", (
            "the bearer token is not the one this MCP server accepts: send the token from its Secret"
        )
    return None
