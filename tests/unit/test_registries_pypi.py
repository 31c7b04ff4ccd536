"""PyPI client: PEP 440 selection, PEP 503 names, JSON API and simple index (MockTransport)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from tests.fixtures.pkgbuild import build_sdist, build_wheel

from mcp_operator.registries import errors, http, pypi, resolve
from mcp_operator.registries.pypi import PyFile

BASE = "https://pypi.example"


def files(version: str, *names: str, yanked: bool = False) -> list[PyFile]:
    return [PyFile(n, f"{BASE}/f/{n}", "0" * 64, version, yanked) for n in names]


def releases(*versions: str, yanked: tuple[str, ...] = ()) -> dict[str, list[PyFile]]:
    return {v: files(v, f"tool-{v}-py3-none-any.whl", yanked=v in yanked) for v in versions}


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("Mcp_Server.Time", "mcp-server-time"),
        ("mcp-server-time", "mcp-server-time"),
        ("A__b--c..D", "a-b-c-d"),
        ("x", "x"),
    ],
)
def test_normalise_name(name: str, normal: str) -> None:
    assert pypi.normalise_name(name) == normal


@pytest.mark.parametrize("name", ["", "-x", "x-", "a b", "../x", "x/y", "é", "a" * 201])
def test_invalid_names(name: str) -> None:
    with pytest.raises(errors.InvalidPackage, match="not a valid PyPI project name"):
        pypi.normalise_name(name)


@pytest.mark.parametrize(
    ("registry", "base"),
    [
        (None, "https://pypi.org"),
        ("https://pypi.org/", "https://pypi.org"),
        ("http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080"),
        ("https://host/repo/simple", "https://host/repo"),
    ],
)
def test_index_base(registry: str | None, base: str) -> None:
    assert pypi.index_base(registry) == base


REL = releases("0.9", "1.0", "1.1", "1.2rc1", "1.3", "2.0b1", yanked=("1.3",))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", "1.1"),
        ("1.0", "1.0"),
        ("1.0.0", "1.0"),
        ("==1.3", "1.3"),  # yanked, but pinned exactly
        ("1.3", "1.3"),
        (">=1.0,<2", "1.1"),
        ("~=1.0", "1.1"),
        ("<1.1", "1.0"),
        (">=1.2rc1,<1.3", "1.2rc1"),
        (">1.1", "2.0b1"),  # only prereleases match: take them
        ("==1.*", "1.1"),
        ("!=1.1,<1.2", "1.0"),
        ("===0.9", "0.9"),
    ],
)
def test_select_version(spec: str, expected: str) -> None:
    version, latest = pypi.select_version("tool", spec, REL, where=BASE)
    assert version == expected
    assert latest == "1.1"  # newest final, non-yanked


def test_select_version_only_prereleases() -> None:
    version, latest = pypi.select_version("tool", "latest", releases("1.0a1", "1.0b2"), where=BASE)
    assert (version, latest) == ("1.0b2", None)


def test_select_version_errors() -> None:
    with pytest.raises(errors.VersionNotFound, match=r"no release '3.0'.*available versions: 2.0b1, 1.2rc1"):
        pypi.select_version("tool", "3.0", REL, where=BASE)
    with pytest.raises(errors.VersionNotFound, match="satisfies '>=5'"):
        pypi.select_version("tool", ">=5", REL, where=BASE)
    with pytest.raises(errors.VersionNotFound, match="no installable"):
        pypi.select_version("tool", "latest", releases("1.0", yanked=("1.0",)), where=BASE)
    with pytest.raises(errors.InvalidSpec, match="PEP 440"):
        pypi.select_version("tool", "^1.0", REL, where=BASE)
    bad = {"junk": files("junk", "tool-junk.tar.gz"), "1.0": []}
    with pytest.raises(errors.VersionNotFound):
        pypi.select_version("tool", "latest", bad, where=BASE)


def test_select_file_prefers_pure_py3_wheels() -> None:
    chosen = pypi.select_file(
        files(
            "1.0",
            "tool-1.0.tar.gz",
            "tool-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "tool-1.0-py2.py3-none-any.whl",
            "tool-1.0-py3-none-any.whl",
        )
    )
    assert chosen is not None
    assert chosen.filename.endswith("-none-any.whl")
    chosen = pypi.select_file(files("1.0", "tool-1.0-py2.py3-none-any.whl", "tool-1.0.tar.gz"))
    assert chosen is not None
    assert chosen.filename == "tool-1.0-py2.py3-none-any.whl"
    chosen = pypi.select_file(files("1.0", "tool-1.0.zip", "tool-1.0.tar.gz", "tool-1.0-py2-none-any.whl"))
    assert chosen is not None
    assert chosen.filename == "tool-1.0.tar.gz"
    assert pypi.select_file(files("1.0", "tool-1.0-cp311-cp311-win_amd64.whl", "tool-1.0.exe")) is None
    assert pypi.select_file(files("1.0", "not-a-wheel.whl")) is None


def test_entry_points_parsing() -> None:
    text = "[console_scripts]\nMy-Tool = my_tool:main\nother=x:y\n\n[gui_scripts]\ng = a:b\n"
    assert pypi.scripts_from_entry_points(text) == ["My-Tool", "other"]
    assert pypi.scripts_from_entry_points("[gui_scripts]\ng = a:b\n") == []
    assert pypi.scripts_from_entry_points("garbage without section") == []
    assert pypi._pick_script("my-tool", ["other", "My_Tool"]) == ("My_Tool",)
    assert pypi._pick_script("my-tool", ["b", "a"]) == ("b",)
    assert pypi._pick_script("my-tool", []) == ()


def test_scripts_from_archives() -> None:
    wheel = build_wheel("Demo.Pkg", "1.0", console_scripts={"demo": "demo_pkg:main", "x": "y:z"})
    assert pypi.scripts_from_wheel(wheel.data) == ["demo", "x"]
    assert pypi.scripts_from_wheel(build_wheel("plain", "1.0", console_scripts={}).data) == []
    sdist = build_sdist("demo", "1.0", console_scripts={"demo-cli": "demo:main"})
    assert pypi.scripts_from_sdist(sdist.data) == ["demo-cli"]


def test_scripts_from_setup_cfg_sdist() -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    cfg = b"[metadata]\nname = old\n\n[options.entry_points]\nconsole_scripts =\n    old-tool = old:main\n"
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in [("old-1.0/pyproject.toml", b"not = [valid"), ("old-1.0/setup.cfg", cfg)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert pypi.scripts_from_sdist(buffer.getvalue()) == ["old-tool"]


class Index:
    """A fake index serving the JSON API, the PEP 691 JSON simple API, or PEP 503 HTML."""

    def __init__(self, mode: str, artifacts: dict[str, bytes], *, yanked: tuple[str, ...] = ()) -> None:
        self.mode = mode
        self.artifacts = artifacts
        self.yanked = yanked
        self.paths: list[str] = []

    def yank_attr(self, filename: str) -> str:
        return " data-yanked" if filename in self.yanked else ""

    def sha(self, filename: str) -> str:
        return hashlib.sha256(self.artifacts[filename]).hexdigest()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        if path.startswith("/files/"):
            return httpx.Response(200, content=self.artifacts[path.removeprefix("/files/")])
        project = "demo-tool"
        if path == f"/pypi/{project}/json" and self.mode == "json":
            rels: dict[str, list[dict[str, Any]]] = {}
            for filename in self.artifacts:
                version = filename.split("-")[1].removesuffix(".tar.gz")
                rels.setdefault(version, []).append(
                    {
                        "filename": filename,
                        "url": f"https://files.example/files/{filename}",
                        "digests": {"sha256": self.sha(filename)},
                        "yanked": filename in self.yanked,
                    }
                )
            return httpx.Response(200, json={"info": {"name": "Demo_Tool"}, "releases": rels})
        if path == f"/simple/{project}/" and self.mode == "pep691":
            entries = [
                {
                    "filename": f,
                    "url": f"../../files/{f}",
                    "hashes": {"sha256": self.sha(f)},
                    "yanked": "bad" if f in self.yanked else False,
                }
                for f in self.artifacts
            ]
            return httpx.Response(
                200,
                json={"meta": {"api-version": "1.0"}, "name": project, "files": entries},
                headers={"Content-Type": "application/vnd.pypi.simple.v1+json"},
            )
        if path == f"/simple/{project}/" and self.mode == "html":
            links = "".join(
                f'<a href="/files/{f}#sha256={self.sha(f)}"{self.yank_attr(f)}>{f}</a>'
                for f in self.artifacts
            )
            links += '<a>no href</a><a href="/files/other-1.0.tar.gz">other</a>'
            return httpx.Response(
                200, text=f"<html><body>{links}</body></html>", headers={"Content-Type": "text/html"}
            )
        return httpx.Response(404)


def artifacts() -> dict[str, bytes]:
    result: dict[str, bytes] = {}
    for version in ["1.0.0", "1.1.0", "2.0.0"]:
        wheel = build_wheel("Demo_Tool", version)
        result[wheel.filename] = wheel.data
    sdist = build_sdist("Demo_Tool", "2.1.0")
    result[sdist.filename] = sdist.data
    return result


@pytest.mark.parametrize("mode", ["json", "pep691", "html"])
async def test_resolve_against_each_index_flavour(mode: str) -> None:
    pypi._NO_JSON_API.clear()
    pypi._COMMAND_CACHE.clear()
    index = Index(mode, artifacts(), yanked=("demo_tool-2.1.0.tar.gz",))
    async with httpx.AsyncClient(transport=httpx.MockTransport(index)) as client:
        latest = await resolve("pypi", "demo.tool", "latest", registry=BASE, client=client)
        ranged = await resolve("pypi", "Demo_Tool", ">=1,<2", registry=BASE + "/simple/", client=client)
        yanked = await resolve("pypi", "demo-tool", "==2.1.0", registry=BASE, client=client)
    wheel = "Demo_Tool-2.0.0-py3-none-any.whl"
    assert latest.version == "2.0.0"
    assert latest.latest == "2.0.0"
    assert latest.integrity == f"sha256:{index.sha(wheel)}"
    assert latest.artifact_url.endswith(f"/files/{wheel}")
    assert latest.command == ("demo-tool",)
    assert ranged.version == "1.1.0"
    assert yanked.version == "2.1.0"
    assert yanked.artifact_url.endswith(".tar.gz")
    assert yanked.command == ("demo-tool",)
    if mode != "json":
        assert BASE in pypi._NO_JSON_API


async def test_not_found_and_auth() -> None:
    pypi._NO_JSON_API.clear()
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(404))) as client:
        with pytest.raises(errors.PackageNotFound, match=r"'nope' was not found in https://pypi\.example"):
            await resolve("pypi", "nope", "latest", registry=BASE, client=client)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(401))) as client:
        with pytest.raises(errors.RegistryAuthFailed):
            await resolve("pypi", "nope", "latest", registry=BASE, client=client)


async def test_json_api_oddities_fall_back_to_simple() -> None:
    pypi._NO_JSON_API.clear()
    pypi._COMMAND_CACHE.clear()
    index = Index("html", artifacts())

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/pypi/"):
            return httpx.Response(200, content=b"<html>not json</html>")
        return index(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        result = await resolve("pypi", "demo-tool", "1.0.0", registry=BASE, client=client)
    assert result.version == "1.0.0"


async def test_artifact_problems() -> None:
    pypi._NO_JSON_API.clear()
    pypi._COMMAND_CACHE.clear()
    body = {
        "releases": {
            "1.0": [{"filename": "t-1.0-cp311-cp311-win_amd64.whl", "url": f"{BASE}/a", "digests": {}}],
            "2.0": [{"filename": "t-2.0-py3-none-any.whl", "url": f"{BASE}/b", "digests": {}}],
            "3.0": [
                {"filename": "t-3.0-py3-none-any.whl", "url": f"{BASE}/c", "digests": {"sha256": "a" * 64}}
            ],
            "4.0": [
                {"filename": "t-4.0-py3-none-any.whl", "url": f"{BASE}/d", "digests": {"sha256": "b" * 64}}
            ],
            "5.0": ["junk", {"filename": 3}],
        }
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/pypi/t/json":
            return httpx.Response(200, json=body)
        if request.url.path == "/c":
            return httpx.Response(200, content=b"corrupt")
        if request.url.path == "/d":
            return httpx.Response(200, content=b"x")
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(errors.InvalidPackage, match="neither a pure-Python wheel nor an sdist"):
            await resolve("pypi", "t", "1.0", registry=BASE, client=client)
        with pytest.raises(errors.InvalidPackage, match="no sha256"):
            await resolve("pypi", "t", "2.0", registry=BASE, client=client)
        with pytest.raises(errors.InvalidPackage, match="does not match the sha256"):
            await resolve("pypi", "t", "3.0", registry=BASE, client=client)
        client_ = pypi.PypiClient(client, BASE, cache=None)
        bogus = PyFile("t-4.0-py3-none-any.whl", f"{BASE}/d", hashlib.sha256(b"x").hexdigest(), "4.0")
        with pytest.raises(errors.InvalidPackage, match="not a readable archive"):
            await client_.command_of("t", bogus)
        with pytest.raises(errors.InvalidPackage, match="larger than"):
            await client_.download(bogus, limit=0)
        missing = PyFile("t-4.0-py3-none-any.whl", f"{BASE}/missing", None, "4.0")
        with pytest.raises(errors.RegistryUnavailable, match="HTTP 404"):
            await client_.download(missing)


async def test_empty_project_and_bad_pep691() -> None:
    pypi._NO_JSON_API.clear()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/pypi/e/json":
            return httpx.Response(200, json={"releases": {"1.0": []}})
        if request.url.path == "/simple/bad/":
            return httpx.Response(
                200, content=b"{", headers={"Content-Type": "application/vnd.pypi.simple.v1+json"}
            )
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(errors.PackageNotFound, match="has no files"):
            await resolve("pypi", "e", "latest", registry=BASE, client=client)
        with pytest.raises(errors.InvalidPackage, match="unreadable JSON"):
            await resolve("pypi", "bad", "latest", registry=BASE, client=client)


async def test_command_is_cached_per_digest() -> None:
    pypi._COMMAND_CACHE.clear()
    wheel = build_wheel("c", "1.0")
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        return httpx.Response(200, content=wheel.data)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        client_ = pypi.PypiClient(client, BASE, cache=None, retry=http.RetryPolicy(attempts=1))
        f = PyFile(wheel.filename, f"{BASE}/w", wheel.sha256, "1.0")
        assert await client_.command_of("c", f) == ("c",)
        assert await client_.command_of("c", f) == ("c",)
    assert hits == ["/w"]
    assert json.dumps(list(pypi._COMMAND_CACHE.values())) == '[["c"]]'
