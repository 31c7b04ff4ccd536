"""Predefined packages: what the operator installs on start, and the marks that keep a package the
user uninstalled from coming back. Pure: parse the configuration, decide, render; no I/O.

The configuration is a YAML or JSON file named by $MCP_OPERATOR_PREDEFINED (docs/predefined.md):

    packages:
      - name: github                       # the MCPPackage's and the MCPServer's name
        namespace: mcp                     # default: the operator's namespace
        source: {type: npm, package: "@modelcontextprotocol/server-github"}
        args: ["--read-only"]
        env:
          - name: GITHUB_TOKEN
            valueFrom: {secretKeyRef: {name: github, key: token}}

The uninstalled marks live in the ConfigMap `mcp-operator-state` in the operator's namespace, one
data key per package: `uninstalled.<namespace>.<name>: <namespace>/<name>`. One key each means a
mark is written or cleared with one merge patch that touches no other mark.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mcp_operator import validation as v
from mcp_operator.models import API_VERSION, EnvVar, Model, Source

PREDEFINED_ENV = "MCP_OPERATOR_PREDEFINED"
NAMESPACE_ENVS = ("MCP_OPERATOR_NAMESPACE", "POD_NAMESPACE")
LABEL = "mcp-operator.dev/predefined"
FINALIZER = "mcp-operator.dev/uninstall-mark"
STATE_CONFIGMAP = "mcp-operator-state"
MARK_PREFIX = "uninstalled."
FIELDS = (
    "an entry has only namespace, name, source, enabled, args, env; "
    "a source has type, package, version, registry, registryAuthSecret"
)
Key = tuple[str, str]  # (namespace, name)

_label = re.compile(v.DNS1123_LABEL)
_server_name = re.compile(v.DNS1035_LABEL)
_config_key = re.compile(r"[-._a-zA-Z0-9]{1,253}")


class ConfigError(ValueError):
    """The configuration file is wrong; the message says where, what, and what to write."""


def _dns_label(value: str, what: str) -> str:
    if len(value) > 63 or not _label.fullmatch(value):
        raise v.InputError(
            f"{value!r} is not a valid {what}: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


class Entry(Model):
    """One package to install on start: an MCPPackage and an MCPServer of the same name."""

    namespace: str | None = Field(default=None, description="Default: the operator's namespace.")
    name: str = Field(description="Name of the MCPPackage and of the MCPServer.")
    source: Source
    enabled: bool = True
    args: list[Annotated[str, Field(max_length=4096)]] = Field(default_factory=list, max_length=256)
    env: list[EnvVar] = Field(default_factory=list, max_length=256)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > v.DNS_LABEL_MAX or not _server_name.fullmatch(value):
            raise v.InputError(
                f"{value!r} is not a valid name: use at most 63 lower-case letters, digits and '-', "
                "starting with a letter and ending with a letter or digit (it names the MCPServer "
                "too, and MCPServer names become Service names)"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else _dns_label(value, "namespace")

    @field_validator("env")
    @classmethod
    def _env(cls, value: list[EnvVar]) -> list[EnvVar]:
        seen: set[str] = set()
        for item in value:
            if item.value_from is None:
                raise v.InputError(
                    f"env {item.name}: the operator's configuration takes values only through "
                    "valueFrom (secretKeyRef, configMapKeyRef or fieldRef): put the value in a Secret "
                    "or ConfigMap in the entry's namespace and reference it"
                )
            if item.name in seen:
                raise v.InputError(f"env {item.name} is listed twice: keep one entry")
            seen.add(item.name)
        return value

    @property
    def key(self) -> Key:
        return (self.namespace or "", self.name)


class Config(Model):
    packages: list[Entry] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise v.InputError(
                f"the file holds a {type(data).__name__}, not a mapping with a 'packages' list of entries"
            )
        return data


# ------------------------------------------------------------------------------ configuration


def operator_namespace(environ: Mapping[str, str]) -> str:
    """Where the operator runs (and keeps its state): $MCP_OPERATOR_NAMESPACE, $POD_NAMESPACE, default."""
    return next((environ[name] for name in NAMESPACE_ENVS if environ.get(name)), "default")


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{to_camel(p)}" for p in loc).lstrip(".")
    if len(loc) >= 2 and loc[0] == "packages" and isinstance(loc[1], int):
        try:
            name = data["packages"][loc[1]]["name"]
        except (KeyError, IndexError, TypeError):
            name = None
        if isinstance(name, str):
            path = path.replace(f"packages[{loc[1]}]", f"packages[{loc[1]}] ({name})", 1)
    return path


def _problem(err: Mapping[str, Any], data: Any) -> str:
    where = _where(tuple(err["loc"]), data)
    text = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        text = f"not a field here: {FIELDS}"
    elif err["type"] == "string_type" and isinstance(err.get("input"), int | float | bool):
        text = f"{text}, and YAML read {err['input']!r}: put the value in quotes"
    return f"{where}: {text}" if where else text


def parse(text: str, origin: str, default_namespace: str) -> list[Entry]:
    """The entries of a configuration file, each with its namespace filled in; ConfigError if wrong."""
    fix = "fix the file and start the operator again"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{origin}: not valid YAML or JSON{at} ({problem}): {fix}") from None
    if data is None:
        return []
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err, data) for err in exc.errors())
        raise ConfigError(f"{origin}: {problems}: {fix}") from None
    entries = [e.model_copy(update={"namespace": e.namespace or default_namespace}) for e in config.packages]
    seen: set[Key] = set()
    for entry in entries:
        if entry.key in seen:
            raise ConfigError(
                f"{origin}: {'/'.join(entry.key)} is listed twice: keep one entry, then start the "
                "operator again"
            )
        seen.add(entry.key)
    return entries


def check_watched(entries: Iterable[Entry], watched: Callable[[str], bool], origin: str, scope: str) -> None:
    """A predefined package in a namespace the operator does not watch could never be uninstalled
    (nobody would remove its finalizer): refuse to start instead."""
    outside = sorted({e.key[0] for e in entries if not watched(e.key[0])})
    if outside:
        raise ConfigError(
            f"{origin}: entries in namespace(s) {', '.join(outside)}, which the operator does not watch "
            f"(it watches {scope}): add -n for them or move the entries, then start the operator again"
        )


# ------------------------------------------------------------------------------------ decide


@dataclass(frozen=True)
class Step:
    """What the start does for one entry, and why (for the log)."""

    entry: Entry
    create_package: bool
    create_server: bool
    why: str


def deleting(obj: Mapping[str, Any] | None) -> bool:
    return bool(obj is not None and (obj.get("metadata") or {}).get("deletionTimestamp"))


def decide(
    entry: Entry, marks: set[Key], package: Mapping[str, Any] | None, server: Mapping[str, Any] | None
) -> Step:
    """Create what neither exists nor is marked uninstalled; never touch what exists."""
    if entry.key in marks:
        return Step(entry, False, False, "marked uninstalled: not installed")
    if deleting(package):
        return Step(entry, False, False, "its MCPPackage is being deleted: not installed")
    if package is None:
        return Step(entry, True, server is None, "installed")
    if server is None:
        return Step(entry, False, True, "MCPPackage exists; MCPServer created")
    return Step(entry, False, False, "exists: left as it is")


def owner_uid(package: Mapping[str, Any] | None) -> str | None:
    """The uid the MCPServer's owner reference takes: a live package's, else none (do not create)."""
    if package is None or deleting(package):
        return None
    uid = (package.get("metadata") or {}).get("uid")
    return str(uid) if uid else None


def package_manifest(entry: Entry) -> dict[str, Any]:
    namespace, name = entry.key
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPPackage",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {LABEL: "true"},
            "finalizers": [FINALIZER],
        },
        "spec": {"source": entry.source.dump()},
    }


def server_manifest(entry: Entry, owner: str) -> dict[str, Any]:
    """The MCPServer, owned by its package: uninstalling the package removes the server."""
    namespace, name = entry.key
    spec: dict[str, Any] = {"package": name, "enabled": entry.enabled}
    if entry.args:
        spec["args"] = list(entry.args)
    if entry.env:
        spec["env"] = [item.dump() for item in entry.env]
    reference = {"apiVersion": API_VERSION, "kind": "MCPPackage", "name": name, "uid": owner}
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPServer",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {LABEL: "true"},
            "ownerReferences": [reference],
        },
        "spec": spec,
    }


# ------------------------------------------------------------------------------------- marks


def mark_key(key: Key) -> str:
    """`uninstalled.<namespace>.<name>`; a hash for names too long for a ConfigMap key (253)."""
    namespace, name = key
    plain = f"{MARK_PREFIX}{namespace}.{name}"
    if len(plain) <= 253:
        return plain
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:16]
    return f"{MARK_PREFIX}{namespace}.{name[: 253 - len(MARK_PREFIX) - len(namespace) - 18]}.{digest}"


def mark_value(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def marks_in(data: Mapping[str, str] | None) -> set[Key]:
    """The marks a state ConfigMap's data holds; values that are not `<namespace>/<name>` are ignored."""
    marks: set[Key] = set()
    for key, value in (data or {}).items():
        if not key.startswith(MARK_PREFIX):
            continue
        namespace, _, name = str(value).strip().partition("/")
        if _label.fullmatch(namespace) and name and "/" not in name:
            marks.add((namespace, name))
    return marks


def mark_patch(key: Key, marked: bool) -> dict[str, Any]:
    """A merge patch that writes (or removes) this one mark and leaves every other key alone."""
    return {"data": {mark_key(key): mark_value(key) if marked else None}}


def state_configmap(namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    assert all(_config_key.fullmatch(k) for k in data), "ConfigMap keys are [-._a-zA-Z0-9]{1,253}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": STATE_CONFIGMAP,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "mcp-operator", "app.kubernetes.io/component": "state"},
        },
        "data": dict(data),
    }


def finalizers_patch(obj: Mapping[str, Any], present: bool) -> dict[str, Any] | None:
    """A merge patch that adds or removes our finalizer (None: nothing to do). It carries the
    resourceVersion read, so a finalizer someone else added meanwhile is not lost: the API
    answers 409 and the caller reads again."""
    meta = obj.get("metadata") or {}
    current = list(meta.get("finalizers") or [])
    if (FINALIZER in current) == present:
        return None
    wanted = [*current, FINALIZER] if present else [f for f in current if f != FINALIZER]
    patch: dict[str, Any] = {"finalizers": wanted}
    if meta.get("resourceVersion"):
        patch["resourceVersion"] = meta["resourceVersion"]
    return {"metadata": patch}
