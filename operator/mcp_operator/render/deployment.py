"""The Deployment that runs one MCPServer: install the pinned package, then run it behind the bridge."""

from __future__ import annotations

from typing import Any

from mcp_operator.models import (
    EnvFromSource,
    EnvVar,
    InstallMethod,
    MCPServerSpec,
    SourceType,
    Transport,
)
from mcp_operator.render.inputs import HOME_DIR, INSTALL_DIR, INSTALL_ROOT, POD_UID, ServerInput, Settings
from mcp_operator.render.labels import (
    INTEGRITY_ANNOTATION,
    VERSION_ANNOTATION,
    selector,
    server_labels,
)
from mcp_operator.render.package_status import entrypoint_of
from mcp_operator.render.self_heal import REINSTALL_ANNOTATION
from mcp_operator.validation import parse_duration

BRIDGE_PATH = "/mcp"
METRICS_PORT = 9090  # the bridge's Prometheus /metrics, on a port of its own: not in the Service
AUTH_VOLUME = "bridge-auth"
AUTH_DIR = "/var/run/mcp-operator/bridge-auth"
AUTH_FILE = f"{AUTH_DIR}/token"
AUTH_FILE_MODE = 0o440  # root:fsGroup (the pod's uid 10001), read-only
SEARCH_PATH = f"{INSTALL_DIR}/node_modules/.bin:{INSTALL_DIR}/bin:/usr/local/bin:/usr/bin:/bin"


class RenderError(ValueError):
    """The objects cannot be rendered as asked; `reason` names the condition, the message the fix."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": POD_UID,
        "runAsGroup": POD_UID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": POD_UID,
        "runAsGroup": POD_UID,
        "fsGroup": POD_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def entrypoint(inp: ServerInput) -> list[str]:
    """The command line of the MCP server process: the package's entrypoint, then the server's args.

    Computed from the spec and the detected command each time, so an override added or removed
    takes effect without waiting for the package's status to catch up.
    """
    chosen = entrypoint_of(inp.package_spec, inp.package_status.detected_command)
    if not chosen.command:
        raise RenderError(
            "NoEntrypoint",
            f"MCPPackage {inp.package.name!r} has no command: the package declares no npm bin or "
            "console script; set spec.entrypoint.command on the MCPPackage",
        )
    return [*chosen.command, *chosen.args, *inp.spec.args]


def _env(items: list[EnvVar]) -> list[dict[str, Any]]:
    return [item.dump() for item in items]


def _env_from(items: list[EnvFromSource]) -> list[dict[str, Any]]:
    return [item.dump() for item in items]


def _registry_credentials(secret: str | None) -> list[dict[str, Any]]:
    if not secret:
        return []
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}
        for env, key in (
            ("MCP_REGISTRY_TOKEN", "token"),
            ("MCP_REGISTRY_USERNAME", "username"),
            ("MCP_REGISTRY_PASSWORD", "password"),
            ("MCP_REGISTRY_AUTH_REGISTRY", "registry"),  # where the installer may send them
        )
    ]


def install_container(inp: ServerInput, settings: Settings) -> dict[str, Any]:
    source = inp.package_spec.source
    status = inp.package_status
    if not status.resolved_version or not status.integrity:
        raise RenderError("PackageNotReady", f"MCPPackage {inp.package.name!r} has no resolved version yet")
    command = [
        "mcp-operator",
        "install",
        "--type",
        str(source.type),
        "--package",
        source.package,
        "--version",
        status.resolved_version,
        "--integrity",
        status.integrity,
        "--dest",
        INSTALL_DIR,
    ]
    if source.registry:
        command += ["--registry", source.registry]
    if inp.package_spec.install.allow_scripts:
        command.append("--allow-scripts")
    if inp.package_spec.install.wheels_only and source.type == SourceType.PYPI:
        command.append("--wheels-only")
    return {
        "name": "install",
        "image": settings.runtime_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "env": [
            {"name": "HOME", "value": HOME_DIR},
            {"name": "TMPDIR", "value": "/tmp"},
            *_registry_credentials(source.registry_auth_secret),
        ],
        "securityContext": container_security_context(),
        "volumeMounts": _mounts(),
        # Why an install failed, in the pod's status: the installer's last words.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _mounts() -> list[dict[str, Any]]:
    return [
        {"name": "packages", "mountPath": INSTALL_ROOT},
        {"name": "home", "mountPath": HOME_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


def probes(transport: str, path: str) -> dict[str, Any]:
    if transport == Transport.STDIO:
        ready: dict[str, Any] = {"httpGet": {"path": "/readyz", "port": "mcp"}}
        live: dict[str, Any] = {"httpGet": {"path": "/healthz", "port": "mcp"}}
    else:
        ready = live = {"tcpSocket": {"port": "mcp"}}
    # Explicit timeouts: the bridge's /readyz answers within 2.5 s ("starting" while the server's
    # first initialize is still on its way), under the timeout with room.
    # The startup probe only needs the bridge up: 2 s x 60; a server's own cold start (npx, uvx,
    # a big package) shows as not ready, not as a restart. Readiness every 2 s: the bridge caches a
    # ready verdict (5 min), so a probe of a ready server costs a cached answer, and a pod turns
    # Ready within about 2 s of its server answering (every 5 s left up to 5 s on the table:
    # bench/coldstart.py).
    return {
        "startupProbe": {**live, "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 60},
        "readinessProbe": {**ready, "periodSeconds": 2, "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {**live, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
    }


def metrics_port(spec: MCPServerSpec) -> int:
    """The bridge's metrics port: 9090, or 9091 when the server itself serves MCP on 9090."""
    return METRICS_PORT if spec.port != METRICS_PORT else METRICS_PORT + 1


