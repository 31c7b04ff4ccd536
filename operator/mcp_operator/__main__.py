"""`mcp-operator` command: `run` (the operator), `bridge` (stdio-to-HTTP), `install` (init container)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: mcp-operator COMMAND [ARGS...]

commands:
  run        run the operator (kopf) against the current Kubernetes context
  bridge     serve a stdio MCP server over Streamable HTTP and SSE: mcp-operator bridge -- CMD [ARGS...]
  install    install one pinned package into a directory (what the init container runs)
  crds       print or check the CustomResourceDefinitions generated from the models
  upgrade    upgrade an MCPPackage (or --all) and wait for the result: mcp-operator upgrade NAME [--to V]
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        from mcp_operator.runner import main as run_main

        return run_main(rest)
    if command == "bridge":
        from mcp_operator.bridge.cli import main as bridge_main

        return bridge_main(rest)
    if command == "install":
        from mcp_operator.installer import main as install_main

        return install_main(rest)
    if command == "upgrade":
        from mcp_operator.cli.upgrade import main as upgrade_main

        return upgrade_main(rest)
    if command == "crds":
        from mcp_operator.crds import main as crds_main

        return crds_main(rest)
    print(f"mcp-operator: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
