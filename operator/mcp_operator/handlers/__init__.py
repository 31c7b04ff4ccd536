"""kopf handlers: watch events fill a cache and a queue; the controller's workers reconcile."""

from mcp_operator.handlers import lifecycle, watch

__all__ = ["lifecycle", "watch"]