def bridge_args(spec: MCPServerSpec) -> list[str]:
    """The bridge's options: every interface of the pod (standalone it binds loopback), the limits
    and who may call it, from spec.bridge."""
    bridge = spec.bridge
    args = [
        "--host",
        "0.0.0.0",  # noqa: S104 - the pod's front door: the Service and the kubelet's probes come from outside
        "--port",
        str(spec.port),
        "--metrics-port",
        str(metrics_port(spec)),
        "--path",
        BRIDGE_PATH,
        "--session-mode",
        str(bridge.session_mode),
        "--max-sessions",
        str(bridge.max_sessions),
        "--max-message-bytes",
        str(bridge.max_message_bytes),
        "--idle-timeout",
        str(parse_duration(bridge.session_idle_timeout)),
        "--request-timeout",
        str(parse_duration(bridge.request_timeout)),
    ]
    for origin in bridge.allowed_origins:
        args += ["--allow-origin", origin]
    if bridge.auth is not None:
        args += ["--auth-token-file", AUTH_FILE]
    return args


def _runs_the_bridge(inp: ServerInput) -> bool:
    return inp.spec.transport == Transport.STDIO and inp.package_spec.source.type != SourceType.OCI


def auth_volume(inp: ServerInput) -> dict[str, Any] | None:
    """The Secret key with the bridge's bearer token, as one read-only file (never an env var)."""
    auth = inp.spec.bridge.auth
    if auth is None or not _runs_the_bridge(inp):
        return None
    ref = auth.secret_ref
    return {
        "name": AUTH_VOLUME,
        "secret": {
            "secretName": ref.name,
            "items": [{"key": ref.key, "path": AUTH_FILE.rsplit("/", 1)[1]}],
            "defaultMode": AUTH_FILE_MODE,
        },
    }


def server_container(inp: ServerInput, settings: Settings) -> dict[str, Any]:
    spec = inp.spec
    source = inp.package_spec.source
    if source.type == SourceType.OCI:
        return _image_container(inp, settings)
    process = entrypoint(inp)
    container = _base_container(inp, settings.runtime_image, settings)
    if spec.transport == Transport.STDIO:
        container["command"] = ["mcp-operator", "bridge", *bridge_args(spec), "--", *process]
        container["ports"].append({"name": "metrics", "containerPort": metrics_port(spec), "protocol": "TCP"})
        if auth_volume(inp) is not None:
            container["volumeMounts"].append({"name": AUTH_VOLUME, "mountPath": AUTH_DIR, "readOnly": True})
    else:
        container["command"] = process
    return container


def _image_container(inp: ServerInput, settings: Settings) -> dict[str, Any]:
    """An image runs as built: its ENTRYPOINT, PATH and HOME stay; only /tmp is made writable.

    The image is the resolved digest reference from status (artifactUrl: registry/repo@sha256:...).
    An entrypoint override replaces ENTRYPOINT; server args become the container's args.
    """
    source, override = inp.package_spec.source, inp.package_spec.entrypoint
    status = inp.package_status
    image = status.artifact_url or f"{source.package}@{status.integrity}"
    container = _base_container(inp, image, settings, runtime=False)
    if override and override.command:
        container["command"] = list(override.command)
        container["args"] = [*override.args, *inp.spec.args]
    elif (override and override.args) or inp.spec.args:
        container["args"] = [*(override.args if override else []), *inp.spec.args]
    return container


