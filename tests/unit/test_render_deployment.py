"""The Deployment of an MCPServer: install container, bridge command, security, ownership, errors."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from mcp_operator.bridge.health import ANSWER_WITHIN
from mcp_operator.models import MCPPackageSpec, MCPPackageStatus, MCPServerSpec
from mcp_operator.render import deployment as d
from mcp_operator.render.inputs import (
    HOME_DIR,
    INSTALL_DIR,
    POD_UID,
    RUNTIME_IMAGE,
    ObjectRef,
    ServerInput,
    Settings,
)
from mcp_operator.render.labels import (
    INTEGRITY_ANNOTATION,
    PACKAGE_LABEL,
    SERVER_LABEL,
    VERSION_ANNOTATION,
    label_value,
    selector,
    server_labels,
)

INTEGRITY = "sha512-" + "A" * 86 + "=="
DIGEST = "sha256:" + "a" * 64
SETTINGS = Settings()


def make_input(
    *,
    server: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    package: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    name: str = "time",
    namespace: str = "tools",
) -> ServerInput:
    """A ServerInput from wire-form dicts; every part defaults to a ready npm package over stdio."""
    status_data: dict[str, Any] = {
        "phase": "Ready",
        "resolvedVersion": "1.2.3",
        "integrity": INTEGRITY,
        "detectedCommand": ["mcp-server-time"],
    }
    status_data.update(status or {})
    return ServerInput(
        server=ObjectRef(kind="MCPServer", name=name, namespace=namespace, uid="server-uid", generation=3),
        spec=MCPServerSpec.model_validate({"package": "time-pkg", **(server or {})}),
        package=ObjectRef(kind="MCPPackage", name="time-pkg", namespace=namespace, uid="package-uid"),
        package_spec=MCPPackageSpec.model_validate(
            {"source": {"type": "npm", "package": "@acme/mcp-time", **(source or {})}, **(package or {})}
        ),
        package_status=MCPPackageStatus.model_validate(status_data),
    )


def oci_input(**kwargs: Any) -> ServerInput:
    server = {"transport": "streamable-http", **kwargs.pop("server", {})}
    return make_input(
        server=server,
        source={"type": "oci", "package": "ghcr.io/acme/time", "version": "1.0"},
        status={
            "integrity": DIGEST,
            "resolvedVersion": "1.0",
            "detectedCommand": [],
            **kwargs.pop("status", {}),
        },
        **kwargs,
    )


def render(inp: ServerInput | None = None, settings: Settings = SETTINGS) -> dict[str, Any]:
    return d.deployment(inp or make_input(), settings)


def pod(dep: dict[str, Any]) -> dict[str, Any]:
    return dep["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def server_container(dep: dict[str, Any]) -> dict[str, Any]:
    [container] = pod(dep)["containers"]
    assert container["name"] == "server"
    return container  # type: ignore[no-any-return]


def init_container(dep: dict[str, Any]) -> dict[str, Any]:
    [container] = pod(dep)["initContainers"]
    assert container["name"] == "install"
    return container  # type: ignore[no-any-return]


def all_containers(dep: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod(dep).get("initContainers", [])
    yield from pod(dep)["containers"]


def process(dep: dict[str, Any]) -> list[str]:
    """The MCP server's command line: what the bridge runs, after its `--`."""
    command: list[str] = server_container(dep)["command"]
    return command[command.index("--") + 1 :]


def bridge_options(dep: dict[str, Any]) -> list[str]:
    command: list[str] = server_container(dep)["command"]
    assert command[:2] == ["mcp-operator", "bridge"]
    return command[2 : command.index("--")]


# ---------------------------------------------------------------------------------------------
# the install init container
# ---------------------------------------------------------------------------------------------


def test_init_container_command_exactly() -> None:
    container = init_container(render())
    assert container["command"] == [
        "mcp-operator",
        "install",
        "--type",
        "npm",
        "--package",
        "@acme/mcp-time",
        "--version",
        "1.2.3",
        "--integrity",
        INTEGRITY,
        "--dest",
        INSTALL_DIR,
    ]
    assert INSTALL_DIR == "/mcp/pkg"
    assert container["image"] == RUNTIME_IMAGE
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert "args" not in container


