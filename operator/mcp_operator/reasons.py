"""Condition and Event reasons: one enum, and the documentation of each one.

docs/reference/reasons.md is generated from `DOCS` (`make crds`), and a test fails when a reason
is used without being documented, so the table users read is the list the code uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    # MCPPackage
    RESOLVED = "Resolved"
    PACKAGE_NOT_FOUND = "PackageNotFound"
    VERSION_NOT_FOUND = "VersionNotFound"
    REGISTRY_UNAVAILABLE = "RegistryUnavailable"
    REGISTRY_AUTH_FAILED = "RegistryAuthFailed"
    SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105 (a reason, not a secret)
    INVALID_PACKAGE = "InvalidPackage"
    NOT_ALLOWED = "NotAllowed"
    # MCPPackage conditions of the update and upgrade flows (docs/upgrades.md)
    CHECKED = "Checked"
    UPGRADED = "Upgraded"
    UPGRADE_REFUSED = "UpgradeRefused"
    ROLLED_BACK = "RolledBack"
    ROLLOUT_TIMED_OUT = "RolloutTimedOut"
    FAILED_BEFORE = "FailedBefore"
    UP_TO_DATE = "UpToDate"
    # both kinds
    INVALID_SPEC = "InvalidSpec"
    API_ERROR = "ApiError"
    # MCPServer
    RUNNING = "Running"
    ROLLING_OUT = "RollingOut"
    REPLICAS_NOT_READY = "ReplicasNotReady"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    DEPLOYMENT_MISSING = "DeploymentMissing"
    DISABLED = "Disabled"
    SCALING_DOWN = "ScalingDown"
    PACKAGE_MISSING = "PackageNotFound"  # same word as the package's own reason, other meaning
    PACKAGE_NOT_READY = "PackageNotReady"
    PACKAGE_INVALID = "PackageInvalid"
    NO_ENTRYPOINT = "NoEntrypoint"
    INSTALL_METHOD_UNSUPPORTED = "InstallMethodUnsupported"
    TRANSPORT_UNSUPPORTED = "TransportUnsupported"
    NAME_CONFLICT = "NameConflict"
    INSTALL_FAILED = "InstallFailed"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    IMAGE_UNAVAILABLE = "ImageUnavailable"
    CONTAINER_CONFIG_ERROR = "ContainerConfigError"
    ENTRYPOINT_NOT_FOUND = "EntrypointNotFound"
    REINSTALLING = "Reinstalling"
    # MCPServer condition Verified: the MCP handshake through the Service (docs/resources.md)
    VERIFIED = "Verified"
    VERIFY_PENDING = "VerifyPending"
    SERVER_UNREACHABLE = "ServerUnreachable"
    HANDSHAKE_TIMEOUT = "HandshakeTimeout"
    HANDSHAKE_REFUSED = "HandshakeRefused"
    HANDSHAKE_INVALID = "HandshakeInvalid"


PACKAGE = "MCPPackage"
SERVER = "MCPServer"


@dataclass(frozen=True)
class ReasonDoc:
    """What a reason means for a user: where it appears, what the operator does, what to do."""

    kind: str
    ready: bool
    phase: str
    retried: str
    meaning: str


RETRY = "yes, with backoff"
WAITS = "waits for the spec to change"
VERIFY_RETRY = "yes, with backoff (`MCP_OPERATOR_RETRY_BASE` doubling to `MCP_OPERATOR_RETRY_CAP`)"

DOCS: dict[tuple[str, Reason], ReasonDoc] = {
    (PACKAGE, Reason.RESOLVED): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        "-",
        "pinned. Message: `<package> <spec> resolved to <version>`, or `<package> pinned at <version>` "
        "when the pin was kept.",
    ),
    (PACKAGE, Reason.PACKAGE_NOT_FOUND): ReasonDoc(
        PACKAGE,
        False,
        "Failed",
        WAITS,
        "the registry has no such package (or it has no versions or files). Fix `spec.source.package` "
        "or `spec.source.registry`.",
    ),
    (PACKAGE, Reason.VERSION_NOT_FOUND): ReasonDoc(
        PACKAGE,
        False,
        "Failed",
        WAITS,
        "nothing matches `spec.source.version`. The message lists the newest available versions (tags "
        "for OCI). Fix `spec.source.version`.",
    ),
    (PACKAGE, Reason.REGISTRY_UNAVAILABLE): ReasonDoc(
        PACKAGE,
        False,
        "Pending",
        RETRY + " (5 s doubling to 5 min)",
        "the registry could not be reached or timed out, or kept answering 408/425/429/5xx. Check "
        "`spec.source.registry` and the network. It recovers by itself.",
    ),
    (PACKAGE, Reason.REGISTRY_AUTH_FAILED): ReasonDoc(
        PACKAGE,
        False,
        "Failed, or Pending with a Secret",
        "with `registryAuthSecret`: yes, from 60 s to 5 min; without: " + WAITS,
        "the registry answered 401/403, or the OCI token service refused. Fix the credentials in the "
        "Secret (the next retry picks them up), or set `spec.source.registryAuthSecret`.",
    ),
    (PACKAGE, Reason.SECRET_NOT_FOUND): ReasonDoc(
        PACKAGE,
        False,
        "Pending",
        RETRY + " (15 s doubling to 5 min)",
        "the Secret in `spec.source.registryAuthSecret` does not exist, is not made for registry "
        "credentials (type `mcp-operator.dev/registry-auth`, or `kubernetes.io/dockerconfigjson` for "
        "images), is bound to another registry, or has neither `token` nor both `username` and "
        "`password`. The message says which; create or fix it. It recovers by itself.",
    ),
    (PACKAGE, Reason.CHECKED): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        "-",
        "condition `UpdateCheck`: the registry answered the last update check; `latestVersion`, "
        "`updateAvailable` and `allowedVersion` are current. When a check fails, `UpdateCheck` turns "
        "False with `RegistryUnavailable` (or `RegistryAuthFailed`) and says since when the answer is stale.",
    ),
    (PACKAGE, Reason.UPGRADED): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        "-",
        "condition `Upgrade`: the new version runs on every enabled server. A Normal Event says which.",
    ),
    (PACKAGE, Reason.UPGRADE_REFUSED): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        "no",
        "condition `Upgrade`: the version named in the `mcp-operator.dev/upgrade` annotation is not "
        "allowed by `spec.source.version`. Change `spec.source.version` to run it.",
    ),
    (PACKAGE, Reason.ROLLED_BACK): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        "no: the version is in `failedVersions`",
        "condition `Upgrade`: the new version failed (install failure, crash loop, deadline) and the "
        "previous pin was restored. Fix the cause, then ask for it by name: annotate "
        "`mcp-operator.dev/upgrade=VERSION`.",
    ),
    (PACKAGE, Reason.ROLLOUT_TIMED_OUT): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        "no: the version is in `failedVersions`",
        "in `failedVersions` and the `RolledBack` message: the new version was not Ready on every "
        "enabled server within `spec.updates.rolloutDeadline`.",
    ),
    (PACKAGE, Reason.UP_TO_DATE): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        "-",
        "condition `Upgrade`: an upgrade was requested, but the pin already is the newest version "
        "`spec.source.version` allows.",
    ),
    (PACKAGE, Reason.FAILED_BEFORE): ReasonDoc(
        PACKAGE,
        True,
        "Ready",
        WAITS,
        "condition `Upgrade`: `spec.source.version` selects a version that failed here before, so the "
        "pin stays. Ask for it by name (`mcp-operator.dev/upgrade=VERSION`) to try it again.",
    ),
    (PACKAGE, Reason.INVALID_PACKAGE): ReasonDoc(
        PACKAGE,
        False,
        "Failed",
        WAITS,
        "the registry's data is unusable: malformed metadata, no tarball or integrity, no pure-Python "
        "wheel or sdist, no sha256, an unreadable archive or a mismatched digest. Pick another version.",
    ),
    (PACKAGE, Reason.INVALID_SPEC): ReasonDoc(
        PACKAGE,
        False,
        "Failed",
        WAITS,
        "the spec failed the operator's own validation, or a version spec or registry URL cannot work. "
        "Fix the spec.",
    ),
    (PACKAGE, Reason.NOT_ALLOWED): ReasonDoc(
        PACKAGE,
        False,
        "Failed",
        WAITS,
        "the registry or the package is not in the operator's allow-list (`MCP_OPERATOR_ALLOWED_REGISTRIES`, "
        "`MCP_OPERATOR_ALLOWED_PACKAGES`; docs/security.md). Use an allowed one, or ask the cluster admin.",
    ),
    (PACKAGE, Reason.API_ERROR): ReasonDoc(
        PACKAGE,
        False,
        "unchanged",
        RETRY + " (1 s doubling to 1 min)",
        "the Kubernetes API refused or failed a request the operator made (the message quotes it). "
        "Transient errors recover by themselves; a 403 means the operator's RBAC lacks a verb.",
    ),
    (SERVER, Reason.RUNNING): ReasonDoc(
        SERVER,
        True,
        "Running",
        "-",
        "all desired replicas are updated and ready. Message: `N/N replicas ready, version V`.",
    ),
    (SERVER, Reason.ROLLING_OUT): ReasonDoc(
        SERVER,
        False,
        "Progressing",
        "follows the Deployment",
        "the Deployment is rolling out: `rolling out version V: R/D ready`. Wait; check the pods if it "
        "takes long.",
    ),
    (SERVER, Reason.REPLICAS_NOT_READY): ReasonDoc(
        SERVER,
        False,
        "Degraded",
        "follows the Deployment",
        "only new pods exist, and some but not all are ready. See the pods' events and logs.",
    ),
    (SERVER, Reason.PROGRESS_DEADLINE_EXCEEDED): ReasonDoc(
        SERVER,
        False,
        "Failed",
        "follows the Deployment",
        "the rollout did not finish within the Deployment's progress deadline "
        "(`MCP_OPERATOR_PROGRESS_DEADLINE`, 300 s). See `kubectl describe deployment NAME` and the "
        "pods' logs.",
    ),
    (SERVER, Reason.DEPLOYMENT_MISSING): ReasonDoc(
        SERVER,
        False,
        "Pending",
        RETRY,
        "the Deployment does not exist (yet, or someone deleted it): the operator creates it again.",
    ),
    (SERVER, Reason.DISABLED): ReasonDoc(
        SERVER, True, "Disabled", "-", "`enabled: false`: scaled to zero, nothing uninstalled."
    ),
    (SERVER, Reason.SCALING_DOWN): ReasonDoc(
        SERVER, False, "Disabled", "follows the Deployment", "`enabled: false`; pods are still stopping."
    ),
    (SERVER, Reason.PACKAGE_MISSING): ReasonDoc(
        SERVER,
        False,
        "Pending",
        RETRY + " (and at once when the package appears)",
        "no MCPPackage named `spec.package` in this namespace. Create it or fix `spec.package`.",
    ),
    (SERVER, Reason.PACKAGE_NOT_READY): ReasonDoc(
        SERVER,
        False,
        "Pending",
        RETRY + " (and at once when the package gets a pin)",
        "the package has no pin yet (still resolving, or failed). The message quotes the package's own "
        "message. Fix the package if it failed.",
    ),
    (SERVER, Reason.PACKAGE_INVALID): ReasonDoc(
        SERVER,
        False,
        "Pending",
        RETRY + " (and at once when the package changes)",
        "the MCPPackage's spec is invalid. See its status.",
    ),
    (SERVER, Reason.NO_ENTRYPOINT): ReasonDoc(
        SERVER,
        False,
        "Failed",
        "at once when the package changes",
        "the package declares no npm bin or console script. Set `spec.entrypoint.command` on the MCPPackage.",
    ),
    (SERVER, Reason.INSTALL_METHOD_UNSUPPORTED): ReasonDoc(
        SERVER,
        False,
        "Failed",
        "at once when the package changes",
        "the package has `install.method: image`, not supported yet. Use `initContainer`.",
    ),
    (SERVER, Reason.TRANSPORT_UNSUPPORTED): ReasonDoc(
        SERVER,
        False,
        "Failed",
        WAITS,
        "an `oci` package with `transport: stdio`. Images run without the bridge: set `transport: "
        "streamable-http` or `sse`.",
    ),
    (SERVER, Reason.NAME_CONFLICT): ReasonDoc(
        SERVER,
        False,
        "Failed",
        RETRY + " (up to 1 min apart)",
        "a Deployment, Service or NetworkPolicy with the server's name exists and is not owned by it. "
        "Delete that object or rename the MCPServer; the operator notices within a minute.",
    ),
    (SERVER, Reason.INSTALL_FAILED): ReasonDoc(
        SERVER,
        False,
        "Failed, or Degraded while other pods serve",
        "follows the pods",
        "the pod's install init container exited with an error. The message gives the exit code and "
        "its meaning (3: the package does not match the pinned integrity; 4: registry unreachable "
        "from the pod, version gone, or install failed) and the `kubectl logs` command to read.",
    ),
    (SERVER, Reason.CRASH_LOOP_BACK_OFF): ReasonDoc(
        SERVER,
        False,
        "Failed, or Degraded while other pods serve",
        "follows the pods",
        "the server's container keeps exiting. The message gives the exit code, the restart count and "
        "the `kubectl logs --previous` command to read.",
    ),
    (SERVER, Reason.IMAGE_UNAVAILABLE): ReasonDoc(
        SERVER,
        False,
        "Failed, or Degraded while other pods serve",
        "follows the pods",
        "a container's image cannot be pulled (or, with imagePullPolicy Never, is not on the node). "
        "Check `MCP_OPERATOR_RUNTIME_IMAGE` and the nodes' access to its registry.",
    ),
    (SERVER, Reason.CONTAINER_CONFIG_ERROR): ReasonDoc(
        SERVER,
        False,
        "Failed, or Degraded while other pods serve",
        "follows the pods",
        "the kubelet cannot create a container, usually because a Secret or ConfigMap that "
        "`spec.env` or `spec.envFrom` names does not exist.",
    ),
    (SERVER, Reason.ENTRYPOINT_NOT_FOUND): ReasonDoc(
        SERVER,
        False,
        "Failed",
        "one clean reinstall (self-healing), then " + WAITS + " or `mcp-operator.dev/retry`",
        "the bridge found no executable for the package's command (exit code 4): the install put "
        "nothing there, or the package declares a command it does not ship. See the MCPPackage's "
        "`status.entrypoint`; set `spec.entrypoint` if detection picked the wrong one.",
    ),
    (SERVER, Reason.REINSTALLING): ReasonDoc(
        SERVER,
        False,
        "Progressing",
        "-",
        "self-healing: the install failed or the command was missing, so the operator started one "
        "clean reinstall (new pods with an empty install volume; the package's metadata is re-read). "
        "If it fails too, the server is `Failed` (and scaled to zero with `MCP_OPERATOR_SUSPEND_BROKEN`).",
    ),
    (SERVER, Reason.VERIFIED): ReasonDoc(
        SERVER,
        True,
        "Running",
        "again after each rollout, and every `MCP_OPERATOR_VERIFY_INTERVAL` (600 s)",
        "condition `Verified` (True): the pods of the current template answered an MCP handshake "
        "(initialize, tools/list) through the Service. Message: `NAME VERSION (MCP PROTOCOL, N tools) "
        "answered for package version V`; `status.serverInfo`, `tools` and `verifiedVersion` hold it.",
    ),
    (SERVER, Reason.VERIFY_PENDING): ReasonDoc(
        SERVER,
        False,
        "any",
        "when the rollout ends",
        "condition `Verified` (Unknown): no handshake with the pods that run now yet. The message says "
        "why: the rollout is not finished, the server is disabled or has no replicas, the Service has "
        "no cluster IP yet, or the handshake is under way.",
    ),
    (SERVER, Reason.SERVER_UNREACHABLE): ReasonDoc(
        SERVER,
        True,
        "Running",
        VERIFY_RETRY,
        "condition `Verified` (False): no connection to the Service (refused, reset, no route). The "
        "pods are ready but nothing answers on `spec.port`: check the Service's endpoints and that a "
        "server with a non-stdio transport listens on 0.0.0.0 and that port.",
    ),
    (SERVER, Reason.HANDSHAKE_TIMEOUT): ReasonDoc(
        SERVER,
        True,
        "Running",
        VERIFY_RETRY,
        "condition `Verified` (False): the server did not answer initialize and tools/list within "
        "`MCP_OPERATOR_VERIFY_TIMEOUT` (10 s). See the pods' logs.",
    ),
    (SERVER, Reason.HANDSHAKE_REFUSED): ReasonDoc(
        SERVER,
        True,
        "Running",
        VERIFY_RETRY,
        "condition `Verified` (False): the server answered with an HTTP error or a redirect, or with a "
        "JSON-RPC error to initialize or tools/list. The message quotes it: a server that needs "
        "authentication, or a wrong `spec.transport` or path.",
    ),
    (SERVER, Reason.HANDSHAKE_INVALID): ReasonDoc(
        SERVER,
        True,
        "Running",
        VERIFY_RETRY,
        "condition `Verified` (False): the answer is not MCP: not JSON-RPC, another request's id, "
        "missing serverInfo or tools, larger than 1 MiB, or a protocol version the operator does not "
        "speak. The message says which.",
    ),
    (SERVER, Reason.SECRET_NOT_FOUND): ReasonDoc(
        SERVER,
        True,
        "Running",
        VERIFY_RETRY,
        "the server requires a bearer token (`spec.bridge.auth`) and its Secret or key is missing, or "
        "the token is empty. While pods are not ready it is the `Ready` reason (phase `Failed`: the "
        "kubelet cannot mount the Secret, so they wait in ContainerCreating); on a running server, "
        "condition `Verified` (False): the operator cannot read it for its handshake. Create or fix "
        "the Secret.",
    ),
    (SERVER, Reason.INVALID_SPEC): ReasonDoc(
        SERVER,
        False,
        "Failed",
        WAITS,
        "the server's spec failed the operator's validation (the message names the fields): fix it. "
        "Or its name cannot be a Service name (see [resources.md](../resources.md#names)), which only "
        "an older CRD lets in: a name cannot change, so create the server again under a valid name.",
    ),
    (SERVER, Reason.API_ERROR): ReasonDoc(
        SERVER,
        False,
        "unchanged",
        RETRY + " (1 s doubling to 1 min)",
        "the Kubernetes API refused or failed a request (apply, delete, status). The message quotes "
        "it. Transient errors recover by themselves; a 403 means the operator's RBAC lacks a verb.",
    ),
}


def reasons_markdown() -> str:
    """docs/reference/reasons.md: one table per kind, in the enum's order."""
    lines = [
        "<!-- Generated from operator/mcp_operator/reasons.py by `make crds`. Do not edit. -->",
        "# Condition reasons",
        "",
        "Every MCPPackage and MCPServer has a `Ready` condition (see",
        "[resources.md](../resources.md#phases-and-conditions)). Its `reason` is one of these; a",
        "Warning Event with the same reason is posted when a problem is found (once per distinct",
        'message, not on every retry). "Retried" says what the operator does without being asked.',
    ]
    for kind in (PACKAGE, SERVER):
        lines += [
            "",
            f"## {kind}",
            "",
            "| reason | Ready | phase | retried? | meaning / what to do |",
            "|---|---|---|---|---|",
        ]
        for (doc_kind, reason), doc in DOCS.items():
            if doc_kind == kind:
                ready = "True" if doc.ready else "False"
                lines.append(f"| `{reason}` | {ready} | {doc.phase} | {doc.retried} | {doc.meaning} |")
    return "\n".join(lines) + "\n"
