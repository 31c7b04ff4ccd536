"""The operator's MCP handshake, its pure half: the messages it sends, and strict readings of the
answers (JSON or a text/event-stream), bounded, with a reason and a message for every way an answer
can be wrong. The I/O half is mcp_operator/handshake.py."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_operator.reasons import Reason

# The newest version the bridge speaks with a handshake (bridge/config.py); a server that does not
# know it answers with the newest it does, which must be one of these.
PROTOCOL_VERSION = "2025-11-25"
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MAX_ANSWER = 1024 * 1024  # bytes of one HTTP answer
MAX_TOOLS = 256  # names kept in status
MAX_TOOL_NAME = 128
MAX_PAGES = 16  # tools/list pages followed
MAX_CAPABILITIES = 32
MAX_TEXT = 256  # serverInfo name and version
MAX_QUOTE = 200  # characters of a server's own words quoted in a message
MAX_SESSION_ID = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LINE = re.compile(rb"\r\n|\n|\r")


class Failure(Exception):
    """A handshake that did not work: the reason and message of the Verified condition."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def invalid(message: str) -> Failure:
    return Failure(Reason.HANDSHAKE_INVALID, message)


def clean(text: str, limit: int) -> str:
    """A server's text as status may hold it: printable, and at most `limit` characters."""
    text = _CONTROL.sub("?", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(value: Any) -> str:
    return clean(value if isinstance(value, str) else json.dumps(value, default=str), MAX_QUOTE)


def request(request_id: int, method: str, params: Mapping[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params)}).encode()


def notification(method: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": method}).encode()


def initialize(client_version: str) -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp-operator", "version": client_version},
    }


