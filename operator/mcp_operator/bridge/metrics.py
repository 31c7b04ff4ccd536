"""Prometheus metrics for one bridge instance (its own registry, so tests can run several)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Methods defined by the MCP specification; anything else is counted as "other" so that clients
# cannot blow up label cardinality.
KNOWN_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "subscriptions/listen",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
    }
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Gauge("mcp_bridge_sessions", "Open MCP sessions", ["transport"], registry=r)
        self.sessions_total = Counter(
            "mcp_bridge_sessions_opened", "MCP sessions opened", ["transport"], registry=r
        )
        self.requests = Counter(
            "mcp_bridge_requests",
            "JSON-RPC requests from clients, by method and outcome (ok, error, timeout, child_exit)",
            ["method", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "mcp_bridge_request_duration_seconds",
            "Time from a request reaching the bridge to its response leaving the child",
            ["method"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.in_flight = Gauge(
            "mcp_bridge_requests_in_flight", "Requests waiting for the MCP server", registry=r
        )
        self.child_starts = Counter(
            "mcp_bridge_child_starts",
            "MCP server processes started, by purpose (session, shared, readiness)",
            ["purpose"],
            registry=r,
        )
        self.child_exits = Counter(
            "mcp_bridge_child_exits",
            "MCP server processes that ended, by purpose and whether the bridge stopped them",
            ["purpose", "reason"],
            registry=r,
        )
        self.rejected = Counter(
            "mcp_bridge_rejected",
            "HTTP requests refused (max_sessions, too_large, draining, unknown_session, bad_request, origin, "
            "unauthorized)",
            ["reason"],
            registry=r,
        )
        self._requests: dict[tuple[str, str], Any] = {}
        self._latency: dict[str, Any] = {}

    @staticmethod
    def method_label(method: str) -> str:
        return method if method in KNOWN_METHODS else "other"

    def observe(self, method: str, outcome: str, seconds: float) -> None:
        key = (method, outcome)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(method=method, outcome=outcome)
        counter.inc()
        hist = self._latency.get(method)
        if hist is None:
            hist = self._latency[method] = self.latency.labels(method=method)
        hist.observe(seconds)

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data