def _base_container(inp: ServerInput, image: str, settings: Settings, runtime: bool = True) -> dict[str, Any]:
    spec = inp.spec
    base_env = (
        [
            {"name": "HOME", "value": HOME_DIR},
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "PATH", "value": SEARCH_PATH},
        ]
        if runtime
        else []
    )
    container: dict[str, Any] = {
        "name": "server",
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "ports": [{"name": "mcp", "containerPort": spec.port, "protocol": "TCP"}],
        "env": [*base_env, *_env(spec.env)],
        "securityContext": container_security_context(),
        "volumeMounts": _mounts() if runtime else [{"name": "tmp", "mountPath": "/tmp"}],
        # The bridge writes why the server died to /dev/termination-log; else the log's end.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        **probes(spec.transport, BRIDGE_PATH),
    }
    if not container["env"]:
        del container["env"]
    if spec.env_from:
        container["envFrom"] = _env_from(spec.env_from)
    if spec.resources is not None:
        container["resources"] = spec.resources.dump()
    return container


def check_supported(inp: ServerInput) -> None:
    source = inp.package_spec.source
    if inp.package_spec.install.method == InstallMethod.IMAGE:
        raise RenderError(
            "InstallMethodUnsupported",
            f"MCPPackage {inp.package.name!r} asks for install.method 'image', which this version "
            "does not support yet: use install.method 'initContainer' (the default)",
        )
    if source.type == SourceType.OCI and inp.spec.transport == Transport.STDIO:
        raise RenderError(
            "TransportUnsupported",
            f"MCPServer {inp.server.name!r} runs image {source.package!r} over stdio, but an image runs "
            "as it is, without the bridge: set spec.transport to 'streamable-http' or 'sse' for an "
            "image that serves HTTP itself",
        )
    if not inp.package_status.resolved_version or not inp.package_status.integrity:
        raise RenderError(
            "PackageNotReady",
            f"MCPPackage {inp.package.name!r} has no resolved version yet; the server starts as soon "
            "as it has (see `kubectl describe mcppackage " + inp.package.name + "`)",
        )


def deployment(inp: ServerInput, settings: Settings) -> dict[str, Any]:
    check_supported(inp)
    spec = inp.spec
    version = inp.package_status.resolved_version
    labels = {**settings.extra_labels, **server_labels(inp.server.name, inp.package.name, version)}
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "containers": [server_container(inp, settings)],
        "volumes": [
            {"name": "packages", "emptyDir": {}},
            {"name": "home", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
        "terminationGracePeriodSeconds": 30,
    }
    if inp.package_spec.source.type != SourceType.OCI:
        pod_spec["initContainers"] = [install_container(inp, settings)]
    elif inp.package_spec.source.registry_auth_secret:
        # A kubernetes.io/dockerconfigjson Secret (the operator checked it resolving the image):
        # the kubelet sends each entry only to the registry host it is keyed by.
        pod_spec["imagePullSecrets"] = [{"name": inp.package_spec.source.registry_auth_secret}]
    secret = auth_volume(inp)
    if secret is not None:
        pod_spec["volumes"].append(secret)
    if spec.service_account_name:
        pod_spec["serviceAccountName"] = spec.service_account_name
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.dump() for t in spec.tolerations]
    if spec.runtime_class_name:
        pod_spec["runtimeClassName"] = spec.runtime_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": inp.server.name,
            "namespace": inp.server.namespace,
            "labels": labels,
            "ownerReferences": [inp.server.owner_reference()],
        },
        "spec": {
            "replicas": spec.replicas if spec.enabled and not inp.suspended else 0,
            "selector": {"matchLabels": selector(inp.server.name)},
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": settings.progress_deadline_seconds,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        VERSION_ANNOTATION: version or "",
                        INTEGRITY_ANNOTATION: inp.package_status.integrity or "",
                        **({REINSTALL_ANNOTATION: inp.reinstall_token} if inp.reinstall_token else {}),
                    },
                },
                "spec": pod_spec,
            },
        },
    }
