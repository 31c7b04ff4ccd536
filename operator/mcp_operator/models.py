"""Spec and status of MCPPackage and MCPServer: the one source of truth.

The CRDs in crds/ and the chart are generated from these models (`make crds`), and the operator
parses every object it reads through them, so the API server and the code enforce the same rules.
Field names are snake_case in Python and camelCase on the wire, as Kubernetes expects.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mcp_operator import validation as v

GROUP = "mcp-operator.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
HISTORY_LIMIT = 20


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
        validate_default=True,
    )

    def dump(self) -> dict[str, Any]:
        """The wire form: camelCase keys, no unset optionals."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class StatusModel(Model):
    # Status is written by the operator; tolerate fields from newer versions when reading.
    model_config = ConfigDict(extra="ignore")


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """A CEL validation rule the API server evaluates (x-kubernetes-validations).

    With a field path, the API server reports the error at that field, without quoting its value
    (a rule on the field itself would echo it: not for a URL that may hold a password).
    """
    rule_ = {"rule": rule, "message": message}
    return rule_ if field_path is None else {**rule_, "fieldPath": field_path}


K8sName = Annotated[str, Field(min_length=1, max_length=253, pattern=v.DNS1123_SUBDOMAIN)]


# ---------------------------------------------------------------------------------------------
# MCPPackage
# ---------------------------------------------------------------------------------------------


class SourceType(StrEnum):
    NPM = "npm"
    PYPI = "pypi"
    OCI = "oci"


