"""A minimal stdio MCP server (stdlib only, starts in milliseconds) for the process-lifecycle tests.

Tools: `echo` (returns its `text`), `sleep` (waits `seconds`), `exit` (the process exits with `code`
before answering), `pid` (returns the process id), `big` (returns `size` x's).
Run with `python -I -S tiny_server.py`. TINY_START_DELAY=S makes it start S seconds late.
"""

import json
import os
import sys
import time


def result(request_id, value):
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def text(value):
    return {"content": [{"type": "text", "text": str(value)}]}


def handle(msg):
    method, request_id = msg.get("method"), msg.get("id")
    params = msg.get("params") or {}
    if request_id is None:
        return None
    if method == "initialize":
        return result(
            request_id,
            {
                "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "tiny", "version": "1.0"},
            },
        )
    if method == "ping":
        return result(request_id, {})
    if method == "tools/list":
        names = ["echo", "sleep", "exit", "pid", "big"]
        return result(request_id, {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in names]})
    if method == "tools/call":
        name, args = params.get("name"), params.get("arguments") or {}
        if name == "echo":
            return result(request_id, text(args.get("text", "")))
        if name == "sleep":
            time.sleep(float(args.get("seconds", 0)))
            return result(request_id, text("slept"))
        if name == "exit":
            sys.stdout.flush()
            os._exit(int(args.get("code", 3)))
        if name == "big":
            return result(request_id, text("x" * int(args.get("size", 0))))
        if name == "pid":
            return result(request_id, text(os.getpid()))
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": f"no method {method}"}}


def main():
    # TINY_START_DELAY: seconds to wait before reading anything, like a server that loads slowly.
    time.sleep(float(os.environ.get("TINY_START_DELAY", "0")))
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = handle(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
