"""kopf handlers: thin, they parse, call render/ and k8s, and write status."""

from mcp_operator.handlers import lifecycle, packages, servers

__all__ = ["lifecycle", "packages", "servers"]