class Source(Model):
    """Where the package comes from and which version to run."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"self.type != 'npm' || (size(self.__package__) <= {v.NPM_NAME_MAX} && "
                    f"self.__package__.matches(r'{v.NPM_NAME}'))",
                    "spec.source.package is not a valid npm name: use lower-case letters, digits and "
                    "- . _ ~, optionally scoped like '@scope/name', at most 214 characters",
                ),
                cel(
                    f"self.type != 'pypi' || self.__package__.matches(r'{v.PYPI_NAME}')",
                    "spec.source.package is not a valid PyPI project name: letters, digits and . _ -, "
                    "starting and ending with a letter or digit",
                ),
                cel(
                    f"self.type != 'oci' || self.__package__.matches(r'{v.OCI_REPOSITORY}')",
                    "spec.source.package is not a valid image repository: lower-case path "
                    "components, optionally after a registry host, without tag or digest",
                ),
                cel(
                    f"self.type != 'npm' || self.version.matches(r'{v.NPM_RANGE}')",
                    "spec.source.version is not an npm version or range: write 'latest', an exact version "
                    "like '1.2.3', or a range like '^1.2.0', '~1.2', '>=1.0.0 <2.0.0' or '1.x'",
                ),
                cel(
                    "self.type != 'pypi' || self.version == 'latest' || "
                    f"self.version.matches(r'(?i){v.PEP440_SPEC}')",
                    "spec.source.version is not a PEP 440 version or specifier: write 'latest', an exact "
                    "version like '1.2.3', or a specifier like '>=1.2,<2' or '~=1.4'",
                ),
                cel(
                    f"self.type != 'oci' || self.version.matches(r'{v.OCI_TAG}')",
                    "spec.source.version is not a valid image tag for an oci package",
                ),
                # Two rules, so that a URL with credentials gets the one message that matters.
                cel(
                    f"!has(self.registry) || !self.registry.matches(r'{v.REGISTRY_CREDENTIALS}')",
                    v.REGISTRY_CREDENTIALS_MESSAGE,
                    ".registry",
                ),
                cel(
                    f"!has(self.registry) || self.registry.matches(r'{v.REGISTRY_CREDENTIALS}') || "
                    f"self.registry.matches(r'{v.REGISTRY_URL}')",
                    v.REGISTRY_URL_MESSAGE,
                    ".registry",
                ),
            ]
        }
    )

    type: SourceType = Field(description="Package ecosystem: npm, pypi or oci (a container image).")
    package: str = Field(
        min_length=1,
        max_length=255,
        description="npm name (@scope/name), PyPI project, or image repository (registry/path).",
    )
    version: str = Field(
        default="latest",
        pattern=v.VERSION_CHARS,
        max_length=128,
        description=(
            "'latest' (default), an exact version, or a range: an npm semver range or a PEP 440 "
            "specifier. For oci, a tag. Resolved once and pinned in status.resolvedVersion."
        ),
    )
    registry: str | None = Field(
        default=None,
        max_length=2048,
        description=(
            "Registry or index URL of a private mirror; the public registry when absent. No "
            "credentials: they go in the Secret named by registryAuthSecret."
        ),
    )
    registry_auth_secret: str | None = Field(
        default=None,
        max_length=253,
        pattern=v.DNS1123_SUBDOMAIN,
        description=(
            "Name of a Secret in the same namespace with registry credentials: key 'token', or "
            "keys 'username' and 'password'."
        ),
    )

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        return None if value is None else v.check_registry_url(value)

    @model_validator(mode="after")
    def _check_per_type(self) -> Source:
        if self.type == SourceType.NPM:
            v.check_npm_name(self.package)
            v.check_npm_version(self.version)
        elif self.type == SourceType.PYPI:
            v.check_pypi_name(self.package)
            v.check_pypi_version(self.version)
        else:
            v.check_oci_repository(self.package)
            v.check_oci_tag(self.version)
        return self


class InstallMethod(StrEnum):
    INIT_CONTAINER = "initContainer"
    IMAGE = "image"


class Install(Model):
    method: InstallMethod = Field(
        default=InstallMethod.INIT_CONTAINER,
        description="initContainer: pods install the pinned version into an emptyDir before start.",
    )
    allow_scripts: bool = Field(
        default=False,
        description="Run npm lifecycle scripts during install (off by default); they run after the "
        "packages are fetched, without the registry credentials.",
    )
    wheels_only: bool = Field(
        default=False,
        description="PyPI: install from wheels only (pip --only-binary=:all:), so no sdist is built and no "
        "package code runs during install.",
    )


class Entrypoint(Model):
    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        default_factory=list,
        max_length=64,
        description="Command to run; detected from package metadata (npm bin, console script) when empty.",
    )
    args: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list, max_length=256, description="Arguments after the command."
    )


class UpdatePolicy(StrEnum):
    NONE = "none"
    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"


class Updates(Model):
    check: bool = Field(default=False, description="Check the registry for newer versions periodically.")
    interval: str = Field(
        default="24h", pattern=v.DURATION, description="How often to check, like '6h' or '1h30m'."
    )
    policy: UpdatePolicy = Field(
        default=UpdatePolicy.NONE,
        description="Upgrade automatically within this bound (needs check: true); none, patch, minor, major.",
    )
    rollout_deadline: str = Field(
        default="10m",
        pattern=v.DURATION,
        description="How long a new version may take until every enabled server is Ready on it; "
        "past it the previous version is restored.",
    )

    @field_validator("interval", "rollout_deadline")
    @classmethod
    def _interval(cls, value: str) -> str:
        v.parse_duration(value)
        return value


class MCPPackageSpec(Model):
    """MCPPackage: an MCP server package from npm, PyPI or an image registry, pinned to one version."""

    source: Source
    install: Install = Field(default_factory=Install, json_schema_extra={"default": {}})
    entrypoint: Entrypoint | None = Field(
        default=None, description="Override of the detected command and args."
    )
    updates: Updates = Field(default_factory=Updates, json_schema_extra={"default": {}})


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """A Kubernetes-shaped condition (metav1.Condition)."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class StatusEntrypoint(StatusModel):
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)


class HistoryEntry(StatusModel):
    version: str
    at: str
    outcome: str = Field(description="resolved, upgraded, rolledBack, failed")
    message: str | None = None


class Pin(StatusModel):
    """A pinned version with everything pods need to install and run it."""

    version: str
    integrity: str | None = None
    artifact_url: str | None = None
    detected_command: list[str] = Field(default_factory=list)
    resolved_spec: str | None = None


