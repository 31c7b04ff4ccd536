"""Errors raised by the registry clients.

Every error carries a CamelCase ``reason`` (used as a condition reason) and a ``transient`` flag
(whether retrying later can help). Messages say what is wrong and what to do about it.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class: a registry could not give what was asked."""

    reason: str = "RegistryError"
    transient: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PackageNotFound(RegistryError):
    reason = "PackageNotFound"
    transient = False


class VersionNotFound(RegistryError):
    reason = "VersionNotFound"
    transient = False


class RegistryUnavailable(RegistryError):
    reason = "RegistryUnavailable"
    transient = True


class RegistryAuthFailed(RegistryError):
    reason = "RegistryAuthFailed"
    transient = False


class InvalidPackage(RegistryError):
    reason = "InvalidPackage"
    transient = False


class InvalidSpec(RegistryError):
    """spec.source is unusable as written: a version spec or registry URL that cannot work."""

    reason = "InvalidSpec"
    transient = False