def test_init_container_for_pypi() -> None:
    inp = make_input(
        source={"type": "pypi", "package": "mcp-server-time", "version": ">=1,<2"},
        status={"resolvedVersion": "1.4.0", "integrity": "sha256:" + "b" * 64},
    )
    command = init_container(render(inp))["command"]
    assert command[2:8] == ["--type", "pypi", "--package", "mcp-server-time", "--version", "1.4.0"]
    assert command[8:10] == ["--integrity", "sha256:" + "b" * 64]


def test_init_container_installs_the_resolved_version_not_the_range() -> None:
    inp = make_input(source={"version": "^1.0.0"}, status={"resolvedVersion": "1.9.9"})
    command = init_container(render(inp))["command"]
    assert command[command.index("--version") + 1] == "1.9.9"
    assert "^1.0.0" not in command


def test_init_container_registry_only_when_set() -> None:
    assert "--registry" not in init_container(render())["command"]
    inp = make_input(source={"registry": "http://verdaccio.tools.svc:4873"})
    command = init_container(render(inp))["command"]
    assert command[-2:] == ["--registry", "http://verdaccio.tools.svc:4873"]
    assert command.count("--registry") == 1


def test_init_container_allow_scripts_only_when_enabled() -> None:
    assert "--allow-scripts" not in init_container(render())["command"]
    off = make_input(package={"install": {"allowScripts": False}})
    assert "--allow-scripts" not in init_container(render(off))["command"]
    on = make_input(package={"install": {"allowScripts": True}}, source={"registry": "https://r.example"})
    command = init_container(render(on))["command"]
    assert command[-1] == "--allow-scripts"
    assert command[-3:-1] == ["--registry", "https://r.example"]


