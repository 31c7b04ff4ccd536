"""Who may use the bridge: the Origin check (MCP specification, Streamable HTTP "Security Warning"),
the optional bearer token, the loopback default bind, and /metrics on a port of its own."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import httpx
import pytest

from mcp_operator.bridge import cli
from mcp_operator.bridge.security import OriginError, OriginPolicy, TokenFile, parse_origin
from tests.bridge.conftest import TINY, StartBridge, eventually, init_body, mcp_client
from tests.bridge.test_cli_health import free_port

pytestmark = pytest.mark.bridge
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
TOKEN = "s3cr3t-token_value.42"


def error_message(response: httpx.Response) -> str:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    return str(body["error"]["message"])


# ---------------------------------------------------------------------------------------- Origin
async def test_a_cross_site_origin_gets_403_and_no_session(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        for origin in ("https://evil.example", "http://127.0.0.1:1", "null", "not an origin"):
            refused = await http.post("/mcp", json=init_body(), headers={**ACCEPT, "Origin": origin})
            assert refused.status_code == 403, origin
            message = error_message(refused)
            assert repr(origin) in message
            assert "--allow-origin" in message
            assert "spec.bridge.allowedOrigins" in message
        # The legacy SSE endpoints are MCP endpoints too.
        assert (await http.get("/sse", headers={"Origin": "https://evil.example"})).status_code == 403
        messages = await http.post(
            "/messages?sessionId=x", json=init_body(), headers={"Origin": "https://evil.example"}
        )
        assert messages.status_code == 403
        # The probes are not.
        assert (await http.get("/healthz", headers={"Origin": "https://evil.example"})).status_code == 200
    assert not bridge.bridge.registry.sessions
    metrics = bridge.bridge.metrics.render().decode()
    assert 'mcp_bridge_rejected_total{reason="origin"} 6.0' in metrics


async def test_no_origin_and_the_same_origin_pass(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY)
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        plain = await http.post("/mcp", json=init_body(), headers=ACCEPT)
        assert plain.status_code == 200
        same = await http.post("/mcp", json=init_body(), headers={**ACCEPT, "Origin": bridge.url})
        assert same.status_code == 200
        assert "Access-Control-Allow-Origin" not in same.headers  # same origin: no CORS needed
        localhost = f"http://localhost:{bridge.port}"
        by_name = await http.post(
            "/mcp",
            json=init_body(),
            headers={**ACCEPT, "Origin": localhost, "Host": f"localhost:{bridge.port}"},
        )
        assert by_name.status_code == 200


async def test_a_dns_rebinding_page_is_refused_on_loopback(start_bridge: StartBridge) -> None:
    """The page's own name is in both Host and Origin (same origin, as the browser sees it), but
    a bridge that listens on loopback only accepts loopback origins."""
    bridge = await start_bridge(TINY)
    rebound = f"attacker.example:{bridge.port}"
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        refused = await http.post(
            "/mcp", json=init_body(), headers={**ACCEPT, "Host": rebound, "Origin": f"http://{rebound}"}
        )
    assert refused.status_code == 403
    assert "on loopback" in error_message(refused)


async def test_allowed_origins_pass_with_cors_headers(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, allowed_origins=("https://app.example", "http://localhost:*"))
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        for origin in ("https://app.example", "https://APP.example:443", "http://localhost:5173"):
            response = await http.post("/mcp", json=init_body(), headers={**ACCEPT, "Origin": origin})
            assert response.status_code == 200, origin
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "Mcp-Session-Id" in response.headers["Access-Control-Expose-Headers"]
            assert response.headers["Vary"] == "Origin"
        preflight = await http.options(
            "/mcp",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, mcp-session-id",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "Mcp-Session-Id" in preflight.headers["Access-Control-Allow-Headers"]
        assert preflight.headers["Access-Control-Allow-Methods"] == "GET, POST, DELETE"
        for origin in ("http://app.example", "https://app.example:8443", "https://evil.example"):
            refused = await http.post("/mcp", json=init_body(), headers={**ACCEPT, "Origin": origin})
            assert refused.status_code == 403, origin
        assert (await http.options("/mcp", headers={"Origin": "https://evil.example"})).status_code == 403


async def test_star_allows_every_origin(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, allowed_origins=("*",))
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        for origin in ("https://evil.example", "null"):
            response = await http.post("/mcp", json=init_body(), headers={**ACCEPT, "Origin": origin})
            assert response.status_code == 200


@pytest.mark.parametrize(
    ("allowed", "loopback", "origin", "host", "passes"),
    [
        ((), False, None, "anything", True),
        ((), False, "https://mcp.example", "mcp.example", True),
        ((), False, "https://mcp.example", "mcp.example:443", True),
        ((), False, "http://mcp.example:8080", "mcp.example:8080", True),
        ((), False, "http://mcp.example:8080", "mcp.example:9090", False),
        ((), False, "http://other.example:8080", "mcp.example:8080", False),
        ((), False, "http://[::1]:8080", "[::1]:8080", True),
        ((), False, "http://mcp.example:8080", None, False),
        ((), True, "http://mcp.example:8080", "mcp.example:8080", False),
        ((), True, "http://127.0.0.2:8080", "127.0.0.2:8080", True),
        ((), False, "null", "mcp.example", False),
        (("null",), False, "null", "mcp.example", True),
        (("https://a.example",), False, "https://a.example/path", "x", False),
        (("https://a.example",), False, "https://user@a.example", "x", False),
        (("http://localhost:*",), False, "http://localhost", "x", True),
        (("http://localhost:*",), False, "https://localhost:3000", "x", False),
        (("vscode-webview://abc",), False, "vscode-webview://abc", "x", True),
    ],
)
def test_origin_rules(
    allowed: tuple[str, ...], loopback: bool, origin: str | None, host: str | None, passes: bool
) -> None:
    assert OriginPolicy(allowed, loopback=loopback).check(origin, host).allowed is passes


@pytest.mark.parametrize(
    "bad", ["app.example", "https://app.example/", "https://", "ftp//x", "https://a:99999"]
)
def test_an_allowed_origin_must_be_an_origin(bad: str) -> None:
    assert parse_origin(bad, pattern=True) is None
    with pytest.raises(OriginError, match="is not an origin: write scheme://host"):
        OriginPolicy((bad,), loopback=False)


# ---------------------------------------------------------------------------------- bearer token
@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")  # as `kubectl create secret --from-file` often has it
    return path


async def test_a_token_is_required_on_the_mcp_endpoints_only(
    start_bridge: StartBridge, token_file: Path
) -> None:
    bridge = await start_bridge(TINY, auth_token_file=str(token_file))
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        missing = await http.post("/mcp", json=init_body(), headers=ACCEPT)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == 'Bearer realm="mcp"'
        assert "missing Authorization header" in error_message(missing)
        assert "Authorization: Bearer <token>" in error_message(missing)

        wrong = await http.post("/mcp", json=init_body(), headers={**ACCEPT, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="mcp", error="invalid_token"'
        assert "not the one this MCP server accepts" in error_message(wrong)

        basic = await http.post("/mcp", json=init_body(), headers={**ACCEPT, "Authorization": "Basic eDp5"})
        assert basic.status_code == 401
        assert basic.headers["WWW-Authenticate"] == 'Bearer realm="mcp", error="invalid_request"'
        assert "'Basic', not 'Bearer <token>'" in error_message(basic)

        for path in ("/sse", "/messages?sessionId=x"):
            response = await (http.get(path) if path == "/sse" else http.post(path, json=init_body()))
            assert response.status_code == 401, path
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code in (200, 503)  # answered, not refused

        right = await http.post(
            "/mcp", json=init_body(), headers={**ACCEPT, "Authorization": f"bearer {TOKEN}"}
        )
        assert right.status_code == 200
        assert right.json()["result"]["serverInfo"]["name"] == "tiny"
    metrics = bridge.bridge.metrics.render().decode()
    assert 'mcp_bridge_rejected_total{reason="unauthorized"} 5.0' in metrics


async def test_the_origin_is_checked_before_the_token(start_bridge: StartBridge, token_file: Path) -> None:
    bridge = await start_bridge(TINY, auth_token_file=str(token_file))
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        headers = {**ACCEPT, "Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}
        assert (await http.post("/mcp", json=init_body(), headers=headers)).status_code == 403


async def test_the_official_sdk_client_needs_the_token(start_bridge: StartBridge, token_file: Path) -> None:
    bridge = await start_bridge(TINY, auth_token_file=str(token_file))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with mcp_client(bridge.url, headers=bearer) as client:
        tools = await client.list_tools()
    assert "echo" in [tool.name for tool in tools.tools]
    async with mcp_client(bridge.url, "sse", headers=bearer) as client:
        assert (await client.call_tool("echo", {"text": "over sse"})).isError is False

    with pytest.raises(ExceptionGroup) as refused:  # the SDK raises from its task group
        async with asyncio.timeout(30), mcp_client(bridge.url) as client:
            await client.list_tools()
    assert refused.group_contains(httpx.HTTPStatusError, match="401 Unauthorized", depth=1)
    await eventually(lambda: not bridge.bridge.registry.sessions, what="the SSE session to end")


def test_a_changed_token_file_is_read_again(token_file: Path) -> None:
    now = [0.0]
    tokens = TokenFile(str(token_file), clock=lambda: now[0])
    assert tokens.current() == TOKEN.encode()
    token_file.write_text("rotated-token")
    assert tokens.current() == TOKEN.encode()  # looked at once a second at most
    now[0] += TokenFile.RECHECK
    assert tokens.current() == b"rotated-token"
    token_file.write_text("")  # half-written or emptied: the last good token stays
    now[0] += TokenFile.RECHECK
    assert tokens.current() == b"rotated-token"
    token_file.unlink()
    now[0] += TokenFile.RECHECK
    assert tokens.current() == b"rotated-token"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "no such file"),
        ("", "is empty"),
        ("  \n", "is empty"),
        ("two words", "holds spaces, control or non-ASCII characters"),
        ("x" * 5000, "more than 4096 characters"),
    ],
)
def test_a_bad_token_file_stops_the_bridge_with_exit_code_5(
    tmp_path: Path, content: str | None, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    assert cli.main(["--auth-token-file", str(path), "--", *TINY]) == 5
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"--auth-token-file {path}" in err
    assert said in err
    assert "leave --auth-token-file out" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--allow-origin", "app.example"], "--allow-origin: 'app.example' is not an origin"),
        (["--allow-origin", "https://a.example,https://b.x/y"], "'https://b.x/y' is not an origin"),
        (["--metrics-port", "8080"], "--metrics-port must differ from --port"),
        (["--metrics-port", "70000"], "must be between 0 and 65535"),
    ],
)
def test_option_mistakes_say_what_to_fix(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*argv, "--", *TINY]) == 2
    assert message in capsys.readouterr().err


def test_options_reach_the_config(token_file: Path) -> None:
    config, _ = cli.parse_args(
        [
            "--allow-origin",
            "https://a.example, http://localhost:*",
            "--allow-origin=*",
            "--auth-token-file",
            str(token_file),
            "--metrics-port",
            "0",
            "--host",
            "0.0.0.0",
            "--",
            *TINY,
        ]
    )
    assert config.allowed_origins == ("https://a.example", "http://localhost:*", "*")
    assert config.auth_token_file == str(token_file)
    assert config.metrics_port is None  # 0: no metrics listener
    assert config.host == "0.0.0.0"


# ------------------------------------------------------------------------ bind and metrics port
async def test_metrics_have_a_port_of_their_own(start_bridge: StartBridge, token_file: Path) -> None:
    bridge = await start_bridge(TINY, auth_token_file=str(token_file))
    assert bridge.metrics_url is not None
    assert bridge.metrics_port != bridge.port
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{bridge.url}/metrics")).status_code == 404
        scraped = await http.get(f"{bridge.metrics_url}/metrics")  # no token: a scraper has none
        assert scraped.status_code == 200
        assert scraped.headers["Content-Type"].startswith("text/plain")
        assert "mcp_bridge_sessions_opened_total" in scraped.text
        assert (await http.post(f"{bridge.metrics_url}/mcp", json=init_body())).status_code == 404
        assert (await http.get(f"{bridge.metrics_url}/healthz")).status_code == 404


async def test_no_metrics_listener_when_disabled(start_bridge: StartBridge) -> None:
    bridge = await start_bridge(TINY, metrics_port=None)
    assert bridge.metrics_url is None
    assert bridge.metrics_runner is None


def _other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def test_standalone_the_bridge_listens_on_loopback_only() -> None:
    port, metrics_port = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_operator",
        "bridge",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--",
        *TINY,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            line = b""
            while b"bridge listening" not in line:
                line = await proc.stderr.readline()
                assert line, "the bridge ended before it listened"
        assert f"bridge listening on 127.0.0.1:{port}/mcp".encode() in line
        assert f"metrics on port {metrics_port}".encode() in line
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            assert (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).status_code == 200
            other = _other_address()
            if other is not None:
                for target in (port, metrics_port):
                    with pytest.raises(httpx.ConnectError):
                        await http.get(f"http://{other}:{target}/healthz")
    finally:
        proc.terminate()
        async with asyncio.timeout(30):
            await proc.wait()
