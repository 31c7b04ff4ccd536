"""What the render functions take: parsed models plus the few facts about the objects they need."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_operator.models import API_VERSION, MCPPackageSpec, MCPPackageStatus, MCPServerSpec

RUNTIME_IMAGE = "ghcr.io/mcp-operator/runtime:0.1.0"
INSTALL_ROOT = "/mcp"
INSTALL_DIR = f"{INSTALL_ROOT}/pkg"
HOME_DIR = "/home/mcp"
POD_UID = 10001
FIELD_MANAGER = "mcp-operator"


@dataclass(frozen=True)
class ObjectRef:
    """Identity of a custom resource: enough for names, labels and owner references."""

    kind: str
    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    api_version: str = API_VERSION

    def owner_reference(self) -> dict[str, object]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class Settings:
    """Operator-wide settings (from the operator's environment / chart values)."""

    runtime_image: str = RUNTIME_IMAGE
    image_pull_policy: str = "IfNotPresent"
    service_suffix: str = "svc"
    progress_deadline_seconds: int = 300
    suspend_broken: bool = False  # scale a server to zero when its clean reinstall failed too
    extra_labels: dict[str, str] = field(default_factory=dict)
    allowed_registries: tuple[str, ...] = ()  # empty: any (allowlist.py)
    allowed_packages: tuple[str, ...] = ()  # empty: any


@dataclass(frozen=True)
class ServerInput:
    server: ObjectRef
    spec: MCPServerSpec
    package: ObjectRef
    package_spec: MCPPackageSpec
    package_status: MCPPackageStatus
    reinstall_token: str = ""  # self-healing: a clean reinstall's pod-template annotation
    suspended: bool = False  # self-healing: scaled to zero after the reinstall failed