def test_init_container_env_and_mounts() -> None:
    container = init_container(render())
    assert container["env"] == [{"name": "HOME", "value": HOME_DIR}, {"name": "TMPDIR", "value": "/tmp"}]
    assert container["volumeMounts"] == [
        {"name": "packages", "mountPath": "/mcp"},
        {"name": "home", "mountPath": HOME_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


def test_registry_secret_reaches_the_installer_as_optional_secret_key_refs() -> None:
    inp = make_input(source={"registry": "https://npm.example.com", "registryAuthSecret": "npm-creds"})
    env = init_container(render(inp))["env"]
    assert env[2:] == [
        {
            "name": "MCP_REGISTRY_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "npm-creds", "key": "token", "optional": True}},
        },
        {
            "name": "MCP_REGISTRY_USERNAME",
            "valueFrom": {"secretKeyRef": {"name": "npm-creds", "key": "username", "optional": True}},
        },
        {
            "name": "MCP_REGISTRY_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "npm-creds", "key": "password", "optional": True}},
        },
        {
            "name": "MCP_REGISTRY_AUTH_REGISTRY",
            "valueFrom": {"secretKeyRef": {"name": "npm-creds", "key": "registry", "optional": True}},
        },
    ]
    assert all("value" not in e for e in env[2:])
    # the secret goes to the installer only, never to the server process
    assert not any(e["name"].startswith("MCP_REGISTRY") for e in server_container(render(inp))["env"])


# ---------------------------------------------------------------------------------------------
# no shell, anywhere
# ---------------------------------------------------------------------------------------------

SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env", "-c", "ash", "dash", "zsh"}

VARIANTS = {
    "npm": make_input(),
    "npm-registry-scripts": make_input(
        source={"registry": "https://r.example", "registryAuthSecret": "creds"},
        package={"install": {"allowScripts": True}},
        server={"args": ["--tz", "UTC"]},
    ),
    "pypi": make_input(source={"type": "pypi", "package": "mcp-server-time"}),
    "shared": make_input(server={"bridge": {"sessionMode": "shared"}}),
    "bridge-auth": make_input(server={"bridge": {"auth": {"secretRef": {"name": "mcp-token"}}}}),
    "sse": make_input(server={"transport": "sse"}),
    "oci": oci_input(),
}


@pytest.mark.parametrize("inp", VARIANTS.values(), ids=VARIANTS.keys())
def test_no_shell_in_any_command(inp: ServerInput) -> None:
    for container in all_containers(render(inp)):
        words = [*container.get("command", []), *container.get("args", [])]
        assert not SHELLS & set(words), f"{container['name']} runs a shell: {words}"
        assert all(isinstance(w, str) for w in words)


def test_hostile_values_stay_single_argv_words() -> None:
    inp = make_input(server={"args": ["; rm -rf /", "$(id)", "`id`"]})
    command = server_container(render(inp))["command"]
    assert command[-3:] == ["; rm -rf /", "$(id)", "`id`"]


# ---------------------------------------------------------------------------------------------
# the server container: bridge command and entrypoint
# ---------------------------------------------------------------------------------------------


def test_bridge_command_exactly() -> None:
    inp = make_input(
        server={"args": ["--local-timezone", "UTC"]},
        package={"entrypoint": {"args": ["--stdio"]}},
    )
    assert server_container(render(inp))["command"] == [
        "mcp-operator",
        "bridge",
        "--host",
        "0.0.0.0",  # the bridge alone binds loopback; in a pod the Service and probes come from outside
        "--port",
        "8080",
        "--metrics-port",
        "9090",
        "--path",
        "/mcp",
        "--session-mode",
        "perSession",
        "--max-sessions",
        "100",
        "--max-message-bytes",
        "16777216",
        "--idle-timeout",
        "1800",
        "--request-timeout",
        "600",
        "--",
        "mcp-server-time",
        "--stdio",
        "--local-timezone",
        "UTC",
    ]


def test_the_default_limits_are_the_bridges_own() -> None:
    from mcp_operator.bridge.config import DEFAULT_METRICS_PORT, BridgeConfig

    defaults = BridgeConfig(command=("x",))
    options = bridge_options(render())
    assert options[options.index("--max-sessions") + 1] == str(defaults.max_sessions)
    assert options[options.index("--max-message-bytes") + 1] == str(defaults.max_message_bytes)
    assert float(options[options.index("--idle-timeout") + 1]) == defaults.idle_timeout
    assert float(options[options.index("--request-timeout") + 1]) == defaults.request_timeout
    assert options[options.index("--metrics-port") + 1] == str(DEFAULT_METRICS_PORT) == str(d.METRICS_PORT)


def test_bridge_port_and_session_mode_follow_the_spec() -> None:
    inp = make_input(server={"port": 9000, "bridge": {"sessionMode": "shared"}})
    container = server_container(render(inp))
    options = bridge_options(render(inp))
    assert options[options.index("--port") + 1] == "9000"
    assert options[options.index("--session-mode") + 1] == "shared"
    assert container["ports"] == [
        {"name": "mcp", "containerPort": 9000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]


def test_bridge_limits_and_origins_follow_the_spec() -> None:
    bridge = {
        "maxSessions": 7,
        "maxMessageBytes": 1048576,
        "sessionIdleTimeout": "1h30m",
        "requestTimeout": "45s",
        "allowedOrigins": ["https://app.example", "http://localhost:*"],
    }
    options = bridge_options(render(make_input(server={"bridge": bridge})))
    assert options[10:] == [
        "--max-sessions",
        "7",
        "--max-message-bytes",
        "1048576",
        "--idle-timeout",
        "5400",
        "--request-timeout",
        "45",
        "--allow-origin",
        "https://app.example",
        "--allow-origin",
        "http://localhost:*",
    ]
    assert "--auth-token-file" not in options


def test_the_rendered_options_are_what_the_bridge_parses(tmp_path: Any) -> None:
    """The command line the pods get, read by the bridge's own parser (the token file exists there)."""
    from mcp_operator.bridge import cli

    bridge = {
        "auth": {"secretRef": {"name": "mcp-token"}},
        "allowedOrigins": ["https://app.example"],
        "maxSessions": 3,
        "requestTimeout": "2m",
    }
    options = bridge_options(render(make_input(server={"bridge": bridge})))
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    at = options.index("--auth-token-file") + 1
    assert options[at] == d.AUTH_FILE
    options[at] = str(token)
    config, _ = cli.parse_args([*options, "--", "/bin/true"])
    assert (config.host, config.port, config.metrics_port) == ("0.0.0.0", 8080, 9090)
    assert (config.max_sessions, config.request_timeout, config.idle_timeout) == (3, 120, 1800)
    assert config.allowed_origins == ("https://app.example",)
    assert config.auth_token_file == str(token)


def test_the_metrics_port_is_named_in_the_pod_and_not_in_the_service() -> None:
    from mcp_operator.render.network import service

    inp = make_input()
    ports = {p["name"]: p["containerPort"] for p in server_container(render(inp))["ports"]}
    assert ports == {"mcp": 8080, "metrics": 9090}
    assert [p["name"] for p in service(inp, SETTINGS)["spec"]["ports"]] == ["mcp"]
    # A server on 9090 moves the metrics aside.
    moved = make_input(server={"port": 9090})
    assert {p["name"]: p["containerPort"] for p in server_container(render(moved))["ports"]} == {
        "mcp": 9090,
        "metrics": 9091,
    }
    assert bridge_options(render(moved))[5] == "9091"
    # Without the bridge there is no metrics port.
    direct = make_input(server={"transport": "streamable-http"})
    assert [p["name"] for p in server_container(render(direct))["ports"]] == ["mcp"]


def test_the_bearer_token_is_a_read_only_file_from_the_secret_key() -> None:
    inp = make_input(server={"bridge": {"auth": {"secretRef": {"name": "mcp-token", "key": "bearer"}}}})
    dep = render(inp)
    container = server_container(dep)
    options = bridge_options(dep)
    assert options[options.index("--auth-token-file") + 1] == "/var/run/mcp-operator/bridge-auth/token"
    assert pod(dep)["volumes"][-1] == {
        "name": "bridge-auth",
        "secret": {
            "secretName": "mcp-token",
            "items": [{"key": "bearer", "path": "token"}],
            "defaultMode": 0o440,
        },
    }
    assert container["volumeMounts"][-1] == {
        "name": "bridge-auth",
        "mountPath": "/var/run/mcp-operator/bridge-auth",
        "readOnly": True,
    }
    # Readable by the pod's uid through its group (fsGroup), by nobody else; never in the
    # environment or on the command line.
    assert pod(dep)["securityContext"]["fsGroup"] == POD_UID
    assert "mcp-token" not in str(container.get("env")) + str(container.get("envFrom"))
    assert not any("mcp-token" in word for word in container["command"])
    assert all(m["name"] != "bridge-auth" for m in init_container(dep)["volumeMounts"])
    # The probes need no token: the bridge leaves /healthz and /readyz open.
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "mcp"}
    # The key defaults to 'token'.
    default = render(make_input(server={"bridge": {"auth": {"secretRef": {"name": "s"}}}}))
    assert pod(default)["volumes"][-1]["secret"]["items"] == [{"key": "token", "path": "token"}]
    assert "--auth-token-file" not in bridge_options(render())
    assert all(v["name"] != "bridge-auth" for v in pod(render())["volumes"])


@pytest.mark.parametrize(
    ("override", "detected", "server_args", "expected"),
    [
        # no override: the detected command, then the server's args
        (None, ["bin-a"], ["--s"], ["bin-a", "--s"]),
        (None, ["bin-a", "--x"], ["--s"], ["bin-a", "--x", "--s"]),
        # an override with a command replaces the detected command; its args follow it
        (
            {"command": ["node", "dist/cli.js"], "args": ["--y"]},
            ["bin-a"],
            [],
            ["node", "dist/cli.js", "--y"],
        ),
        # an override with a command wins even with nothing detected
        ({"command": ["node", "x.js"], "args": ["--a"]}, [], ["--s"], ["node", "x.js", "--a", "--s"]),
        # an override command without args takes no args but the server's
        ({"command": ["node", "x.js"]}, ["bin-a"], ["--s"], ["node", "x.js", "--s"]),
        # args-only override: the detected command with the override's args, then the server's
        ({"command": [], "args": ["--y"]}, ["bin-a"], ["--s"], ["bin-a", "--y", "--s"]),
        ({"args": ["--y", "--z"]}, ["bin-a"], [], ["bin-a", "--y", "--z"]),
        # no args anywhere
        (None, ["bin-a"], [], ["bin-a"]),
        ({"command": [], "args": []}, ["bin-a"], [], ["bin-a"]),
    ],
)
def test_entrypoint_precedence(
    override: dict[str, Any] | None,
    detected: list[str],
    server_args: list[str],
    expected: list[str],
) -> None:
    inp = make_input(
        package={"entrypoint": override} if override is not None else None,
        status={"detectedCommand": detected},
        server={"args": server_args},
    )
    assert d.entrypoint(inp) == expected
    assert process(render(inp)) == expected


def test_override_command_without_args_does_not_inherit_detected_args() -> None:
    inp = make_input(
        package={"entrypoint": {"command": ["node", "dist/cli.js"]}},
        status={
            "detectedCommand": ["mcp-server-time", "--detected-only"],
            "entrypoint": {"command": ["mcp-server-time"], "args": ["--detected-only"]},
        },
    )
    assert d.entrypoint(inp) == ["node", "dist/cli.js"]


@pytest.mark.parametrize(
    ("package", "stale", "expected"),
    [
        # the override was removed: the detected command runs, not the old override in status
        (None, {"command": ["node", "old.js"], "args": ["--old"]}, ["mcp-server-time"]),
        # an override was added: it runs before the package status catches up
        (
            {"entrypoint": {"command": ["node", "new.js"]}},
            {"command": ["mcp-server-time"]},
            ["node", "new.js"],
        ),
        ({"entrypoint": {"args": ["--new"]}}, {"command": ["mcp-server-time"]}, ["mcp-server-time", "--new"]),
    ],
)
def test_status_entrypoint_is_not_read(
    package: dict[str, Any] | None, stale: dict[str, Any], expected: list[str]
) -> None:
    inp = make_input(package=package, status={"detectedCommand": ["mcp-server-time"], "entrypoint": stale})
    assert d.entrypoint(inp) == expected
    assert process(render(inp)) == expected


def test_server_args_are_appended_after_the_entrypoint() -> None:
    inp = make_input(server={"args": ["a", "b", "--c=d"]})
    assert d.entrypoint(inp) == ["mcp-server-time", "a", "b", "--c=d"]


def test_server_container_image_env_and_mounts() -> None:
    container = server_container(render())
    assert container["image"] == RUNTIME_IMAGE
    assert container["env"][:3] == [
        {"name": "HOME", "value": HOME_DIR},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "PATH", "value": d.SEARCH_PATH},
    ]
    assert d.SEARCH_PATH.split(":")[:2] == [f"{INSTALL_DIR}/node_modules/.bin", f"{INSTALL_DIR}/bin"]
    assert container["volumeMounts"] == init_container(render())["volumeMounts"]
    assert "envFrom" not in container
    assert "resources" not in container


def test_stdio_probes_use_the_bridge_health_endpoints() -> None:
    container = server_container(render())
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": "mcp"},
        "periodSeconds": 2,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }
    # The bridge answers /readyz within ANSWER_WITHIN (2.5 s): every HTTP probe but the startup
    # probe (/healthz, answered at once) waits longer than that.
    assert container["readinessProbe"]["timeoutSeconds"] > ANSWER_WITHIN
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["timeoutSeconds"] >= 2
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "mcp"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "mcp"}
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= 60


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_non_stdio_transport_runs_the_entrypoint_directly_with_tcp_probes(transport: str) -> None:
    inp = make_input(server={"transport": transport, "args": ["--port", "8080"]})
    container = server_container(render(inp))
    assert container["command"] == ["mcp-server-time", "--port", "8080"]
    assert "bridge" not in container["command"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["tcpSocket"] == {"port": "mcp"}
        assert "httpGet" not in container[probe]
    # still installed by the init container
    assert init_container(render(inp))["command"][1] == "install"


# ---------------------------------------------------------------------------------------------
# oci
# ---------------------------------------------------------------------------------------------


def test_oci_runs_the_pinned_digest_without_init_container() -> None:
    dep = render(oci_input())
    assert "initContainers" not in pod(dep)
    container = server_container(dep)
    assert container["image"] == f"ghcr.io/acme/time@{DIGEST}"
    assert "command" not in container  # the image's own entrypoint
    assert "args" not in container  # and its own CMD
    assert container["readinessProbe"]["tcpSocket"] == {"port": "mcp"}
    assert dep["spec"]["template"]["metadata"]["annotations"][INTEGRITY_ANNOTATION] == DIGEST


def test_oci_with_an_entrypoint_override() -> None:
    inp = oci_input(package={"entrypoint": {"command": ["/server"], "args": ["--http"]}})
    container = server_container(render(inp))
    assert container["command"] == ["/server"]
    assert container["args"] == ["--http"]


def test_oci_entrypoint_override_then_server_args() -> None:
    inp = oci_input(
        package={"entrypoint": {"command": ["/server"], "args": ["--http"]}},
        server={"args": ["--port", "8080"]},
    )
    container = server_container(render(inp))
    assert container["command"] == ["/server"]
    assert container["args"] == ["--http", "--port", "8080"]


def test_oci_override_command_without_args() -> None:
    container = server_container(render(oci_input(package={"entrypoint": {"command": ["/server"]}})))
    assert container["command"] == ["/server"]
    assert container.get("args", []) == []


def test_oci_server_args_are_container_args_not_command() -> None:
    container = server_container(render(oci_input(server={"args": ["--port", "8080"]})))
    assert "command" not in container
    assert container["args"] == ["--port", "8080"]


def test_oci_args_only_override_keeps_the_image_entrypoint() -> None:
    inp = oci_input(package={"entrypoint": {"args": ["--http"]}}, server={"args": ["--port", "8080"]})
    container = server_container(render(inp))
    assert "command" not in container
    assert container["args"] == ["--http", "--port", "8080"]
    only_override = server_container(render(oci_input(package={"entrypoint": {"args": ["--http"]}})))
    assert "command" not in only_override
    assert only_override["args"] == ["--http"]


def test_oci_ignores_a_detected_command() -> None:
    # an image runs as built: only spec.entrypoint.command replaces its ENTRYPOINT
    container = server_container(render(oci_input(status={"detectedCommand": ["mcp-server-time"]})))
    assert "command" not in container
    assert "args" not in container


def test_oci_container_runs_the_image_as_built() -> None:
    """An image keeps its own PATH, HOME and files: only /tmp is mounted, no runtime env is set."""
    oci = server_container(render(oci_input()))
    npm = server_container(render(make_input(server={"transport": "streamable-http"})))
    assert oci["image"] != npm["image"]
    assert oci["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert "env" not in oci
    assert {"PATH", "HOME"} <= {e["name"] for e in npm["env"]}
    same = {"ports", "securityContext", "readinessProbe", "livenessProbe", "startupProbe", "imagePullPolicy"}
    assert {k: oci[k] for k in same} == {k: npm[k] for k in same}


def test_oci_image_is_the_resolved_reference_from_status() -> None:
    inp = oci_input(status={"artifactUrl": "registry.example:5000/acme/srv@sha256:" + "b" * 64})
    assert server_container(render(inp))["image"] == "registry.example:5000/acme/srv@sha256:" + "b" * 64


# ---------------------------------------------------------------------------------------------
# replicas, enabled, strategy
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "replicas", "expected"), [(True, 1, 1), (True, 3, 3), (False, 3, 0), (True, 0, 0)]
)
def test_replicas(enabled: bool, replicas: int, expected: int) -> None:
    dep = render(make_input(server={"enabled": enabled, "replicas": replicas}))
    assert dep["spec"]["replicas"] == expected


