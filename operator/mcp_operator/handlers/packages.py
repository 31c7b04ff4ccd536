"""MCPPackage: resolve spec.source.version to an exact, pinned version."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from mcp_operator import registries
from mcp_operator.handlers import state
from mcp_operator.handlers.errors import describe_validation
from mcp_operator.models import GROUP, VERSION, MCPPackageSpec, MCPPackageStatus
from mcp_operator.registries.errors import RegistryError
from mcp_operator.registries.types import Credentials
from mcp_operator.render import package_status

PLURAL = "mcppackages"


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


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def resolve_package(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    namespace: str | None,
    patch: kopf.Patch,
    retry: int,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    generation, namespace = meta.get("generation"), namespace or ""
    old = MCPPackageStatus.model_validate(dict(status))
    try:
        parsed = MCPPackageSpec.model_validate(dict(spec))
    except ValidationError as exc:
        message = describe_validation(exc, "MCPPackage")
        patch.status.update(
            package_status.failed(old, generation, reason="InvalidSpec", message=message, transient=False)
        )
        kopf.warn(body, reason="InvalidSpec", message=message)
        return

    key = package_status.source_key(parsed.source)
    if old.resolved_version and old.resolved_spec == key:
        patch.status.update(package_status.kept(parsed, old, generation))
        return

    try:
        creds = await credentials(namespace, parsed.source.registry_auth_secret)
        found = await registries.resolve(
            parsed.source.type,  # type: ignore[arg-type]
            parsed.source.package,
            parsed.source.version,
            registry=parsed.source.registry,
            credentials=creds,
            client=state.get().http,
        )
    except SecretProblem as exc:
        patch.status.update(
            package_status.failed(old, generation, reason="SecretNotFound", message=str(exc), transient=True)
        )
        kopf.warn(body, reason="SecretNotFound", message=str(exc))
        raise kopf.TemporaryError(str(exc), delay=state.backoff(retry, base=15)) from exc
    except RegistryError as exc:
        message = str(exc)
        # Credentials live in a Secret the user may fix without touching this spec: keep trying.
        auth_fixable = exc.reason == "RegistryAuthFailed" and bool(parsed.source.registry_auth_secret)
        transient = exc.transient or auth_fixable
        patch.status.update(
            package_status.failed(old, generation, reason=exc.reason, message=message, transient=transient)
        )
        kopf.warn(body, reason=exc.reason, message=message)
        if transient:
            delay = state.backoff(retry, base=60 if auth_fixable else 5)
            raise kopf.TemporaryError(message, delay=delay) from exc
        raise kopf.PermanentError(message) from exc

    patch.status.update(
        package_status.resolved(
            parsed,
            old,
            generation,
            version=found.version,
            latest=found.latest,
            integrity=found.integrity,
            artifact_url=found.artifact_url,
            command=found.command,
        )
    )
    kopf.event(
        body,
        type="Normal",
        reason="Resolved",
        message=f"{parsed.source.package} {parsed.source.version} resolved to {found.version}",
    )
    logger.info("resolved %s %s to %s", parsed.source.package, parsed.source.version, found.version)
