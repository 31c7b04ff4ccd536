"""The docs checker's reading of console blocks and its idea of an output's shape."""

from __future__ import annotations

from pathlib import Path

from tests.docs.console import blocks, shape_mismatch

DOC = """\
Intro.

```console
$ kubectl get mcp -n mcp
NAME                 VERSION      READY   AGE
mcpserver/time       2026.10.19   1/1     41s
$ kubectl patch mcpserver time -n mcp --type merge \\
    -p '{"spec":{"enabled":false}}'
```

<!-- docs-check: skip: needs Docker -->
```console
$ docker build .
```
"""


def test_blocks_commands_outputs_and_skips(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    first, second = blocks(doc)
    assert [c.text for c in first.commands] == [
        "kubectl get mcp -n mcp",
        """kubectl patch mcpserver time -n mcp --type merge  -p '{"spec":{"enabled":false}}'""",
    ]
    assert first.commands[0].output[1].startswith("mcpserver/time")
    assert first.skip is None
    assert second.skip is not None
    assert "Docker" in second.skip


def test_shapes_allow_volatile_values_only() -> None:
    shown = ["NAME   VERSION   READY   AGE", "mcpserver/time   2026.10.19   1/1   41s"]
    assert shape_mismatch(shown, "NAME VERSION READY AGE\nmcpserver/time  2027.1.2  0/1  3m2s\n") is None
    assert shape_mismatch(shown, "NAME VERSION READY AGE\nmcpserver/other 2027.1.2 0/1 3s\n") is not None
    assert shape_mismatch(shown, "NAME VERSION AGE\nmcpserver/time 1.0 1/1 3s\n") is not None
    assert shape_mismatch(["created"], "") == "no line shaped like 'created'"
