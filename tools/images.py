"""`make images`: build the runtime and operator images here, without Docker or a public registry.

Each image is a Debian 13 (trixie) root filesystem made by mmdebstrap from pinned packages, with
the project's own wheel and its pinned dependencies (constraints.txt) installed into a venv at
/opt/mcp-operator, a user 10001, and nothing else. The rootfs becomes one layer of an OCI archive
(mcp_operator.imagebuild.layout) that `ctr images import` loads and `--push` sends to a registry
through the OCI distribution API.

    .venv/bin/python tools/images.py                      # both, into .cache/images/
    .venv/bin/python tools/images.py --only runtime
    .venv/bin/python tools/images.py --push http://127.0.0.1:5000

Inputs are hashed; an archive whose inputs did not change is not built again.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from mcp_operator.imagebuild.layout import Layout, image_config  # noqa: E402

OUT = ROOT / ".cache" / "images"
APT_CACHE = ROOT / ".cache" / "apt-archives"
MIRROR = "http://deb.debian.org/debian"
SUITE = "trixie"
UID = 10001
VERSION = "0.1.0"
REGISTRY_NAME = "ghcr.io/mcp-operator"  # what the operator's defaults name (render/inputs.py)

# Pinned: a new Debian point release changes these and the build says so; update them then.
COMMON = ["python3=3.13.5-1", "python3-venv=3.13.5-1", "ca-certificates=20250419+deb13u1"]
NODE = ["nodejs=20.19.2+dfsg-1+deb13u3", "npm=9.2.0~ds1-3"]
EXCLUDES = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/info/*", "/usr/share/locale/*"]
KEEP = ["/usr/share/doc/*/copyright"]


@dataclass(frozen=True)
class Image:
    name: str
    packages: list[str]
    description: str
    cmd: list[str]

    @property
    def ref(self) -> str:
        return f"{REGISTRY_NAME}/{self.name}:{VERSION}"

    @property
    def archive(self) -> Path:
        return OUT / f"{self.name}.oci.tar"


IMAGES = {
    "runtime": Image(
        "runtime",
        COMMON + NODE,
        "MCP server pods: `mcp-operator install` (init container) and `mcp-operator bridge`, "
        "with Node.js and Python for npm and PyPI packages",
        ["bridge", "--help"],
    ),
    "operator": Image("operator", COMMON, "the mcp-operator controller", ["run", "--all-namespaces"]),
}


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def run(args: list[str], **kwargs: object) -> None:
    subprocess.run(args, check=True, **kwargs)  # type: ignore[call-overload]


def need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise SystemExit(
            f"images: {tool} is not installed: run `make image-deps` (apt-get install {package}) as root"
        )
    return found


def wheelhouse(work: Path) -> Path:
    """The project's wheel and every runtime dependency, pinned, for the image's Python 3.13."""
    house = work / "wheels"
    python = ROOT / ".venv" / "bin" / "python"
    run([str(python), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(house), str(ROOT)])
    wheel = next(house.glob("mcp_operator-*.whl"))
    platforms = ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64", "any"]
    run(
        [
            str(python), "-m", "pip", "download", "-q", "-d", str(house), "-c", str(ROOT / "constraints.txt"),
            "--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp",
            *[arg for p in platforms for arg in ("--platform", p)],
            str(wheel),
        ]
    )  # fmt: skip
    return house


def inputs_digest(image: Image) -> str:
    digest = hashlib.sha256()
    for path in [
        *sorted((ROOT / "operator").rglob("*.py")),
        ROOT / "pyproject.toml",
        ROOT / "constraints.txt",
        Path(__file__),
    ]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps([image.packages, EXCLUDES, SUITE, MIRROR]).encode())
    return digest.hexdigest()


def rootfs(image: Image, house: Path, out: Path) -> None:
    """mmdebstrap: a minbase trixie with the packages, the venv, the user; as a tar."""
    need("mmdebstrap", "mmdebstrap")
    APT_CACHE.mkdir(parents=True, exist_ok=True)
    hooks = [
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives',
        f"--setup-hook=sync-in {APT_CACHE} /var/cache/apt/archives/",
        f"--customize-hook=sync-out /var/cache/apt/archives {APT_CACHE}",
        '--customize-hook=mkdir -p "$1"/tmp/wheels',
        f"--customize-hook=copy-in {' '.join(str(p) for p in sorted(house.iterdir()))} /tmp/wheels",
        '--customize-hook=chroot "$1" python3 -m venv /opt/mcp-operator',
        '--customize-hook=chroot "$1" /opt/mcp-operator/bin/pip install -q --no-index --no-compile '
        "--disable-pip-version-check --find-links /tmp/wheels mcp-operator",
        '--customize-hook=ln -s /opt/mcp-operator/bin/mcp-operator "$1"/usr/local/bin/mcp-operator',
        f"--customize-hook=echo 'mcp:x:{UID}:{UID}:mcp:/home/mcp:/usr/sbin/nologin' >> \"$1\"/etc/passwd",
        f"--customize-hook=echo 'mcp:x:{UID}:' >> \"$1\"/etc/group",
        f'--customize-hook=install -d -o {UID} -g {UID} "$1"/home/mcp "$1"/mcp',
        '--customize-hook=rm -rf "$1"/tmp/wheels "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* '
        '"$1"/var/log/* "$1"/root/.cache',
    ]
    dpkg = [f"--dpkgopt=path-exclude={p}" for p in EXCLUDES] + [f"--dpkgopt=path-include={p}" for p in KEEP]
    run(
        [
            "mmdebstrap", "--quiet", "--variant=minbase", "--mode=root", "--format=tar",
            f"--include={','.join(image.packages)}", *dpkg, *hooks,
            SUITE, str(out), f"deb {MIRROR} {SUITE} main",
        ],
        # The host's pip settings (find-links, indexes) must not leak into the image's install.
        env={**clean_env(), "SOURCE_DATE_EPOCH": str(source_date())},
    )  # fmt: skip


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}


def source_date() -> int:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True, text=True, check=False
    )
    return int(done.stdout.strip() or 0)


def revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def build(image: Image, force: bool) -> None:
    stamp = image.archive.with_suffix(".stamp")
    digest = inputs_digest(image)
    if not force and image.archive.is_file() and stamp.is_file() and stamp.read_text() == digest:
        log(f"{image.ref}: up to date ({image.archive}, {image.archive.stat().st_size / 1e6:.0f} MB)")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mcp-image-{image.name}-") as tmp:
        work = Path(tmp)
        house = wheelhouse(work)
        tar = work / "rootfs.tar"
        log(f"{image.ref}: mmdebstrap {SUITE} with {', '.join(image.packages)}")
        rootfs(image, house, tar)
        layout = Layout(work / "layout")
        layer = layout.add_layer(tar)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(source_date()))
        labels = {
            "org.opencontainers.image.title": f"mcp-operator {image.name}",
            "org.opencontainers.image.description": image.description,
            "org.opencontainers.image.version": VERSION,
            "org.opencontainers.image.revision": revision(),
            "org.opencontainers.image.created": created,
            "org.opencontainers.image.licenses": "Apache-2.0",
            "org.opencontainers.image.source": "https://github.com/mcp-operator/mcp-operator",
            "org.opencontainers.image.base.name": f"debian:{SUITE} (mmdebstrap minbase)",
        }
        config = image_config(
            user=f"{UID}:{UID}",
            env={
                "PATH": "/opt/mcp-operator/bin:/usr/local/bin:/usr/bin:/bin",
                "PYTHONUNBUFFERED": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "npm_config_update_notifier": "false",
                "HOME": "/home/mcp",
            },
            workdir="/home/mcp",
            labels=labels,
            created=created,
        )
        config["config"]["Entrypoint"] = ["mcp-operator"]
        config["config"]["Cmd"] = image.cmd
        layout.add_image([layer], config, image.ref, labels)
        partial = image.archive.with_suffix(".partial")
        size = layout.archive(partial)
        partial.replace(image.archive)
        stamp.write_text(digest)
        log(
            f"{image.ref}: {image.archive} {size / 1e6:.0f} MB (rootfs {tar.stat().st_size / 1e6:.0f} MB "
            f"uncompressed) in {time.monotonic() - started:.0f} s"
        )


async def push_all(registry: str, images: list[Image]) -> None:
    import tarfile

    import httpx

    from mcp_operator.imagebuild.push import push

    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0)) as client:
        for image in images:
            with tempfile.TemporaryDirectory() as tmp:
                with tarfile.open(image.archive) as tar:
                    tar.extractall(tmp, filter="data")
                repository = image.ref.split("/", 1)[1].rsplit(":", 1)[0]
                digest = await push(client, registry, repository, VERSION, Path(tmp))
                log(f"pushed {image.ref} to {registry}/{repository}:{VERSION} ({digest})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=sorted(IMAGES), action="append", help="build only this image")
    parser.add_argument("--force", action="store_true", help="build even when the inputs did not change")
    parser.add_argument("--push", metavar="REGISTRY_URL", help="then push them, e.g. http://127.0.0.1:5000")
    args = parser.parse_args(argv)
    chosen = [IMAGES[name] for name in (args.only or sorted(IMAGES))]
    if os.geteuid() != 0:
        # Not an error: the image tests say in one line that they were skipped, and why.
        log("not root: mmdebstrap --mode=root needs root (it chroots to install the venv); not building")
        return 0
    for image in chosen:
        build(image, args.force)
    if args.push:
        asyncio.run(push_all(args.push, chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