class Rollout(StatusModel):
    """A new pin being rolled out; `from` is restored if it fails."""

    from_: Pin = Field(alias="from")
    to: str
    started_at: str
    deadline: str
    requested: str = Field(default="", description="what asked for it: upgrade, policy, source")
    servers: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="The MCPServers admitted to the new version so far; they roll one at a time.",
    )


class FailedVersion(StatusModel):
    version: str
    reason: str
    message: str = ""
    at: str


class PackagePhase(StrEnum):
    PENDING = "Pending"
    RESOLVING = "Resolving"
    READY = "Ready"
    FAILED = "Failed"


class MCPPackageStatus(StatusModel):
    phase: PackagePhase | None = None
    message: str | None = None
    resolved_version: str | None = Field(default=None, description="Exact version every pod runs.")
    latest_version: str | None = Field(default=None, description="The registry's newest release.")
    update_available: bool | None = Field(default=None, description="latestVersion is newer than the pin.")
    allowed_version: str | None = Field(
        default=None,
        description="The newest version spec.source.version allows, without failed versions: what an "
        "upgrade request takes.",
    )
    last_checked: str | None = None
    failed_versions: list[FailedVersion] = Field(
        default_factory=list,
        max_length=HISTORY_LIMIT,
        description="Versions that failed here; not tried again unless asked for by name.",
    )
    rollout: Rollout | None = Field(default=None, description="Present while a new pin rolls out.")
    integrity: str | None = Field(
        default=None, description="Registry digest of the resolved artifact (SRI or sha256:...)."
    )
    artifact_url: str | None = None
    entrypoint: StatusEntrypoint | None = Field(
        default=None, description="The command and args pods run: spec.entrypoint, else what was detected."
    )
    detected_command: list[str] = Field(
        default_factory=list,
        description="The command the package metadata declares (npm bin, console script).",
    )
    resolved_spec: str | None = Field(
        default=None, description="The source (type, package, version, registry) the pin was made for."
    )
    history: list[HistoryEntry] = Field(default_factory=list, max_length=HISTORY_LIMIT)
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None


# ---------------------------------------------------------------------------------------------
# MCPServer
# ---------------------------------------------------------------------------------------------


class Transport(StrEnum):
    STDIO = "stdio"
    STREAMABLE_HTTP = "streamable-http"
    SSE = "sse"


class SessionMode(StrEnum):
    PER_SESSION = "perSession"
    SHARED = "shared"


# An origin the bridge may accept from browsers: '*', 'null', or scheme://host[:port] (port '*': any).
BRIDGE_ORIGIN = (
    r"^(\*|null|[A-Za-z][A-Za-z0-9+.-]*://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:([0-9]{1,5}|\*))?)$"
)
BRIDGE_TIMEOUT_MAX = 30 * 86400  # seconds; longer is no limit at all, and past what timers take
# validation.DURATION with one part that is not zero: the bridge's limits cannot be switched off.
BRIDGE_DURATION = r"^([0-9]+[smhd])*0*[1-9][0-9]*[smhd]([0-9]+[smhd])*$"


def _bridge_timeout(value: str) -> str:
    seconds = v.parse_duration(value)
    if seconds > BRIDGE_TIMEOUT_MAX:
        raise v.InputError(f"{value!r} is longer than 30 days: write at most '30d'")
    return value


BridgeOrigin = Annotated[str, Field(min_length=1, max_length=512, pattern=BRIDGE_ORIGIN)]


class BridgeSecretRef(Model):
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=v.DNS1123_SUBDOMAIN,
        description="Name of a Secret in the MCPServer's namespace.",
    )
    key: str = Field(
        default="token",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="The key of the Secret that holds the bearer token (default 'token').",
    )


class BridgeAuth(Model):
    secret_ref: BridgeSecretRef = Field(
        description=(
            "The Secret key holding the token. Pods get it as a read-only file; the operator reads it "
            "for its own handshake."
        )
    )