def test_disabled_keeps_everything_else() -> None:
    on = render(make_input(server={"enabled": True, "replicas": 2}))
    off = render(make_input(server={"enabled": False, "replicas": 2}))
    off["spec"]["replicas"] = on["spec"]["replicas"]
    assert off == on


def test_rollout_strategy_and_deadline() -> None:
    dep = render(settings=Settings(progress_deadline_seconds=120))
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert dep["spec"]["progressDeadlineSeconds"] == 120
    assert dep["spec"]["revisionHistoryLimit"] == 5


# ---------------------------------------------------------------------------------------------
# security: the restricted Pod Security Standard
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inp", VARIANTS.values(), ids=VARIANTS.keys())
def test_restricted_pod_security(inp: ServerInput) -> None:
    spec = pod(render(inp))
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    psc = spec["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == POD_UID != 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "hostNetwork" not in spec
    assert "hostPID" not in spec
    assert "hostIPC" not in spec
    for container in all_containers(render(inp)):
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True, container["name"]
        assert sc["runAsUser"] != 0
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert "add" not in sc["capabilities"]
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "privileged" not in sc or sc["privileged"] is False
        assert "ports" not in container or all("hostPort" not in p for p in container["ports"])
    # Volume types the restricted profile allows.
    allowed = {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
    for volume in spec["volumes"]:
        assert set(volume) - {"name"} <= allowed, volume


def test_writable_paths_are_empty_dirs() -> None:
    dep = render()
    assert pod(dep)["volumes"] == [
        {"name": "packages", "emptyDir": {}},
        {"name": "home", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    for container in all_containers(dep):
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts == {"/mcp": "packages", HOME_DIR: "home", "/tmp": "tmp"}
        assert all(not m.get("readOnly") for m in container["volumeMounts"])
    assert all("hostPath" not in v for v in pod(dep)["volumes"])


def test_security_contexts_are_fresh_dicts() -> None:
    a, b = d.container_security_context(), d.container_security_context()
    a["capabilities"]["drop"].append("NET_RAW")
    assert b["capabilities"] == {"drop": ["ALL"]}


# ---------------------------------------------------------------------------------------------
# identity: names, owner reference, labels, annotations
# ---------------------------------------------------------------------------------------------


def test_metadata_and_owner_reference() -> None:
    dep = render()
    assert dep["apiVersion"] == "apps/v1"
    assert dep["kind"] == "Deployment"
    meta = dep["metadata"]
    assert meta["name"] == "time"
    assert meta["namespace"] == "tools"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "mcp-operator.dev/v1alpha1",
            "kind": "MCPServer",
            "name": "time",
            "uid": "server-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_labels() -> None:
    dep = render()
    labels = dep["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/name": "mcp-server",
        "app.kubernetes.io/instance": "time",
        "app.kubernetes.io/component": "mcp-server",
        "app.kubernetes.io/part-of": "mcp-operator",
        "app.kubernetes.io/managed-by": "mcp-operator",
        "app.kubernetes.io/version": "1.2.3",
        SERVER_LABEL: "time",
        PACKAGE_LABEL: "time-pkg",
    }
    assert dep["spec"]["template"]["metadata"]["labels"] == labels
    assert dep["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "mcp-server", "app.kubernetes.io/instance": "time"}
    }
    # the selector is immutable: it must not depend on the version
    assert set(dep["spec"]["selector"]["matchLabels"].items()) <= set(labels.items())


def test_extra_labels_cannot_override_the_operator_labels() -> None:
    settings = Settings(extra_labels={"team": "ai", "app.kubernetes.io/managed-by": "someone-else"})
    labels = render(settings=settings)["metadata"]["labels"]
    assert labels["team"] == "ai"
    assert labels["app.kubernetes.io/managed-by"] == "mcp-operator"


def test_template_annotations_carry_version_and_integrity() -> None:
    annotations = render()["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {VERSION_ANNOTATION: "1.2.3", INTEGRITY_ANNOTATION: INTEGRITY}
    assert VERSION_ANNOTATION == "mcp-operator.dev/package-version"


def test_a_new_resolved_version_changes_the_pod_template() -> None:
    old = render(make_input(status={"resolvedVersion": "1.2.3"}))
    new = render(make_input(status={"resolvedVersion": "1.3.0", "integrity": "sha512-other"}))
    assert old["spec"]["template"] != new["spec"]["template"]
    assert new["spec"]["template"]["metadata"]["annotations"][VERSION_ANNOTATION] == "1.3.0"
    assert new["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "1.3.0"
    assert old["spec"]["selector"] == new["spec"]["selector"]


def test_the_same_input_renders_the_same_deployment() -> None:
    inp = make_input(server={"args": ["x"]})
    first = render(inp)
    snapshot = copy.deepcopy(first)
    assert render(inp) == snapshot


# ---------------------------------------------------------------------------------------------
# pass-through of the pod fields
# ---------------------------------------------------------------------------------------------


def test_user_fields_are_passed_to_the_pod() -> None:
    inp = make_input(
        server={
            "env": [
                {"name": "TZ", "value": "UTC"},
                {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "api"}}},
            ],
            "envFrom": [{"secretRef": {"name": "more"}}, {"prefix": "CFG_", "configMapRef": {"name": "cfg"}}],
            "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m"}},
            "nodeSelector": {"kubernetes.io/arch": "arm64"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "mcp", "effect": "NoSchedule"}
            ],
            "runtimeClassName": "gvisor",
            "serviceAccountName": "mcp-time",
        }
    )
    dep = render(inp)
    container = server_container(dep)
    assert container["env"][3:] == [
        {"name": "TZ", "value": "UTC"},
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "api"}}},
    ]
    assert container["envFrom"] == [
        {"secretRef": {"name": "more"}},
        {"prefix": "CFG_", "configMapRef": {"name": "cfg"}},
    ]
    assert container["resources"] == {"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m"}}
    spec = pod(dep)
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "arm64"}
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "mcp", "effect": "NoSchedule"}
    ]
    assert spec["runtimeClassName"] == "gvisor"
    assert spec["serviceAccountName"] == "mcp-time"
    # the token stays unmounted even with a service account
    assert spec["automountServiceAccountToken"] is False
    # user env never reaches the installer
    assert all(e["name"] != "TZ" for e in init_container(dep)["env"])


