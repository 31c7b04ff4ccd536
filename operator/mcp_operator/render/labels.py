"""Labels and annotations the operator puts on everything it owns, and the names it makes.

Label values hold at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. An
MCPServer's name always fits (the CRD and render/server_plan.py hold it to a DNS-1035 label), so
the server labels are its name as it is: the pod-to-server lookup (handlers/cache.py) relies on
that. An MCPPackage's name is a DNS-1123 subdomain of up to 253 characters: one longer than 63
is shortened to a unique value by `name_label` (docs/resources.md#names).
"""

from __future__ import annotations

import hashlib
import re

from mcp_operator.models import GROUP

MANAGED_BY = "mcp-operator"
VERSION_ANNOTATION = f"{GROUP}/package-version"
INTEGRITY_ANNOTATION = f"{GROUP}/package-integrity"
SERVER_LABEL = f"{GROUP}/server"
PACKAGE_LABEL = f"{GROUP}/package"
LABEL_VALUE_MAX = 63
NAME_MAX = 253
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_HASH_LENGTH = 10  # hex digits of SHA-256: 40 bits, no collision among the names one namespace holds


def label_value(text: str) -> str:
    """Make any text a valid label value: 63 characters, alphanumeric at both ends. Lossy: for
    values that are only shown (a version), not selected by."""
    cleaned = _LABEL_VALUE_BAD.sub("-", text)[:LABEL_VALUE_MAX]
    return cleaned.strip("-._")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def name_label(name: str) -> str:
    """An object's name as a label value: the name itself when it is one, else its first characters,
    '-' and a hash of the whole name, so two names never share a value (63 characters in all)."""
    if len(name) <= LABEL_VALUE_MAX and _LABEL_VALUE.fullmatch(name):
        return name
    head = _LABEL_VALUE_BAD.sub("-", name)[: LABEL_VALUE_MAX - _HASH_LENGTH - 1].strip("-._")
    return f"{head}-{_digest(name)}" if head else _digest(name)


def event_name(object_name: str, suffix: str) -> str:
    """An Event's name, `<object>.<suffix>`, within the 253 characters of a name: an object name too
    long for it is shortened and ends in a hash of itself."""
    room = NAME_MAX - len(suffix) - 1
    if len(object_name) <= room:
        return f"{object_name}.{suffix}"
    head = object_name[: room - _HASH_LENGTH - 1].rstrip("-.")
    return f"{head}-{_digest(object_name)}.{suffix}"


def selector(server_name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "mcp-server", "app.kubernetes.io/instance": name_label(server_name)}


def server_labels(server_name: str, package_name: str, version: str | None) -> dict[str, str]:
    labels = {
        **selector(server_name),
        "app.kubernetes.io/component": "mcp-server",
        "app.kubernetes.io/part-of": "mcp-operator",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        SERVER_LABEL: name_label(server_name),
        PACKAGE_LABEL: name_label(package_name),
    }
    if version:
        labels["app.kubernetes.io/version"] = label_value(version)
    return labels
