"""mcp-operator: run MCP servers on Kubernetes."""
