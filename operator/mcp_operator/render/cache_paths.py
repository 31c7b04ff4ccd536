"""Which fields of each child the operator keeps in its cache: what drift checks and status read."""

from __future__ import annotations

CHILD_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Deployment": (("spec", "replicas"), ("spec", "template", "metadata", "annotations"), ("status",)),
    "Service": (("spec", "ports"), ("spec", "selector"), ("spec", "type")),
    "NetworkPolicy": (),
}
