"""Labels and annotations the operator puts on everything it owns."""

from __future__ import annotations

import re

from mcp_operator.models import GROUP

MANAGED_BY = "mcp-operator"
VERSION_ANNOTATION = f"{GROUP}/package-version"
INTEGRITY_ANNOTATION = f"{GROUP}/package-integrity"
SERVER_LABEL = f"{GROUP}/server"
PACKAGE_LABEL = f"{GROUP}/package"
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]")


def label_value(text: str) -> str:
    """Make any text a valid label value: 63 characters, alphanumeric at both ends."""
    cleaned = _LABEL_VALUE_BAD.sub("-", text)[:63]
    return cleaned.strip("-._")


def selector(server_name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "mcp-server", "app.kubernetes.io/instance": label_value(server_name)}


def server_labels(server_name: str, package_name: str, version: str | None) -> dict[str, str]:
    labels = {
        **selector(server_name),
        "app.kubernetes.io/component": "mcp-server",
        "app.kubernetes.io/part-of": "mcp-operator",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        SERVER_LABEL: label_value(server_name),
        PACKAGE_LABEL: label_value(package_name),
    }
    if version:
        labels["app.kubernetes.io/version"] = label_value(version)
    return labels