def test_optional_pod_fields_are_absent_by_default() -> None:
    spec = pod(render())
    for field in ("nodeSelector", "tolerations", "runtimeClassName", "serviceAccountName"):
        assert field not in spec


def test_settings_image_and_pull_policy() -> None:
    settings = Settings(runtime_image="registry.local/runtime:dev", image_pull_policy="Always")
    dep = render(settings=settings)
    for container in all_containers(dep):
        assert container["image"] == "registry.local/runtime:dev"
        assert container["imagePullPolicy"] == "Always"


# ---------------------------------------------------------------------------------------------
# what cannot be rendered
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inp", "reason", "words"),
    [
        (
            make_input(status={"resolvedVersion": None}),
            "PackageNotReady",
            ["'time-pkg'", "no resolved version"],
        ),
        (make_input(status={"integrity": None}), "PackageNotReady", ["kubectl describe mcppackage time-pkg"]),
        (
            make_input(status={"detectedCommand": []}),
            "NoEntrypoint",
            ["'time-pkg'", "set spec.entrypoint.command on the MCPPackage"],
        ),
        (
            make_input(status={"detectedCommand": []}, package={"entrypoint": {"args": ["--x"]}}),
            "NoEntrypoint",
            ["spec.entrypoint.command"],
        ),
        (
            make_input(
                status={"detectedCommand": [], "entrypoint": {"command": ["mcp-server-time"]}},
            ),
            "NoEntrypoint",
            ["spec.entrypoint.command"],
        ),
        (
            make_input(
                source={"type": "pypi", "package": "mcp-server-time"},
                status={"detectedCommand": []},
                server={"transport": "sse"},
            ),
            "NoEntrypoint",
            ["'time-pkg'", "console script"],
        ),
        (
            make_input(package={"install": {"method": "image"}}),
            "InstallMethodUnsupported",
            ["install.method 'image'", "'initContainer'"],
        ),
        (
            oci_input(server={"transport": "stdio"}),
            "TransportUnsupported",
            ["'ghcr.io/acme/time'", "'streamable-http' or 'sse'"],
        ),
    ],
    ids=[
        "no-version",
        "no-integrity",
        "no-entrypoint",
        "empty-command",
        "only-status-entrypoint",
        "pypi-no-command",
        "image-method",
        "oci-stdio",
    ],
)
def test_render_errors(inp: ServerInput, reason: str, words: list[str]) -> None:
    with pytest.raises(d.RenderError) as info:
        render(inp)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    for word in words:
        assert word in str(info.value)


