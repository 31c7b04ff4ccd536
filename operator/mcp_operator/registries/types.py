"""Plain data shared by the registry clients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    """Optional registry credentials: a token, or a username and password."""

    username: str | None = None
    password: str | None = None
    token: str | None = None
    # Where they may be sent (registries/binding.py): a registry URL (npm, PyPI) or a registry host
    # (images), from the Secret that holds them. None: only to the registry they were given with.
    registry: str | None = None

    def __repr__(self) -> str:  # never print secrets
        return (
            f"Credentials(username={self.username!r}, password={'***' if self.password else None}, "
            f"token={'***' if self.token else None}, registry={self.registry!r})"
        )


@dataclass(frozen=True)
class Resolution:
    """What a version spec resolves to in a registry."""

    version: str
    latest: str | None
    integrity: str
    artifact_url: str
    command: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """The releases a registry lists for a package: what update checks compare the pin with."""

    versions: tuple[str, ...]  # installable releases (PyPI: not yanked), in the registry's order
    latest: str | None  # npm's 'latest' dist-tag, PyPI's newest final release; None for OCI
    tags: Mapping[str, str] = field(default_factory=dict)  # npm dist-tags that name a listed version
