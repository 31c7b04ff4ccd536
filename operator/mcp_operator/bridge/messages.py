"""The little JSON-RPC the bridge needs: classify messages, build errors, compact encoding."""

from __future__ import annotations

import json
import re
from typing import Any

# Codes the bridge itself emits (the JSON-RPC implementation-defined server-error band).
CHILD_EXITED = -32000
REQUEST_TIMEOUT = -32001
SESSION_NOT_FOUND = -32001
BRIDGE_ERROR = -32003
PARSE_ERROR = -32700
INVALID_REQUEST = -32600

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    return _encoder.encode(obj).encode()


def error(request_id: Any, code: int, message: str, data: Any = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return dumps({"jsonrpc": "2.0", "id": request_id, "error": err})


def is_request(msg: dict[str, Any]) -> bool:
    return "method" in msg and "id" in msg


def progress_token(msg: dict[str, Any]) -> Any:
    """The `params._meta.progressToken` of a request, or None."""
    params = msg.get("params")
    if isinstance(params, dict):
        meta = params.get("_meta")
        if isinstance(meta, dict):
            return meta.get("progressToken")
    return None


def hashable(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def cancelled(request_id: Any) -> bytes:
    params = {"requestId": request_id, "reason": "the bridge timed out waiting for the response"}
    return dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params})


# -- fast paths for large messages -------------------------------------------------------------
#
# Routing needs only the id (and the method, for requests). For large messages, take them from
# the envelope's first or last keys instead of parsing megabytes of JSON. Both common
# serialisations are recognised: envelope keys first (Python SDK, `json.dumps`) and last
# (TypeScript SDK: `{"method":..., "params":..., "jsonrpc":"2.0","id":1}`). Anything else, and any
# message that carries a progress token, takes the full parse.

FAST_MIN_BYTES = 8192
_ID = rb'(-?\d+|"[^"\\]*")'
_SEP = rb"\s*,\s*"
_ENVELOPE = rb'\{\s*"jsonrpc"\s*:\s*"2\.0"' + _SEP + rb'"id"\s*:\s*' + _ID + _SEP
_REQUEST_HEAD = re.compile(_ENVELOPE + rb'"method"\s*:\s*"([^"\\]+)"')
_RESPONSE_HEAD = re.compile(_ENVELOPE + rb'"(result|error)"\s*:')
_METHOD_FIRST = re.compile(rb'\{\s*"method"\s*:\s*"([^"\\]+)"')
_RESULT_FIRST = re.compile(rb'\{\s*"(result|error)"\s*:')
_ENVELOPE_TAIL = re.compile(rb'"jsonrpc"\s*:\s*"2\.0"' + _SEP + rb'"id"\s*:\s*' + _ID + rb"\s*\}\s*$")
_TAIL = 200


def _tail_id(data: bytes) -> bytes | None:
    match = _ENVELOPE_TAIL.search(data, max(0, len(data) - _TAIL))
    return match[1] if match else None


def peek_request(body: bytes) -> dict[str, Any] | None:
    """`{"jsonrpc", "id", "method"}` of a large request, or None when a full parse is needed."""
    if len(body) < FAST_MIN_BYTES or b"progressToken" in body:
        return None
    match = _REQUEST_HEAD.match(body)
    if match:
        raw_id, method = match[1], match[2]
    else:
        head = _METHOD_FIRST.match(body)
        tail = _tail_id(body) if head else None
        if head is None or tail is None:
            return None
        raw_id, method = tail, head[1]
    if method == b"initialize":
        return None
    return {"jsonrpc": "2.0", "id": json.loads(raw_id), "method": method.decode()}


def peek_response(line: bytes) -> tuple[Any, bool] | None:
    """(id, is_error) of a large response, or None when a full parse is needed."""
    if len(line) < FAST_MIN_BYTES:
        return None
    match = _RESPONSE_HEAD.match(line)
    if match:
        return json.loads(match[1]), match[2] == b"error"
    first = _RESULT_FIRST.match(line)
    tail = _tail_id(line) if first else None
    if first is None or tail is None:
        return None
    return json.loads(tail), first[1] == b"error"