class Bridge(Model):
    """The stdio-to-HTTP bridge (transport stdio): who may call it, and its limits."""

    session_mode: SessionMode = Field(
        default=SessionMode.PER_SESSION,
        description="perSession: one child process per MCP session; shared: one child for all.",
    )
    auth: BridgeAuth | None = Field(
        default=None,
        description=(
            "Require 'Authorization: Bearer <token>' on the MCP endpoints, with the token from a "
            "Secret. Without it, every pod that can reach the Service can use the server."
        ),
    )
    allowed_origins: list[BridgeOrigin] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Origins browsers may call from besides the same origin: 'https://app.example', "
            "'http://localhost:*' (any port), '*' (any origin) or 'null'. Requests without "
            "Origin (SDK clients) always pass."
        ),
    )
    max_sessions: int = Field(
        default=100, ge=1, le=10000, description="Concurrent MCP sessions per pod; more get HTTP 503."
    )
    max_message_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest message in either direction (HTTP 413 beyond it), 1 KiB to 1 GiB.",
    )
    session_idle_timeout: str = Field(
        default="30m",
        max_length=32,
        pattern=BRIDGE_DURATION,
        description=(
            "A session without requests for this long is ended with its process: a duration like "
            "'30m' or '1h30m', at least 1s, at most 30d."
        ),
    )
    request_timeout: str = Field(
        default="10m",
        max_length=32,
        pattern=BRIDGE_DURATION,
        description=(
            "How long a request may wait for its response before it is answered with a JSON-RPC "
            "error and cancelled: a duration like '10m', at least 1s, at most 30d."
        ),
    )

    @field_validator("session_idle_timeout", "request_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        # Before the pattern, so that a mistake gets words, not the regular expression.
        return _bridge_timeout(value) if isinstance(value, str) else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        # Before the pattern, for words instead of the regular expression (the bridge reads them
        # again at its start: bridge/security.py, tested against these).
        for item in value if isinstance(value, list) else []:
            if not isinstance(item, str):
                continue
            port = item.rpartition(":")[2]
            if not re.fullmatch(BRIDGE_ORIGIN, item) or (port.isdigit() and int(port) > 65535):
                raise v.InputError(
                    f"{item!r} is not an origin: write scheme://host[:port], like 'https://app.example', "
                    "'http://localhost:3000', 'http://localhost:*', '*' or 'null'"
                )
        return value


class KeySelector(Model):
    name: str = Field(min_length=1, max_length=253, pattern=v.DNS1123_SUBDOMAIN)
    key: str = Field(min_length=1, max_length=253)
    optional: bool | None = None


class FieldSelector(Model):
    field_path: str = Field(min_length=1)
    api_version: str | None = None


class EnvVarSource(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldRef)]"
                    ".filter(x, x).size() == 1",
                    "valueFrom takes exactly one of secretKeyRef, configMapKeyRef, fieldRef",
                )
            ]
        }
    )
    secret_key_ref: KeySelector | None = None
    config_map_key_ref: KeySelector | None = None
    field_ref: FieldSelector | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvVarSource:
        chosen = [x for x in (self.secret_key_ref, self.config_map_key_ref, self.field_ref) if x]
        if len(chosen) != 1:
            raise v.InputError("valueFrom takes exactly one of secretKeyRef, configMapKeyRef, fieldRef")
        return self


class EnvVar(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("!(has(self.value) && has(self.valueFrom))", "env: set value or valueFrom, not both")
            ]
        }
    )
    name: str = Field(min_length=1, max_length=256, pattern=v.ENV_NAME)
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise v.InputError(f"env {self.name}: set value or valueFrom, not both")
        return self


class LocalObjectRef(Model):
    name: str = Field(min_length=1, max_length=253, pattern=v.DNS1123_SUBDOMAIN)
    optional: bool | None = None


class EnvFromSource(Model):
    prefix: str | None = Field(default=None, max_length=256)
    secret_ref: LocalObjectRef | None = None
    config_map_ref: LocalObjectRef | None = None


