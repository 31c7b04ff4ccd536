"""Which fields of each child the operator keeps in its cache: what drift checks and status read."""

from __future__ import annotations

from mcp_operator.render.labels import SERVER_LABEL

__all__ = ["CHILD_PATHS", "POD_PATHS", "SERVER_LABEL", "SERVICE_SPEC_FIELDS"]

# The Service fields the operator owns and checks for drift (render/drift.py); others may add more.
SERVICE_SPEC_FIELDS = ("ports", "selector", "type")

CHILD_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Deployment": (("spec", "replicas"), ("spec", "template", "metadata", "annotations"), ("status",)),
    # clusterIP: where the operator reaches the server for its MCP handshake (handlers/verify.py).
    "Service": (*(("spec", field) for field in SERVICE_SPEC_FIELDS), ("spec", "clusterIP")),
    "NetworkPolicy": (),
}

# Pods: only what says why a pod is not ready (render/pod_problems.py).
POD_PATHS: tuple[tuple[str, ...], ...] = (
    ("status", "phase"),
    ("status", "initContainerStatuses"),
    ("status", "containerStatuses"),
)
