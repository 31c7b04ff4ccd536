"""spec.bridge of an MCPServer, checked in code: the same rules as the CRD schema, with messages,
and the same reading of origins as the bridge itself."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from mcp_operator.bridge.security import parse_origin
from mcp_operator.models import BRIDGE_DURATION, BRIDGE_ORIGIN, MCPServerSpec
from mcp_operator.render.validation_text import describe_validation


def spec(**bridge: Any) -> MCPServerSpec:
    return MCPServerSpec.model_validate({"package": "p", "bridge": bridge})


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        MCPServerSpec.model_validate({"package": "p", **data})
    return describe_validation(caught.value, "MCPServer")


def test_defaults_are_the_bridges() -> None:
    bridge = spec().bridge
    assert bridge.auth is None
    assert bridge.allowed_origins == []
    assert (bridge.max_sessions, bridge.max_message_bytes) == (100, 16 * 1024 * 1024)
    assert (bridge.session_idle_timeout, bridge.request_timeout) == ("30m", "10m")
    assert spec(auth={"secretRef": {"name": "s"}}).bridge.auth is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bridge": {"sessionIdleTimeout": "0s"}}, "spec.bridge.sessionIdleTimeout: '0s' is zero"),
        ({"bridge": {"requestTimeout": "10 min"}}, "'10 min' is not a duration: write it like '30m'"),
        ({"bridge": {"requestTimeout": "31d"}}, "'31d' is longer than 30 days: write at most '30d'"),
        (
            {"bridge": {"maxSessions": 0}},
            "spec.bridge.maxSessions: Input should be greater than or equal to 1",
        ),
        ({"bridge": {"maxMessageBytes": 2**31}}, "spec.bridge.maxMessageBytes"),
        (
            {"bridge": {"allowedOrigins": ["https://ok.example", "app.example"]}},
            "spec.bridge.allowedOrigins: 'app.example' is not an origin: write scheme://host[:port]",
        ),
        ({"bridge": {"allowedOrigins": ["http://a:70000"]}}, "'http://a:70000' is not an origin"),
        (
            {"bridge": {"auth": {"secretRef": {"key": "token"}}}},
            "spec.bridge.auth.secretRef.name: Field required",
        ),
        (
            {"transport": "streamable-http", "bridge": {"auth": {"secretRef": {"name": "s"}}}},
            "spec.bridge.auth needs transport stdio",
        ),
    ],
)
def test_mistakes_say_what_to_fix(data: dict[str, Any], message: str) -> None:
    text = refused(data)
    assert message in text
    assert text.endswith("fix the spec and apply it again")


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example",
        "HTTPS://App.Example",
        "http://localhost:3000",
        "http://localhost:*",
        "http://[::1]:8080",
        "vscode-webview://abc123",
        "https://a.example:65535",
        "https://a.example:65536",
        "app.example",
        "https://a.example/",
        "https://a.example/path",
        "https://user@a.example",
        "https:///x",
        "*",
        "null",
        "**",
        "http://a.example:",
    ],
)
def test_the_schema_and_the_bridge_read_origins_alike(origin: str) -> None:
    by_bridge = origin in ("*", "null") or parse_origin(origin, pattern=True) is not None
    try:
        spec(allowedOrigins=[origin])
    except ValidationError:
        by_model = False
    else:
        by_model = True
    assert by_model is by_bridge
    if not by_model and origin != "https://a.example:65536":  # the port range is checked in code only
        assert not re.fullmatch(BRIDGE_ORIGIN, origin)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("1s", True),
        ("1h0m", True),
        ("0h30m", True),
        ("30d", True),
        ("0s", False),
        ("0m0s", False),
        ("5", False),
    ],
)
def test_the_schema_pattern_refuses_zero_durations(text: str, valid: bool) -> None:
    assert bool(re.fullmatch(BRIDGE_DURATION, text)) is valid
