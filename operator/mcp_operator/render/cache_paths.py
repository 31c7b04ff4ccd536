"""Which fields of each child the operator keeps in its cache: what drift checks and status read."""

from __future__ import annotations

from mcp_operator.render.labels import SERVER_LABEL

__all__ = ["CHILD_PATHS", "POD_PATHS", "SERVER_LABEL"]

CHILD_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Deployment": (("spec", "replicas"), ("spec", "template", "metadata", "annotations"), ("status",)),
    "Service": (("spec", "ports"), ("spec", "selector"), ("spec", "type")),
    "NetworkPolicy": (),
}

# Pods: only what says why a pod is not ready (render/pod_problems.py).
POD_PATHS: tuple[tuple[str, ...], ...] = (
    ("status", "phase"),
    ("status", "initContainerStatuses"),
    ("status", "containerStatuses"),
)
