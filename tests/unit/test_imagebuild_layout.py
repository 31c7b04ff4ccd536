"""OCI archives written without a daemon: digests, diff IDs, names, and reproducibility."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from mcp_operator.imagebuild.layout import LAYER, MANIFEST, Layout, image_config, read_archive_manifest


def rootfs_tar(path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in (
            ("etc/passwd", b"mcp:x:10001:10001::/home/mcp:/bin/false\n"),
            ("bin/tool", b"#!x\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return path


def build(tmp: Path, name: str) -> Path:
    layout = Layout(tmp / name)
    layer = layout.add_layer(rootfs_tar(tmp / f"{name}.tar"))
    config = image_config(
        user="10001:10001", env={"A": "1"}, workdir="/", labels={"l": "v"}, created="2026-01-01T00:00:00Z"
    )
    layout.add_image([layer], config, "ghcr.io/mcp-operator/runtime:0.1.0", {"l": "v"})
    out = tmp / f"{name}.oci.tar"
    layout.archive(out)
    return out


def test_archive_is_a_valid_oci_layout(tmp_path: Path) -> None:
    archive = build(tmp_path, "a")
    index, manifest, config = read_archive_manifest(archive)
    named = index["manifests"][0]["annotations"]
    assert named == {
        "io.containerd.image.name": "ghcr.io/mcp-operator/runtime:0.1.0",
        "org.opencontainers.image.ref.name": "0.1.0",
    }
    assert index["manifests"][0]["mediaType"] == MANIFEST
    assert manifest["layers"][0]["mediaType"] == LAYER
    assert config["config"]["User"] == "10001:10001"
    with tarfile.open(archive) as tar:
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}  # type: ignore[union-attr]
        for blob in [index["manifests"][0], manifest["config"], *manifest["layers"]]:
            data = tar.extractfile("blobs/sha256/" + blob["digest"].removeprefix("sha256:")).read()  # type: ignore[union-attr]
            assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"]
            assert len(data) == blob["size"]
        layer = tar.extractfile(
            "blobs/sha256/" + manifest["layers"][0]["digest"].removeprefix("sha256:")
        ).read()  # type: ignore[union-attr]
    raw = gzip.decompress(layer)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    assert raw == (tmp_path / "a.tar").read_bytes()


def test_the_same_inputs_give_the_same_image(tmp_path: Path) -> None:
    first, second = build(tmp_path, "a"), build(tmp_path, "b")
    assert read_archive_manifest(first)[0] == read_archive_manifest(second)[0]
    assert first.read_bytes() == second.read_bytes()
