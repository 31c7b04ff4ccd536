"""Write an OCI image as an OCI archive (an image layout in a tar), the ko/crane way: no daemon.

A layer is a tar of files; it is stored gzip-compressed (deterministically: no timestamp in the
gzip header) and named by its sha256; the config lists the uncompressed digests (diff IDs). The
archive's index names the image (`org.opencontainers.image.ref.name` and containerd's
`io.containerd.image.name`), so `ctr images import` tags it as it stands.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX = "application/vnd.oci.image.index.v1+json"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    media_type: str
    digest: str  # sha256:...
    size: int

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Layer:
    blob: Blob  # compressed, as stored
    diff_id: str  # sha256 of the uncompressed tar


class Layout:
    """An OCI image layout directory being written: blobs/sha256/<hex>, oci-layout, index.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def path(self, digest: str) -> Path:
        return self.blobs / digest.removeprefix("sha256:")

    def add_bytes(self, data: bytes, media_type: str) -> Blob:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.path(digest).write_bytes(data)
        return Blob(media_type, digest, len(data))

    def add_layer(self, tar_path: Path, level: int = 6) -> Layer:
        """Compress a layer tar into the layout, hashing both forms in one pass."""
        raw, packed = hashlib.sha256(), hashlib.sha256()
        partial = self.blobs / "partial"
        with tar_path.open("rb") as source, partial.open("wb") as sink:
            hashing = _HashingWriter(sink, packed)
            with gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=level, mtime=0) as gz:
                while chunk := source.read(CHUNK):
                    raw.update(chunk)
                    gz.write(chunk)
        digest = "sha256:" + packed.hexdigest()
        partial.replace(self.path(digest))
        return Layer(Blob(LAYER, digest, self.path(digest).stat().st_size), "sha256:" + raw.hexdigest())

    def add_image(
        self, layers: Sequence[Layer], config: Mapping[str, Any], ref: str, annotations: Mapping[str, str]
    ) -> Blob:
        """The config and manifest blobs, and an index.json that names the image `ref`."""
        config_doc = {**config, "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}}
        config_blob = self.add_bytes(canonical(config_doc), CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config_blob.descriptor(),
            "layers": [layer.blob.descriptor() for layer in layers],
            "annotations": dict(annotations),
        }
        manifest_blob = self.add_bytes(canonical(manifest), MANIFEST)
        tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [
                manifest_blob.descriptor(
                    annotations={"org.opencontainers.image.ref.name": tag, "io.containerd.image.name": ref}
                )
            ],
        }
        (self.root / "index.json").write_bytes(canonical(index))
        return manifest_blob

    def archive(self, out: Path) -> int:
        """Pack the layout as an OCI archive (a plain tar, fixed order and metadata); its size."""
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.root.rglob("*")):
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(self.root)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if path.is_file():
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
        return out.stat().st_size


class _HashingWriter(io.RawIOBase):
    def __init__(self, sink: io.BufferedWriter, digest: Any) -> None:
        self.sink, self.digest = sink, digest

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self.digest.update(view)
        self.sink.write(view)
        return len(view)


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def image_config(
    *, user: str, env: Mapping[str, str], workdir: str, labels: Mapping[str, str], created: str
) -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "User": user,
            "Env": [f"{k}={v}" for k, v in env.items()],
            "WorkingDir": workdir,
            "Labels": dict(labels),
        },
    }


def read_archive_manifest(archive: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(index, manifest, config) of an OCI archive: what a test or `--check` reads back."""
    with tarfile.open(archive) as tar:

        def read(name: str) -> dict[str, Any]:
            member = tar.extractfile(name)
            if member is None:
                raise ValueError(f"{archive} has no {name}")
            data: dict[str, Any] = json.loads(member.read())
            return data

        index = read("index.json")
        manifest = read("blobs/sha256/" + index["manifests"][0]["digest"].removeprefix("sha256:"))
        config = read("blobs/sha256/" + manifest["config"]["digest"].removeprefix("sha256:"))
    return index, manifest, config