class EgressMode(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class PortRule(Model):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise v.InputError(f"{value!r} is not a CIDR network: write it like '10.0.0.0/8'") from None
    return value


class EgressRule(Model):
    cidr: str = Field(
        pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$", description="Destination network, like 10.0.0.0/8."
    )
    except_: list[Annotated[str, Field(pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")]] = Field(
        default_factory=list, alias="except"
    )
    ports: list[PortRule] = Field(default_factory=list, description="Any port when empty.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return _check_cidr(value)

    @field_validator("except_")
    @classmethod
    def _except(cls, value: list[str]) -> list[str]:
        return [_check_cidr(item) for item in value]


class Network(Model):
    egress: EgressMode = Field(
        default=EgressMode.ALLOW,
        description="allow: no restriction; deny: only DNS and the destinations in egressAllow.",
    )
    egress_allow: list[EgressRule] = Field(
        default_factory=list, description="Destinations still reachable when egress is deny."
    )
    allow_dns: bool = Field(default=True, description="With egress deny, still allow DNS (port 53).")


class Resources(Model):
    limits: dict[str, str] = Field(default_factory=dict)
    requests: dict[str, str] = Field(default_factory=dict)


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


BRIDGE_AUTH_NEEDS_STDIO = (
    "spec.bridge.auth needs transport stdio: the bridge checks the token, and a server with its own "
    "HTTP transport runs without the bridge; remove spec.bridge.auth or set spec.transport to stdio"
)


class MCPServerSpec(Model):
    """MCPServer: a running MCP server made from an MCPPackage, behind the stdio-to-HTTP bridge."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.transport == 'stdio' || !has(self.bridge.auth)", BRIDGE_AUTH_NEEDS_STDIO)
            ]
        }
    )

    package: str = Field(
        min_length=1,
        max_length=253,
        pattern=v.DNS1123_SUBDOMAIN,
        description="Name of an MCPPackage in the same namespace.",
    )
    enabled: bool = Field(default=True, description="false scales to zero and keeps everything else.")
    replicas: int = Field(default=1, ge=0, le=100)
    transport: Transport = Field(
        default=Transport.STDIO,
        description="What the server speaks: stdio (runs behind the bridge), streamable-http or sse.",
    )
    port: int = Field(default=8080, ge=1024, le=65535, description="Port the pod serves MCP on.")
    args: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list, max_length=256, description="Extra arguments after the entrypoint."
    )
    env: list[EnvVar] = Field(default_factory=list, max_length=256)
    env_from: list[EnvFromSource] = Field(default_factory=list, max_length=32)
    bridge: Bridge = Field(default_factory=Bridge, json_schema_extra={"default": {}})
    network: Network = Field(default_factory=Network, json_schema_extra={"default": {}})
    resources: Resources | None = None
    service_account_name: str | None = Field(default=None, max_length=253, pattern=v.DNS1123_SUBDOMAIN)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    runtime_class_name: str | None = Field(default=None, max_length=253, pattern=v.DNS1123_SUBDOMAIN)

    @field_validator("env")
    @classmethod
    def _unique_env(cls, value: list[EnvVar]) -> list[EnvVar]:
        seen: set[str] = set()
        for item in value:
            if item.name in seen:
                raise v.InputError(f"env {item.name} is listed twice: keep one entry")
            seen.add(item.name)
        return value

    @model_validator(mode="after")
    def _auth_needs_the_bridge(self) -> MCPServerSpec:
        if self.bridge.auth is not None and self.transport != Transport.STDIO:
            raise v.InputError(BRIDGE_AUTH_NEEDS_STDIO)
        return self


class ServerPhase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    RUNNING = "Running"
    DEGRADED = "Degraded"
    DISABLED = "Disabled"
    FAILED = "Failed"


class ServerInfo(StatusModel):
    """What the server said about itself in the last successful MCP handshake (its initialize answer)."""

    name: str | None = Field(default=None, description="serverInfo.name the server declares.")
    version: str | None = Field(
        default=None, description="serverInfo.version the server declares: its own, not always the package's."
    )
    protocol_version: str | None = Field(default=None, description="The MCP protocol version agreed on.")
    capabilities: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="Names of the capabilities the server declares: tools, resources, prompts, logging...",
    )


class Reinstall(StatusModel):
    """Self-healing: the one clean reinstall a server whose package is missing or broken gets."""

    version: str = Field(description="The package version it was made for.")
    token: str = Field(description="Its pod-template annotation: pods with it are the reinstall's.")
    at: str
    outcome: str = Field(default="pending", description="pending, or failed (the reinstall did not help).")
    reason: str | None = None
    message: str | None = None
    suspended: bool = Field(default=False, description="Scaled to zero by the operator after it failed.")


class MCPServerStatus(StatusModel):
    phase: ServerPhase | None = None
    message: str | None = None
    url: str | None = None
    version: str | None = Field(default=None, description="Package version the ready pods run.")
    replicas: int | None = None
    ready_replicas: int | None = None
    ready: str | None = Field(default=None, description="ready/desired, for kubectl.")
    server_info: ServerInfo | None = Field(
        default=None,
        description="From the last successful MCP handshake through the Service (see verifiedVersion).",
    )
    tools: list[Annotated[str, Field(max_length=128)]] = Field(
        default_factory=list,
        max_length=256,
        description="Tool names the server listed in that handshake: at most 256, each cut to 128 chars.",
    )
    tool_count: int | None = Field(
        default=None, description="How many tools the server listed: more than the names in tools when cut."
    )
    verified_version: str | None = Field(
        default=None,
        description="The package version the pods ran when the last successful handshake was made.",
    )
    verified_at: str | None = Field(default=None, description="When the last successful handshake was made.")
    verified_template: str | None = Field(
        default=None, description="Digest of the pod template whose pods answered that handshake."
    )
    reinstall: Reinstall | None = Field(
        default=None, description="Self-healing: the clean reinstall made for a missing or broken package."
    )
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None


# ---------------------------------------------------------------------------------------------
# The kinds
# ---------------------------------------------------------------------------------------------


class Kind(BaseModel):
    """How a kind appears in the API: names, columns, models."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec: type[Model]
    status: type[StatusModel]
    columns: tuple[tuple[str, str, str], ...]  # (name, type, jsonPath)
    # CEL rules on the whole object; only metadata.name (and generateName) are visible to them.
    object_rules: tuple[dict[str, Any], ...] = ()


READY_COLUMN = ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')
PACKAGE_KIND = Kind(
    kind="MCPPackage",
    plural="mcppackages",
    singular="mcppackage",
    short_names=("mcppkg", "mcpp"),
    spec=MCPPackageSpec,
    status=MCPPackageStatus,
    columns=(
        ("Package", "string", ".spec.source.package"),
        ("Version", "string", ".status.resolvedVersion"),
        ("Latest", "string", ".status.latestVersion"),
        ("Update", "boolean", ".status.updateAvailable"),
        READY_COLUMN,
        ("Phase", "string", ".status.phase"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ),
)
SERVER_KIND = Kind(
    kind="MCPServer",
    plural="mcpservers",
    singular="mcpserver",
    short_names=("mcpsrv", "mcps"),
    spec=MCPServerSpec,
    # Its name is also its Deployment's, Service's and NetworkPolicy's: a Service's name is a
    # DNS-1035 label, narrower than the DNS-1123 subdomain every object name is. Checked again
    # in code (render/server_plan.py) for objects an older CRD let in.
    object_rules=(
        cel(
            f"size(self.metadata.name) <= {v.DNS_LABEL_MAX} && "
            f"self.metadata.name.matches(r'{v.DNS1035_LABEL}')",
            v.SERVER_NAME_MESSAGE,
            ".metadata.name",
        ),
    ),
    status=MCPServerStatus,
    columns=(
        ("Package", "string", ".spec.package"),
        ("Version", "string", ".status.version"),
        ("Replicas", "string", ".status.ready"),
        READY_COLUMN,
        ("Phase", "string", ".status.phase"),
        ("URL", "string", ".status.url"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ),
)
KINDS = (PACKAGE_KIND, SERVER_KIND)
