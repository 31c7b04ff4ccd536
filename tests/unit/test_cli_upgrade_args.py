"""`mcp-operator upgrade` arguments: refused combinations say what to do, and the namespace defaults
to the current context's, as with kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mcp_operator.cli.upgrade import parse
from mcp_operator.k8s import Kube


def kubeconfig(path: Path, namespace: str | None) -> Path:
    context: dict[str, str] = {"cluster": "c", "user": "u"}
    if namespace is not None:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": context}],
                "current-context": "ctx",
            }
        )
    )
    return path


@pytest.mark.parametrize(("namespace", "expected"), [("team-a", "team-a"), (None, "default")])
async def test_the_namespace_is_the_current_contexts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, namespace: str | None, expected: str
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "config", namespace)))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    args = parse(["everything"])
    assert args.namespace is None  # not "default": the context decides
    kube = Kube.from_env()
    try:
        assert kube.default_namespace == expected
    finally:
        await kube.close()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "name one MCPPackage, or use --all"),
        (["a", "--all"], "name one MCPPackage, or use --all"),
        (["--all", "--to", "1.0.0"], "--to applies to one package"),
        (["a", "-A"], "-A goes with --all"),
        (["a", "--concurrency", "0"], "--concurrency must be 1 or more"),
        (["a", "--timeout", "soon"], "--timeout:"),
    ],
)
def test_refused_arguments_say_what_to_do(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
