"""images/Dockerfile must describe the image tools/images.py builds: same packages, user, paths."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from mcp_operator.render.inputs import POD_UID, RUNTIME_IMAGE

ROOT = Path(__file__).resolve().parents[2]


def load_images_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("images_tool", ROOT / "tools" / "images.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_dockerfile_pins_the_same_packages_and_user() -> None:
    tool = load_images_tool()
    dockerfile = (ROOT / "images" / "Dockerfile").read_text()
    for pin in tool.COMMON + tool.NODE:
        assert pin in dockerfile, f"images/Dockerfile lacks {pin}"
    assert f"USER {POD_UID}:{POD_UID}" in dockerfile
    assert f"FROM debian:{tool.SUITE}-slim" in dockerfile
    assert "/opt/mcp-operator" in dockerfile
    assert re.search(r"constraints\.txt", dockerfile)


def test_default_image_reference_is_what_make_images_builds() -> None:
    tool = load_images_tool()
    assert tool.IMAGES["runtime"].ref == RUNTIME_IMAGE
    assert (
        f'org.opencontainers.image.version="{tool.VERSION}"' in (ROOT / "images" / "Dockerfile").read_text()
    )
