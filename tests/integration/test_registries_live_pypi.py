"""Resolve against a live local pypiserver (simple index only) holding wheels these tests build."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from tests.fixtures.registries import PypiRegistry

from mcp_operator.registries import errors, http, resolve

pytestmark = pytest.mark.integration

FAST = http.RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)
PROJECT = "Reg_Time.Server"


@pytest.fixture(scope="module")
def pypi(pypi_registry: PypiRegistry) -> PypiRegistry:
    for version in ["1.0.0", "1.1.0", "2.0.0rc1", "2.0.0"]:
        pypi_registry.publish_pypi(PROJECT, version)
    pypi_registry.publish_pypi(
        "reg-sdist-only", "0.3", console_scripts={"sdist-cli": "x:main"}, sdist=True, wheel=False
    )
    pypi_registry.publish_pypi(
        "reg-multi", "1.0", console_scripts={"aaa": "m:a", "reg-multi": "m:main", "zzz": "m:z"}
    )
    pypi_registry.publish_pypi("reg-noscripts", "1.0", console_scripts={})
    return pypi_registry


def wheel_sha(pypi: PypiRegistry, version: str) -> str:
    return pypi.published[f"Reg_Time_Server-{version}-py3-none-any.whl"].sha256


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", "2.0.0"),
        ("1.1.0", "1.1.0"),
        ("1.1", "1.1.0"),
        ("==1.0.0", "1.0.0"),
        (">=1,<2", "1.1.0"),
        ("~=1.0", "1.1.0"),
        ("==2.0.0rc1", "2.0.0rc1"),
        ("<2.0.0", "1.1.0"),  # prereleases only when asked for
    ],
)
async def test_resolve_specs(pypi: PypiRegistry, spec: str, expected: str) -> None:
    result = await resolve("pypi", PROJECT, spec, registry=pypi.url)
    assert result.version == expected
    assert result.latest == "2.0.0"
    assert result.integrity == f"sha256:{wheel_sha(pypi, expected)}"
    assert result.command == ("reg-time-server",)
    assert result.artifact_url.startswith(pypi.url)
    assert result.artifact_url.endswith(".whl")


@pytest.mark.parametrize(
    "name", ["reg-time-server", "REG_TIME_SERVER", "Reg.Time-Server", "reg__time..server"]
)
async def test_name_normalisation(pypi: PypiRegistry, name: str) -> None:
    result = await resolve("pypi", name, "latest", registry=pypi.index_url)
    assert result.version == "2.0.0"


async def test_artifact_url_serves_the_pinned_bytes(pypi: PypiRegistry) -> None:
    result = await resolve("pypi", PROJECT, "1.0.0", registry=pypi.url)
    async with httpx.AsyncClient() as client:
        data = (await client.get(result.artifact_url)).content
    assert result.integrity == "sha256:" + hashlib.sha256(data).hexdigest()


async def test_console_script_detection(pypi: PypiRegistry) -> None:
    sdist = await resolve("pypi", "reg-sdist-only", "latest", registry=pypi.url)
    assert sdist.command == ("sdist-cli",)
    assert sdist.artifact_url.endswith(".tar.gz")
    multi = await resolve("pypi", "reg-multi", "latest", registry=pypi.url)
    assert multi.command == ("reg-multi",)
    none = await resolve("pypi", "reg-noscripts", "latest", registry=pypi.url)
    assert none.command == ()


async def test_unknown_project(pypi: PypiRegistry) -> None:
    with pytest.raises(errors.PackageNotFound) as caught:
        await resolve("pypi", "reg-not-there", "latest", registry=pypi.url)
    assert "'reg-not-there' was not found" in str(caught.value)
    assert not caught.value.transient


async def test_unknown_version(pypi: PypiRegistry) -> None:
    with pytest.raises(errors.VersionNotFound) as caught:
        await resolve("pypi", PROJECT, ">=3", registry=pypi.url)
    assert "2.0.0, 2.0.0rc1, 1.1.0, 1.0.0" in str(caught.value)


async def test_index_down_then_recovered(pypi: PypiRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULT_RETRY", FAST)
    with pypi.stopped():
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await resolve("pypi", PROJECT, "latest", registry=pypi.url)
        assert caught.value.transient
    assert (await resolve("pypi", PROJECT, "latest", registry=pypi.url)).version == "2.0.0"
