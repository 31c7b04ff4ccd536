"""Push an OCI image layout to a registry through the OCI distribution API (no daemon, no CLI).

Blobs the registry already has are skipped (HEAD); the others are uploaded in one PUT each
(POST an upload session, PUT its Location with ?digest=), streamed from disk; the manifest goes
last, under the tag.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urljoin

import httpx

from mcp_operator.imagebuild.layout import CHUNK


class PushError(RuntimeError):
    pass


async def _stream(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


async def push(client: httpx.AsyncClient, registry: str, repository: str, tag: str, layout: Path) -> str:
    """Push the image that index.json names; returns the manifest digest."""
    base = registry.rstrip("/")
    index = json.loads((layout / "index.json").read_text())
    descriptor = index["manifests"][0]
    blobs = layout / "blobs" / "sha256"
    manifest_bytes = (blobs / descriptor["digest"].removeprefix("sha256:")).read_bytes()
    manifest = json.loads(manifest_bytes)
    for blob in [manifest["config"], *manifest["layers"]]:
        digest = blob["digest"]
        head = await client.head(f"{base}/v2/{repository}/blobs/{digest}")
        if head.status_code == 200:
            continue
        started = await client.post(f"{base}/v2/{repository}/blobs/uploads/")
        if started.status_code != 202 or "location" not in started.headers:
            raise PushError(f"{base} refused an upload for {repository}: HTTP {started.status_code}")
        location = urljoin(f"{base}/", started.headers["location"])
        separator = "&" if "?" in location else "?"
        path = blobs / digest.removeprefix("sha256:")
        done = await client.put(
            f"{location}{separator}digest={digest}",
            content=_stream(path),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)},
        )
        if done.status_code != 201:
            raise PushError(f"{base} refused blob {digest}: HTTP {done.status_code} {done.text[:200]}")
    answer = await client.put(
        f"{base}/v2/{repository}/manifests/{tag}",
        content=manifest_bytes,
        headers={"Content-Type": manifest["mediaType"]},
    )
    if answer.status_code != 201:
        raise PushError(f"{base} refused the manifest of {repository}:{tag}: HTTP {answer.status_code}")
    return str(descriptor["digest"])
