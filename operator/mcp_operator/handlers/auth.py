"""Registry credentials from the Secret an MCPPackage names."""

from __future__ import annotations

from mcp_operator.handlers import state
from mcp_operator.registries.types import Credentials


class SecretProblem(Exception):
    """The registry credentials Secret is missing or incomplete."""


async def credentials(namespace: str, secret: str | None) -> Credentials | None:
    if not secret:
        return None
    data = await state.get().kube.read_secret(namespace, secret)
    if data is None:
        raise SecretProblem(
            f"Secret {secret!r} named in spec.source.registryAuthSecret does not exist in namespace "
            f"{namespace!r}: create it with key 'token', or keys 'username' and 'password'"
        )
    if not data.get("token") and not (data.get("username") and data.get("password")):
        raise SecretProblem(
            f"Secret {secret!r} has neither a 'token' key nor both 'username' and 'password': "
            "add them to the Secret"
        )
    return Credentials(username=data.get("username"), password=data.get("password"), token=data.get("token"))
