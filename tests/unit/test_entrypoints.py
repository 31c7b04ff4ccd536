"""The `mcp-operator` command: dispatch, help, errors a user can make."""

from __future__ import annotations

import pytest

from mcp_operator.__main__ import main
from mcp_operator.runner import parse


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "bridge", "install", "crds"):
        assert f"  {command}" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: mcp-operator COMMAND" in capsys.readouterr().out


def test_unknown_command_says_what_exists(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err
    assert "bridge" in err


def test_crds_print_dispatches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crds", "print"]) == 0
    out = capsys.readouterr().out
    assert "name: mcppackages.mcp-operator.dev" in out
    assert "name: mcpservers.mcp-operator.dev" in out


def test_install_dispatches_to_the_installer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--help"]) == 0
    assert "--integrity" in capsys.readouterr().out


def test_run_options() -> None:
    assert parse([]).namespace == []
    assert parse(["-n", "a", "-n", "b"]).namespace == ["a", "b"]
    assert parse(["-A"]).all_namespaces is True
    with pytest.raises(SystemExit):
        parse(["-n", "a", "-A"])  # one scope or the other
