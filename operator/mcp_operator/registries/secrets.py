"""Registry credentials from a Kubernetes Secret, only from Secrets made for it (a pure function).

A Secret named in spec.source.registryAuthSecret is used only if it opts in and binds its
credentials to the registry the package names (docs/security.md#registry-credentials):

- npm and PyPI: type `mcp-operator.dev/registry-auth`, key `registry` (the registry URL the
  credentials are for, as `.npmrc` and pip bind them) and `token`, or `username` and `password`;
- images: type `kubernetes.io/dockerconfigjson` (`kubectl create secret docker-registry`), the
  entry for the image's registry host.

Anything else (an Opaque Secret, a service-account token, a TLS Secret) is refused with a message,
so naming a Secret cannot make the operator send what it holds to a registry of one's choosing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from mcp_operator.registries.binding import host_key, url_allowed
from mcp_operator.registries.types import Credentials

REGISTRY_AUTH_TYPE = "mcp-operator.dev/registry-auth"
DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
DOCS = "docs/security.md#registry-credentials"


class CredentialsRefused(ValueError):
    """The Secret is not one the operator may take registry credentials from, or not for this registry."""


def decode(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's data and stringData as text."""
    data: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[str(key)] = base64.b64decode(str(value)).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    data.update({str(k): str(v) for k, v in (secret.get("stringData") or {}).items()})
    return data


def _how(source_type: str) -> str:
    if source_type == "oci":
        return (
            f"images take a Secret of type {DOCKER_CONFIG_TYPE} with an entry for the image's registry "
            f"(kubectl create secret docker-registry); see {DOCS}"
        )
    return (
        f"use a Secret of type {REGISTRY_AUTH_TYPE} with key 'registry' (the registry URL the "
        f"credentials are for) and 'token', or 'username' and 'password'; see {DOCS}"
    )


def credentials_from_secret(
    secret: Mapping[str, Any], *, source_type: str, registry: str, image_host: str | None = None
) -> Credentials:
    """The credentials a Secret holds for `registry` (the effective registry URL of the package;
    for images, `image_host` is its host[:port]), bound to it; CredentialsRefused otherwise."""
    name = str(secret.get("metadata", {}).get("name", ""))
    kind = str(secret.get("type") or "Opaque")
    data = decode(secret)
    if source_type == "oci":
        if kind != DOCKER_CONFIG_TYPE:
            raise CredentialsRefused(
                f"Secret {name!r} has type {kind!r}: the operator takes registry credentials only from "
                f"Secrets made for them; {_how(source_type)}"
            )
        return _docker_entry(name, data, image_host or registry)
    if kind != REGISTRY_AUTH_TYPE:
        raise CredentialsRefused(
            f"Secret {name!r} has type {kind!r}: the operator takes registry credentials only from "
            f"Secrets made for them; {_how(source_type)}"
        )
    bound = (data.get("registry") or "").strip()
    if not bound:
        raise CredentialsRefused(f"Secret {name!r} has no 'registry' key: {_how(source_type)}")
    if not url_allowed(bound, registry):
        raise CredentialsRefused(
            f"Secret {name!r} holds credentials for {bound!r}, not for {registry!r} (spec.source.registry): "
            "the operator sends them only to the registry they are bound to; use a Secret bound to "
            f"{registry!r}"
        )
    token, username, password = data.get("token"), data.get("username"), data.get("password")
    if not token and not (username and password):
        raise CredentialsRefused(
            f"Secret {name!r} has neither a 'token' key nor both 'username' and 'password': add them"
        )
    return Credentials(
        username=username or None, password=password or None, token=token or None, registry=bound
    )


def _docker_entry(name: str, data: Mapping[str, str], host: str) -> Credentials:
    try:
        config = json.loads(data.get(".dockerconfigjson") or "")
        auths = config.get("auths") if isinstance(config, dict) else None
    except ValueError:
        auths = None
    if not isinstance(auths, dict):
        raise CredentialsRefused(
            f"Secret {name!r} has no valid '.dockerconfigjson' with 'auths': {_how('oci')}"
        )
    wanted = host_key(host)
    for key, entry in auths.items():
        if host_key(str(key)) != wanted or not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if (not username or not password) and entry.get("auth"):
            try:
                username, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                username = password = None
        token = entry.get("identitytoken") or entry.get("registrytoken")
        if username and password:
            return Credentials(username=str(username), password=str(password), registry=wanted)
        if token:
            return Credentials(username="<token>", token=str(token), registry=wanted)
        raise CredentialsRefused(f"Secret {name!r}: the entry for {wanted} has no credentials in it")
    raise CredentialsRefused(
        f"Secret {name!r} has no entry for the registry {wanted}: the operator sends its credentials "
        "only to the registries it names; add one "
        f"(kubectl create secret docker-registry --docker-server={wanted})"
    )
