"""An image written by imagebuild, pushed to the real CNCF distribution registry and resolved back
by the operator's own OCI client."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx
import pytest

from mcp_operator.imagebuild.layout import Layout, image_config
from mcp_operator.imagebuild.push import push
from mcp_operator.registries import resolve

pytestmark = pytest.mark.integration


def layout_with_one_layer(root: Path) -> Layout:
    tar_path = root / "layer.tar"
    with tarfile.open(tar_path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    layout = Layout(root / "layout")
    layer = layout.add_layer(tar_path)
    config = image_config(user="10001:10001", env={}, workdir="/", labels={}, created="2026-01-01T00:00:00Z")
    config["config"]["Entrypoint"] = ["mcp-operator"]
    layout.add_image([layer], config, "example/pushed:1.0.0", {})
    return layout


async def test_push_then_resolve(distribution_registry, tmp_path: Path) -> None:
    layout = layout_with_one_layer(tmp_path)
    async with httpx.AsyncClient(timeout=30) as client:
        digest = await push(client, distribution_registry.url, "example/pushed", "1.0.0", layout.root)
        again = await push(
            client, distribution_registry.url, "example/pushed", "1.0.0", layout.root
        )  # blobs skipped
        assert again == digest
        answer = await client.get(
            f"{distribution_registry.url}v2/example/pushed/manifests/1.0.0",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
    assert answer.status_code == 200
    assert answer.headers["Docker-Content-Digest"] == digest
    # The operator's own resolver pins what was pushed, by digest, and reads its entrypoint.
    found = await resolve("oci", "example/pushed", "1.0.0", registry=distribution_registry.url)
    assert found.integrity == digest
    assert found.command == ("mcp-operator",)
