"""Registry credentials from the Secret an MCPPackage names, only if the Secret is made for them
and bound to the package's registry (registries/secrets.py decides)."""

from __future__ import annotations

from mcp_operator import registries
from mcp_operator.handlers import state
from mcp_operator.models import Source
from mcp_operator.registries.secrets import CredentialsRefused, credentials_from_secret
from mcp_operator.registries.types import Credentials


class SecretProblem(Exception):
    """The registry credentials Secret is missing, not made for registry credentials, or for
    another registry."""


async def credentials(namespace: str, source: Source) -> Credentials | None:
    secret = source.registry_auth_secret
    if not secret:
        return None
    obj = await state.get().kube.get("v1", "Secret", namespace, secret)
    if obj is None:
        raise SecretProblem(
            f"Secret {secret!r} named in spec.source.registryAuthSecret does not exist in namespace "
            f"{namespace!r}: create it (docs/security.md#registry-credentials)"
        )
    registry, image_host = registries.effective_registry(str(source.type), source.package, source.registry)
    try:
        return credentials_from_secret(
            obj, source_type=str(source.type), registry=registry, image_host=image_host
        )
    except CredentialsRefused as exc:
        raise SecretProblem(str(exc)) from None
