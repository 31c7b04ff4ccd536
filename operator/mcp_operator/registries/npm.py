"""npm registry client: packuments, dist-tags, semver ranges, integrity and bin detection."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from mcp_operator.registries import bounded, semver
from mcp_operator.registries.errors import InvalidPackage, InvalidSpec, PackageNotFound, VersionNotFound
from mcp_operator.registries.http import (
    DEFAULT_CACHE,
    ResponseCache,
    RetryPolicy,
    fetch_document,
    normalise_registry_url,
)
from mcp_operator.registries.integrity import npm_integrity
from mcp_operator.registries.types import Catalog, Credentials, Resolution

__all__ = ["DEFAULT_NPM_REGISTRY", "NpmClient", "packument_url", "validate_npm_name"]

DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org/"
ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
_NAME_RE = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9_~-][a-z0-9._~-]*$", re.IGNORECASE)


def validate_npm_name(name: str) -> str:
    if not isinstance(name, str) or len(name) > 214 or not _NAME_RE.match(name) or name.startswith("."):
        raise InvalidPackage(
            f"{name!r} is not a valid npm package name; use 'name' or '@scope/name' "
            "(lowercase letters, digits, '-', '.', '_', '~'; at most 214 characters)"
        )
    return name


def packument_url(registry: str, name: str) -> str:
    """URL of a package document; the slash of a scoped name is encoded as %2F."""
    validate_npm_name(name)
    base = normalise_registry_url(registry, what="npm registry")
    return f"{base}/{name.replace('/', '%2F')}"


def unscoped(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def detect_bin(name: str, manifest: dict[str, Any]) -> tuple[str, ...]:
    """The command an npm package installs: its single bin, or the one named like the package."""
    bins = manifest.get("bin")
    if isinstance(bins, str) and bins:
        return (unscoped(name),)
    if isinstance(bins, dict):
        names = [k for k, v in bins.items() if isinstance(k, str) and isinstance(v, str) and k]
        if len(names) == 1:
            return (unscoped(names[0]),)
        if unscoped(name) in names:
            return (unscoped(name),)
    return ()


def _available(versions: list[str], limit: int = 8) -> str:
    parsed = sorted((v for v in (semver.try_parse_version(x) for x in versions) if v), reverse=True)
    shown = ", ".join(str(v) for v in parsed[:limit])
    more = f" (and {len(parsed) - limit} more)" if len(parsed) > limit else ""
    return (shown + more) if shown else "none"


@dataclass
class NpmClient:
    """Resolves npm packages against one registry."""

    client: httpx.AsyncClient
    registry: str = DEFAULT_NPM_REGISTRY
    credentials: Credentials | None = None
    retry: RetryPolicy | None = None  # None: http.DEFAULT_RETRY at call time
    cache: ResponseCache | None = field(default_factory=lambda: DEFAULT_CACHE)

    async def packument(self, name: str) -> dict[str, Any]:
        url = packument_url(self.registry, name)
        what = f"npm package {name!r}"
        fetched = await fetch_document(
            self.client,
            url,
            what=what,
            accept=ACCEPT,
            credentials=self.credentials,
            retry=self.retry,
            cache=self.cache,
        )
        if fetched.status == 404:
            raise PackageNotFound(
                f"npm package {name!r} was not found in {self.registry}; "
                "check spec.source.package or spec.source.registry"
            )
        try:
            doc = await bounded.parse_json(fetched.content)  # off the loop for a big packument
        except ValueError as exc:
            raise InvalidPackage(
                f"npm registry {self.registry} sent an unreadable document for {name!r}; "
                "check spec.source.registry points at an npm registry"
            ) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("versions", {}), dict):
            raise InvalidPackage(f"npm registry {self.registry} sent a malformed document for {name!r}")
        return doc

    async def catalog(self, name: str) -> Catalog:
        validate_npm_name(name)
        doc = await self.packument(name)
        versions = doc.get("versions") or {}
        raw_tags = doc.get("dist-tags")
        tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
        latest = tags.get("latest") if isinstance(tags.get("latest"), str) else None
        named = {str(t): v for t, v in tags.items() if isinstance(v, str) and v in versions}
        return Catalog(tuple(str(v) for v in versions), latest if latest in versions else None, named)

    async def resolve(self, name: str, spec: str) -> Resolution:
        validate_npm_name(name)
        spec = (spec or "latest").strip() or "latest"
        doc = await self.packument(name)
        versions: dict[str, Any] = doc.get("versions") or {}
        raw_tags = doc.get("dist-tags")
        tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
        latest = tags.get("latest") if isinstance(tags.get("latest"), str) else None
        if not versions:
            raise PackageNotFound(
                f"npm package {name!r} in {self.registry} has no published versions; "
                "check spec.source.package or spec.source.registry"
            )
        version = self._select(name, spec, versions, tags, latest)
        manifest = versions[version]
        if not isinstance(manifest, dict):
            raise InvalidPackage(f"npm package {name}@{version} has malformed metadata in {self.registry}")
        dist = manifest.get("dist") if isinstance(manifest.get("dist"), dict) else {}
        assert isinstance(dist, dict)
        integrity = npm_integrity(dist)
        tarball = dist.get("tarball")
        if not integrity or not isinstance(tarball, str) or not tarball:
            raise InvalidPackage(
                f"npm package {name}@{version} in {self.registry} has no tarball or integrity in its "
                "metadata; pick another version or fix the registry"
            )
        return Resolution(
            version=version,
            latest=latest,
            integrity=integrity,
            artifact_url=tarball,
            command=detect_bin(name, manifest),
        )

    def _select(
        self, name: str, spec: str, versions: dict[str, Any], tags: dict[str, Any], latest: str | None
    ) -> str:
        if spec in tags and isinstance(tags[spec], str):
            if tags[spec] in versions:
                return str(tags[spec])
            raise VersionNotFound(
                f"npm package {name!r} dist-tag {spec!r} points at {tags[spec]!r}, which is not published "
                f"in {self.registry}; available versions: {_available(list(versions))}"
            )
        if spec == "latest":  # no 'latest' dist-tag: the highest release, as npm does
            chosen = semver.max_satisfying(list(versions), "*")
            if chosen is None:  # only prereleases
                parsed = [(v, text) for text in versions if (v := semver.try_parse_version(text))]
                if not parsed:
                    raise VersionNotFound(
                        f"npm package {name!r} has no valid semver version in {self.registry}"
                    )
                chosen = max(parsed)[1]
            return chosen
        exact = semver.try_parse_version(spec)
        if exact is not None:
            for candidate in versions:
                if semver.try_parse_version(candidate) == exact:
                    return candidate
            raise VersionNotFound(
                f"npm package {name!r} has no version {spec!r} in {self.registry}; "
                f"available versions: {_available(list(versions))}; fix spec.source.version"
            )
        try:
            wanted = semver.parse_range(spec)
        except semver.InvalidRange as exc:
            raise InvalidSpec(
                f"{spec!r} is neither 'latest', a dist-tag of {name!r}, an exact version nor an npm range; "
                "fix spec.source.version"
            ) from exc
        # Like npm: the 'latest' dist-tag wins when it satisfies the range.
        if latest in versions and semver.satisfies(latest, wanted):
            return latest
        chosen = semver.max_satisfying(list(versions), wanted)
        if chosen is None:
            raise VersionNotFound(
                f"no version of npm package {name!r} in {self.registry} satisfies {spec!r}; "
                f"available versions: {_available(list(versions))}; fix spec.source.version"
            )
        return chosen
