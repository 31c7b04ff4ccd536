"""OCI / Docker registry client (distribution API v2): tags, manifest digests, image entrypoints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from mcp_operator.registries import bounded
from mcp_operator.registries.binding import host_allowed, same_origin
from mcp_operator.registries.errors import (
    InvalidPackage,
    InvalidSpec,
    PackageNotFound,
    RegistryAuthFailed,
    VersionNotFound,
)
from mcp_operator.registries.http import (
    Fetched,
    RetryPolicy,
    basic_header,
    fetch,
    normalise_registry_url,
    redact,
)
from mcp_operator.registries.types import Catalog, Credentials, Resolution

__all__ = ["ImageReference", "OciClient", "parse_challenge", "parse_reference"]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$"
)


@dataclass(frozen=True)
class ImageReference:
    registry: str  # as written by the user, e.g. "docker.io", "ghcr.io", "localhost:5000"
    repository: str  # e.g. "library/nginx"
    base_url: str  # API base, e.g. "https://registry-1.docker.io"

    def pinned(self, digest: str) -> str:
        return f"{self.registry}/{self.repository}@{digest}"


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_reference(package: str, registry: str | None = None) -> ImageReference:
    """Split an image repository into registry and path, Docker style.

    ``nginx`` -> docker.io/library/nginx; ``ghcr.io/o/i`` -> ghcr.io, o/i. ``registry`` (a URL
    or host[:port]) overrides the registry named in ``package``.
    """
    if not isinstance(package, str) or not package or len(package) > 512:
        raise InvalidPackage(f"{package!r} is not a valid image repository")
    if "@" in package or ":" in package.rsplit("/", 1)[-1]:
        raise InvalidPackage(
            f"image repository {package!r} includes a tag or digest; put the tag in spec.source.version"
        )
    first, _, rest = package.partition("/")
    host: str | None = None
    path = package
    if rest and _is_host(first):
        host, path = first, rest
    scheme = "https"
    if registry:
        if "://" in registry:
            url = normalise_registry_url(registry, what="OCI registry")
            parts = urlsplit(url)
            if parts.path not in {"", "/"}:
                raise InvalidPackage(
                    f"OCI registry URL {registry!r} must not have a path; use https://host[:port]"
                )
            scheme, given = parts.scheme, parts.netloc
        else:
            given = registry.rstrip("/")
        if not _HOST_RE.match(given):
            raise InvalidPackage(f"OCI registry {registry!r} is not a host[:port] or an http(s) URL")
        if host is not None and host != given:
            raise InvalidPackage(
                f"image {package!r} names registry {host!r} but spec.source.registry is {registry!r}; use one"
            )
        host = given
    if host is None:
        host = DOCKER_HUB
    if not _HOST_RE.match(host):
        raise InvalidPackage(f"registry host {host!r} in image {package!r} is not valid")
    if host in {DOCKER_HUB, "index.docker.io", DOCKER_HUB_API}:
        host = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    if len(path) > 255 or not _REPO_RE.match(path):
        raise InvalidPackage(
            f"{path!r} is not a valid image repository path (lowercase components separated by '/')"
        )
    api_host = DOCKER_HUB_API if host == DOCKER_HUB else host
    return ImageReference(host, path, f"{scheme}://{api_host}")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse 'Bearer realm="...",service="...",scope="..."' into ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m[0].lower(): m[1] if m[1] is not None and m[1] != "" else m[2]
        for m in re.findall(r'([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))', rest)
    }
    return scheme.lower(), params


async def _error_codes(content: bytes) -> set[str]:
    try:
        doc = await bounded.parse_json(content)
    except ValueError:
        return set()
    errors = doc.get("errors") if isinstance(doc, dict) else None
    return {str(e.get("code")) for e in errors or [] if isinstance(e, dict)}


@dataclass
class OciClient:
    client: httpx.AsyncClient
    credentials: Credentials | None = None
    retry: RetryPolicy | None = None  # None: http.DEFAULT_RETRY at call time
    platform: tuple[str, str] = ("linux", "amd64")
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)

    def _basic(self, ref: ImageReference | None = None, url: str | None = None) -> tuple[str, str] | None:
        """The credentials for a request to `url` on behalf of `ref`'s registry: only if they are
        bound to that registry's host, and only to it or to the token realm it names over https."""
        c = self.credentials
        if c is None:
            return None
        if ref is not None and c.registry is not None:
            registry_url = ref.base_url + "/"
            plain = registry_url.startswith("http://")
            if not host_allowed(c.registry, registry_url, allow_http=plain):
                return None
            if url is not None and not (url.startswith("https://") or same_origin(url, registry_url)):
                return None
        if c.username is not None and c.password is not None:
            return (c.username, c.password)
        if c.token:
            return (c.username or "token", c.token)
        return None

    async def _token(self, ref: ImageReference, params: dict[str, str]) -> str:
        realm = params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise RegistryAuthFailed(f"registry {ref.registry} sent an unusable auth realm {realm!r}")
        scope = params.get("scope") or f"repository:{ref.repository}:pull"
        key = (realm, scope)
        if key in self._tokens:
            return self._tokens[key]
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        url = realm + ("&" if parts.query else "?") + urlencode(query)
        headers: dict[str, str] = {}
        basic = self._basic(ref, url)
        if basic is not None:
            headers["Authorization"] = basic_header(*basic)
        fetched = await fetch(
            self.client,
            url,
            what=f"a pull token for {ref.registry}/{ref.repository}",
            headers=headers,
            retry=self.retry,
            cache=None,
        )
        if fetched.status != 200:
            raise RegistryAuthFailed(
                f"the token service {redact(realm)} of {ref.registry} refused a pull token for "
                f"{ref.repository} (HTTP {fetched.status}); check spec.source.registryAuthSecret"
            )
        try:
            doc = await bounded.parse_json(fetched.content)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryAuthFailed(f"the token service {redact(realm)} of {ref.registry} sent no token")
        self._tokens[key] = token
        return token

    async def _get(
        self, ref: ImageReference, path: str, *, accept: str, what: str, method: str = "GET"
    ) -> Fetched:
        url = f"{ref.base_url}/v2/{ref.repository}/{path}"
        headers = {"Accept": accept}
        wanted = f"repository:{ref.repository}:"
        token = next((t for (_, scope), t in self._tokens.items() if scope.startswith(wanted)), None)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        fetched = await fetch(
            self.client, url, method=method, what=what, headers=headers, retry=self.retry, cache=None
        )
        if fetched.status == 401:
            scheme, params = parse_challenge(fetched.headers.get("www-authenticate", ""))
            if scheme == "bearer":
                if token:  # expired or too narrow: forget it and ask again
                    self._tokens = {k: v for k, v in self._tokens.items() if v != token}
                headers["Authorization"] = f"Bearer {await self._token(ref, params)}"
            elif scheme == "basic" and self._basic(ref, url) is not None:
                basic = self._basic(ref, url)
                assert basic is not None
                headers["Authorization"] = basic_header(*basic)
            else:
                raise RegistryAuthFailed(
                    f"{what}: registry {ref.registry} requires credentials: set "
                    "spec.source.registryAuthSecret to a Secret of type kubernetes.io/dockerconfigjson "
                    f"with an entry for {ref.registry} (kubectl create secret docker-registry)"
                )
            fetched = await fetch(
                self.client, url, method=method, what=what, headers=headers, retry=self.retry, cache=None
            )
        if fetched.status in {401, 403}:
            raise RegistryAuthFailed(
                f"{what}: registry {ref.registry} refused access (HTTP {fetched.status}); "
                "check spec.source.registryAuthSecret"
            )
        return fetched

    async def tags(self, ref: ImageReference) -> list[str] | None:
        """The repository's tags, or None when the repository does not exist."""
        fetched = await self._get(
            ref, "tags/list?n=1000", accept="application/json", what=f"tags of {ref.repository}"
        )
        if fetched.status == 404:
            return None
        try:
            tags = (await bounded.parse_json(fetched.content)).get("tags") or []
        except (ValueError, AttributeError):
            return []
        return [t for t in tags if isinstance(t, str)]

    async def _manifest(self, ref: ImageReference, reference: str) -> tuple[Fetched, dict[str, Any], str]:
        what = f"image {ref.registry}/{ref.repository}:{reference}"
        fetched = await self._get(ref, f"manifests/{reference}", accept=MANIFEST_ACCEPT, what=what)
        if fetched.status == 404:
            codes = await _error_codes(fetched.content)
            tags = None if "NAME_UNKNOWN" in codes else await self.tags(ref)
            if tags is None:
                raise PackageNotFound(
                    f"image repository {ref.repository!r} was not found in {ref.registry}; "
                    "check spec.source.package or spec.source.registry"
                )
            shown = ", ".join(sorted(tags)[-8:]) or "none"
            raise VersionNotFound(
                f"image {ref.registry}/{ref.repository} has no tag {reference!r}; available tags: {shown}; "
                "fix spec.source.version"
            )
        digest = "sha256:" + await bounded.sha256_hex(fetched.content)
        header = fetched.headers.get("docker-content-digest")
        if header and header.startswith("sha256:") and header != digest:
            raise InvalidPackage(
                f"{what}: the registry's Docker-Content-Digest {header} does not match the manifest it sent"
            )
        try:
            doc = await bounded.parse_json(fetched.content)
        except ValueError as exc:
            raise InvalidPackage(f"{what}: the manifest is not JSON") from exc
        if not isinstance(doc, dict):
            raise InvalidPackage(f"{what}: the manifest is not a JSON object")
        return fetched, doc, digest

    def _pick_platform(self, index: dict[str, Any]) -> str | None:
        manifests = [
            m
            for m in index.get("manifests") or []
            if isinstance(m, dict) and isinstance(m.get("digest"), str)
        ]
        wanted_os, wanted_arch = self.platform
        for m in manifests:
            p = m.get("platform") or {}
            if p.get("os") == wanted_os and p.get("architecture") == wanted_arch:
                return str(m["digest"])
        for m in manifests:
            if (m.get("platform") or {}).get("os") not in {None, "unknown"}:
                return str(m["digest"])
        return str(manifests[0]["digest"]) if manifests else None

    async def _command(self, ref: ImageReference, fetched: Fetched, doc: dict[str, Any]) -> tuple[str, ...]:
        media = doc.get("mediaType") or fetched.headers.get("content-type", "").split(";")[0].strip()
        if media in INDEX_TYPES or "manifests" in doc:
            child = self._pick_platform(doc)
            if child is None or not _DIGEST_RE.match(child):
                return ()
            fetched, doc, _ = await self._manifest(ref, child)
        config = doc.get("config")
        digest = config.get("digest") if isinstance(config, dict) else None
        if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
            return ()
        blob = await self._get(ref, f"blobs/{digest}", accept="*/*", what=f"image config {digest}")
        if blob.status != 200:
            return ()
        try:
            image = await bounded.parse_json(blob.content)
        except ValueError:
            return ()
        cfg = image.get("config") if isinstance(image, dict) else None
        if not isinstance(cfg, dict):
            return ()
        entrypoint = cfg.get("Entrypoint") or []
        cmd = cfg.get("Cmd") or []
        parts = [*entrypoint, *cmd] if isinstance(entrypoint, list) and isinstance(cmd, list) else []
        return tuple(str(p) for p in parts)

    async def catalog(self, package: str, *, registry: str | None = None) -> Catalog:
        """The repository's tags; which of them are versions is the caller's business."""
        ref = parse_reference(package, registry)
        tags = await self.tags(ref)
        if tags is None:
            raise PackageNotFound(
                f"image repository {ref.registry}/{ref.repository} was not found; "
                "check spec.source.package or spec.source.registry"
            )
        return Catalog(tuple(tags), None)

    async def resolve(self, package: str, spec: str, *, registry: str | None = None) -> Resolution:
        ref = parse_reference(package, registry)
        reference = (spec or "latest").strip() or "latest"
        if not (_TAG_RE.match(reference) or _DIGEST_RE.match(reference)):
            raise InvalidSpec(f"{reference!r} is not an image tag or sha256 digest; fix spec.source.version")
        fetched, doc, digest = await self._manifest(ref, reference)
        command = await self._command(ref, fetched, doc)
        return Resolution(
            version=reference,
            latest=None,
            integrity=digest,
            artifact_url=ref.pinned(digest),
            command=command,
        )