class EventStream:
    """An incremental text/event-stream reader (the WHATWG rules): bytes in, the data of each
    complete `message` event out. Other event types, comments, ids and retry hints are skipped."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event = b""

    def feed(self, chunk: bytes, final: bool = False) -> list[tuple[str, bytes]]:
        """The (event type, data) of each event completed by `chunk` (`final`: the stream ended)."""
        self._buffer += chunk
        events: list[tuple[str, bytes]] = []
        while True:
            end = _LINE.search(self._buffer)
            # A lone CR at the end may be the first half of a CRLF: wait for the next byte.
            if end is None or (end.group() == b"\r" and end.end() == len(self._buffer) and not final):
                return events
            line, self._buffer = self._buffer[: end.start()], self._buffer[end.end() :]
            if not line:
                if self._data:
                    events.append((self._event.decode(errors="replace") or "message", b"\n".join(self._data)))
                self._data, self._event = [], b""
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value


def parse_message(data: bytes, method: str) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise invalid(
            f"{method}: the answer is not JSON: {quote(data[:MAX_QUOTE].decode(errors='replace'))}"
        ) from None
    if not isinstance(message, dict):
        raise invalid(f"{method}: the answer is not one JSON-RPC message but {type(message).__name__}")
    return message


def answers(message: Mapping[str, Any], request_id: int) -> bool:
    """Is this the response to our request (not a notification or a request of the server's)?"""
    own = message.get("id")
    return (
        "method" not in message and isinstance(own, int) and not isinstance(own, bool) and own == request_id
    )


def result_of(message: Mapping[str, Any], request_id: int, method: str) -> dict[str, Any]:
    """The result of a response to `request_id`; Failure for an error or anything that is not one."""
    if message.get("jsonrpc") != "2.0":
        raise invalid(
            f"{method}: the answer is not JSON-RPC 2.0 (jsonrpc is {quote(message.get('jsonrpc'))})"
        )
    if not answers(message, request_id):
        raise invalid(
            f"{method}: the answer is not the response to request id {request_id}: {quote(dict(message))}"
        )
    if "error" in message:
        error = message["error"]
        if isinstance(error, Mapping):
            code, text = error.get("code"), error.get("message")
            raise Failure(Reason.HANDSHAKE_REFUSED, f"{method} answered error {quote(code)}: {quote(text)}")
        raise Failure(Reason.HANDSHAKE_REFUSED, f"{method} answered error {quote(error)}")
    result = message.get("result")
    if not isinstance(result, dict):
        raise invalid(f"{method}: the response has no result object")
    return result


def response_in(events: list[tuple[str, bytes]], request_id: int, method: str) -> dict[str, Any] | None:
    """The result of the response to `request_id` among a stream's events, if it is there. The
    server's notifications and requests are skipped; a response to another id is invalid."""
    for event, data in events:
        if event != "message":
            continue
        message = parse_message(data, method)
        if "id" in message and "method" not in message:
            return result_of(message, request_id, method)
    return None


@dataclass(frozen=True)
class Introduction:
    """What the server said about itself in its initialize result."""

    name: str
    version: str
    protocol_version: str
    capabilities: tuple[str, ...]

    @property
    def has_tools(self) -> bool:
        return "tools" in self.capabilities


def introduction(result: Mapping[str, Any]) -> Introduction:
    version = result.get("protocolVersion")
    if not isinstance(version, str):
        raise invalid("initialize: the result has no protocolVersion")
    if version not in PROTOCOL_VERSIONS:
        raise invalid(
            f"initialize: the server speaks MCP {quote(version)}; the operator speaks "
            f"{', '.join(PROTOCOL_VERSIONS)}"
        )
    info = result.get("serverInfo")
    if not isinstance(info, Mapping) or not isinstance(info.get("name"), str) or not info["name"]:
        raise invalid("initialize: the result has no serverInfo.name")
    if not isinstance(info.get("version"), str):
        raise invalid("initialize: the result has no serverInfo.version")
    capabilities = result.get("capabilities")
    if not isinstance(capabilities, Mapping):
        raise invalid("initialize: the result has no capabilities object")
    names = sorted(clean(str(name), 64) for name in capabilities)[:MAX_CAPABILITIES]
    return Introduction(
        clean(info["name"], MAX_TEXT), clean(info["version"], MAX_TEXT), version, tuple(names)
    )


def tool_page(result: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The tool names of one tools/list result, and the cursor of the next page (None: the last)."""
    tools = result.get("tools")
    if not isinstance(tools, list):
        raise invalid("tools/list: the result has no tools list")
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise invalid(f"tools/list: a tool without a name: {quote(tool)}")
        names.append(tool["name"])
    cursor = result.get("nextCursor")
    if cursor is not None and not isinstance(cursor, str):
        raise invalid(f"tools/list: nextCursor is not a string: {quote(cursor)}")
    return names, cursor or None


@dataclass
class ToolNames:
    """Tool names as status keeps them: the first MAX_TOOLS, each cut to MAX_TOOL_NAME; all counted."""

    names: list[str] = field(default_factory=list)
    count: int = 0
    complete: bool = True  # False: there were more pages than MAX_PAGES

    def add(self, page: list[str]) -> None:
        self.count += len(page)
        room = MAX_TOOLS - len(self.names)
        self.names += [clean(name, MAX_TOOL_NAME) for name in page[: max(room, 0)]]


@dataclass(frozen=True)
class Verification:
    """What one successful handshake read."""

    introduction: Introduction
    tools: tuple[str, ...]
    tool_count: int
    complete: bool = True


def session_id(value: str | None) -> str | None:
    """The Mcp-Session-Id to send back; the spec allows visible ASCII only."""
    if value is None:
        return None
    if not value or len(value) > MAX_SESSION_ID or any(not 0x21 <= ord(c) <= 0x7E for c in value):
        raise invalid(f"initialize: the Mcp-Session-Id header is not visible ASCII: {quote(value)}")
    return value


def redirect(url: str, location: str | None) -> str | None:
    """Where a 307/308 redirect from `url` leads, if it stays on the same origin; None otherwise."""
    if not location:
        return None
    target = urllib.parse.urljoin(url, location)
    here, there = urllib.parse.urlsplit(url), urllib.parse.urlsplit(target)
    if (here.scheme, here.netloc) != (there.scheme, there.netloc) or there.username or there.password:
        return None
    return urllib.parse.urlunsplit(there._replace(fragment=""))


def endpoint(url: str, data: bytes) -> str:
    """The legacy SSE transport's POST URL from its `endpoint` event: on the stream's own origin."""
    text = data.decode(errors="replace").strip()
    target = redirect(url, text)
    if target is None:
        raise invalid(f"the endpoint event names another origin or nothing: {quote(text)}")
    return target


def via(url: str, address: str | None) -> str:
    """`url` with its host replaced by `address` (a Service's cluster IP), port and path kept: how
    the operator reaches a Service without cluster DNS, sending the URL's own host as Host."""
    if not address:
        return url
    parts = urllib.parse.urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