def test_unsupported_install_method_is_reported_before_a_missing_version() -> None:
    inp = make_input(package={"install": {"method": "image"}}, status={"resolvedVersion": None})
    with pytest.raises(d.RenderError) as info:
        d.check_supported(inp)
    assert info.value.reason == "InstallMethodUnsupported"


def test_oci_without_command_is_fine() -> None:
    # nothing detected and no override: the image's own ENTRYPOINT and CMD run, no NoEntrypoint
    inp = oci_input()
    assert inp.package_status.detected_command == []
    assert inp.package_spec.entrypoint is None
    container = server_container(render(inp))
    assert "command" not in container
    assert "args" not in container


# ---------------------------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time", "time"),
        ("1.2.3", "1.2.3"),
        ("1.2.3+build.5", "1.2.3-build.5"),
        ("@scope/name", "scope-name"),
        ("-x-", "x"),
        ("a" * 70, "a" * 63),
        ("a" * 62 + "._b", "a" * 62),
        ("", ""),
    ],
)
def test_label_value(text: str, expected: str) -> None:
    value = label_value(text)
    assert value == expected
    assert len(value) <= 63


def test_server_labels_without_version() -> None:
    labels = server_labels("s", "p", None)
    assert "app.kubernetes.io/version" not in labels
    assert selector("s").items() <= labels.items()


def test_install_container_alone_refuses_an_unresolved_package() -> None:
    with pytest.raises(d.RenderError) as info:
        d.install_container(make_input(status={"integrity": None}), SETTINGS)
    assert info.value.reason == "PackageNotReady"
