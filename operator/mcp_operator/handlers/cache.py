"""What the operator observes: slim copies of the objects its watches deliver, nothing else.

Each watch event replaces the object's copy (or removes it), then the keys it affects are queued.
A reconcile reads only this cache, so it sees the latest state whatever event started it. The
copies keep just the fields the reconciles read: a thousand servers cost little memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcp_operator.render.cache_paths import CHILD_PATHS, POD_PATHS, SERVER_LABEL
from mcp_operator.render.labels import VERSION_ANNOTATION
from mcp_operator.render.self_heal import REINSTALL_ANNOTATION, RETRY_ANNOTATION
from mcp_operator.upgrade_plan import CHECK_ANNOTATION, REFRESH_ANNOTATION, UPGRADE_ANNOTATION

Key = tuple[str, str]  # (namespace, name)
# Requests users make of an MCPPackage by annotation (docs/upgrades.md); the only annotations kept.
REQUEST_ANNOTATIONS = frozenset({UPGRADE_ANNOTATION, CHECK_ANNOTATION, REFRESH_ANNOTATION})
SERVER_REQUESTS = frozenset({RETRY_ANNOTATION})
POD_ANNOTATIONS = frozenset({REINSTALL_ANNOTATION, VERSION_ANNOTATION})  # which template a pod is of
ChildKey = tuple[str, str, str]  # (kind, namespace, name)


def slim(body: Mapping[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    """A detached copy of the metadata the reconciles read and the given paths."""
    meta = body.get("metadata", {}) or {}
    names = ("name", "namespace", "uid", "generation", "resourceVersion", "deletionTimestamp")
    kept = {k: meta[k] for k in names if k in meta}
    owner = next((o.get("uid") for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner:
        kept["owner"] = owner
    result: dict[str, Any] = {"metadata": kept}
    for path in paths:
        source: Any = body
        for part in path:
            source = source.get(part) if isinstance(source, Mapping) else None
        if source is None:
            continue
        target = result
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = json.loads(json.dumps(source, default=dict))
    return result


def key_of(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata", {}) or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class Cache:
    def __init__(self) -> None:
        self.packages: dict[Key, dict[str, Any]] = {}
        self.servers: dict[Key, dict[str, Any]] = {}
        self.children: dict[ChildKey, dict[str, Any]] = {}
        self._by_package: dict[Key, set[str]] = {}  # (namespace, package) -> server names
        self.pods: dict[Key, dict[str, dict[str, Any]]] = {}  # (namespace, server) -> pod name -> pod

    # ------------------------------------------------------------------------------ servers
    def put_server(self, body: Mapping[str, Any]) -> Key:
        key = key_of(body)
        self._unlink(key)
        copy = slim(body, ("spec",), ("status",))
        _keep_annotations(copy, body, SERVER_REQUESTS)
        self.servers[key] = copy
        package = str((copy.get("spec") or {}).get("package") or "")
        self._by_package.setdefault((key[0], package), set()).add(key[1])
        return key

    def drop_server(self, key: Key) -> None:
        self._unlink(key)
        self.servers.pop(key, None)

    def _unlink(self, key: Key) -> None:
        old = self.servers.get(key)
        if old is None:
            return
        link = (key[0], str((old.get("spec") or {}).get("package") or ""))
        names = self._by_package.get(link)
        if names is not None:
            names.discard(key[1])
            if not names:
                del self._by_package[link]

    def servers_of(self, namespace: str, package: str) -> list[Key]:
        return [(namespace, name) for name in sorted(self._by_package.get((namespace, package), ()))]

    # ----------------------------------------------------------------------------- packages
    def put_package(self, body: Mapping[str, Any]) -> Key:
        key = key_of(body)
        copy = slim(body, ("spec",), ("status",))
        _keep_annotations(copy, body, REQUEST_ANNOTATIONS)
        self.packages[key] = copy
        return key

    def drop_package(self, key: Key) -> None:
        self.packages.pop(key, None)

    # ----------------------------------------------------------------------------- children
    def put_child(self, kind: str, body: Mapping[str, Any]) -> Key:
        key = key_of(body)
        self.children[(kind, *key)] = slim(body, *CHILD_PATHS[kind])
        return key

    def drop_child(self, kind: str, key: Key) -> None:
        self.children.pop((kind, *key), None)

    def child(self, kind: str, key: Key) -> dict[str, Any] | None:
        return self.children.get((kind, *key))

    # --------------------------------------------------------------------------------- pods
    def put_pod(self, body: Mapping[str, Any]) -> Key | None:
        """A server's pod (labelled with the server's name); its key, or None if it names none."""
        key = _pod_owner(body)
        if key is None:
            return None
        name = str(body.get("metadata", {}).get("name", ""))
        pod = slim(body, *POD_PATHS)
        _keep_annotations(pod, body, POD_ANNOTATIONS)
        self.pods.setdefault(key, {})[name] = pod
        return key

    def drop_pod(self, body: Mapping[str, Any]) -> Key | None:
        key = _pod_owner(body)
        if key is None:
            return None
        pods = self.pods.get(key, {})
        pods.pop(str(body.get("metadata", {}).get("name", "")), None)
        if not pods:
            self.pods.pop(key, None)
        return key

    def pods_of(self, key: Key) -> list[dict[str, Any]]:
        return list(self.pods.get(key, {}).values())

    def sizes(self) -> dict[str, int]:
        return {
            "packages": len(self.packages),
            "servers": len(self.servers),
            "children": len(self.children),
            "by_package": len(self._by_package),
            "pods": len(self.pods),
        }


def _pod_owner(body: Mapping[str, Any]) -> Key | None:
    meta = body.get("metadata", {}) or {}
    server = (meta.get("labels") or {}).get(SERVER_LABEL)
    return (str(meta.get("namespace") or ""), str(server)) if server else None


def _keep_annotations(copy: dict[str, Any], body: Mapping[str, Any], keep: frozenset[str]) -> None:
    """Only the annotations the reconciles read: requests by users, a pod's template token."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    kept = {k: str(v) for k, v in annotations.items() if k in keep}
    if kept:
        copy["metadata"]["annotations"] = kept
