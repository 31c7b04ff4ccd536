"""Why a server's pods are not ready, in the kubelet's own words: a pure reading of pod status.

A rollout that never finishes is reported with what the pods say (the install init container
exited with the installer's code, the server crash-loops, the image is missing, the container
cannot be configured) instead of waiting for the Deployment's progress deadline to say "timed
out".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_operator.reasons import Reason

# `mcp-operator install` exit codes (installer.py) and what they mean for a user.
INSTALL_EXITS = {
    2: "the install command was refused (a bad argument); this is a bug: please report it",
    3: "the downloaded package does not match the pinned integrity: the registry now serves other "
    "content for this version; re-resolve the package (change spec.source.version) or fix the registry",
    4: "the registry could not be reached from the pod or no longer has this version, or the install "
    "failed: check that pods can reach spec.source.registry",
}
EXIT_COMMAND_NOT_FOUND = 4  # the bridge's exit code (bridge/server.py) when the command is missing
IMAGE_REASONS = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
MESSAGE_CHARS = 400
CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


@dataclass(frozen=True)
class PodProblem:
    reason: Reason
    message: str


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The container's current termination, else its last one."""
    state = status.get("state") or {}
    if state.get("terminated"):
        return dict(state["terminated"])
    last = status.get("lastState") or {}
    return dict(last["terminated"]) if last.get("terminated") else None


def said(ended: Mapping[str, Any]) -> str:
    """The container's termination message (the bridge writes why the server died; with
    FallbackToLogsOnError, else the end of its log), trimmed to what fits a condition."""
    text = " ".join(str(ended.get("message") or "").split())
    if len(text) > MESSAGE_CHARS:
        text = "..." + text[-MESSAGE_CHARS:]
    return f": {text}" if text else ""


def _waiting(status: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict((status.get("state") or {}).get("waiting") or {})


def _install_problem(pod: str, status: Mapping[str, Any]) -> PodProblem | None:
    ended = _terminated(status)
    if ended is None or int(ended.get("exitCode") or 0) == 0:
        return None
    code = int(ended.get("exitCode") or 0)
    meaning = INSTALL_EXITS.get(code, "the install failed")
    return PodProblem(
        Reason.INSTALL_FAILED,
        f"pod {pod}: the install init container exited with code {code}: {meaning}{said(ended)}; see "
        f"`kubectl logs {pod} -c {status.get('name', 'install')}`",
    )


def _container_problem(pod: str, status: Mapping[str, Any]) -> PodProblem | None:
    name = status.get("name", "server")
    waiting = _waiting(status)
    reason = str(waiting.get("reason") or "")
    detail = str(waiting.get("message") or "").strip()
    if reason in IMAGE_REASONS:
        return PodProblem(
            Reason.IMAGE_UNAVAILABLE,
            f"pod {pod}: container {name} cannot get its image ({reason}{': ' + detail if detail else ''}); "
            "check MCP_OPERATOR_RUNTIME_IMAGE and that the nodes can pull it",
        )
    if reason in CONFIG_REASONS:
        return PodProblem(
            Reason.CONTAINER_CONFIG_ERROR,
            f"pod {pod}: container {name} cannot be created ({reason}{': ' + detail if detail else ''}); "
            "check the Secrets and ConfigMaps that spec.env and spec.envFrom name",
        )
    if reason == "CrashLoopBackOff":
        ended = _terminated(status) or {}
        code = ended.get("exitCode", "?")
        if name == "server" and code == EXIT_COMMAND_NOT_FOUND:
            return PodProblem(
                Reason.ENTRYPOINT_NOT_FOUND,
                f"pod {pod}: the package's command is not where the install put it{said(ended)}; the "
                "package is missing or broken: check its entrypoint (MCPPackage status.entrypoint)",
            )
        restarts = status.get("restartCount", 0)
        return PodProblem(
            Reason.CRASH_LOOP_BACK_OFF,
            f"pod {pod}: container {name} keeps exiting (exit code {code}, restarted {restarts} times)"
            f"{said(ended)}; see `kubectl logs {pod} -c {name} --previous`",
        )
    return None


def pod_problem(pods: Iterable[Mapping[str, Any]]) -> PodProblem | None:
    """The first problem of the first pod that has one (pods being deleted do not count)."""
    for pod in sorted(pods, key=lambda p: str(p.get("metadata", {}).get("name", ""))):
        meta = pod.get("metadata", {})
        if meta.get("deletionTimestamp"):
            continue
        name = str(meta.get("name", "?"))
        status = pod.get("status") or {}
        for init in status.get("initContainerStatuses") or []:
            found = _install_problem(name, init) or _container_problem(name, init)
            if found:
                return found
        for container in status.get("containerStatuses") or []:
            found = _container_problem(name, container)
            if found:
                return found
    return None
