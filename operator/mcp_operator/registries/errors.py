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


class TooLarge(InvalidPackage):
    """A registry sent more than the operator reads: a document or artifact over its size cap, or an
    archive that unpacks to too much or holds too many files (registries/bounded.py). The message
    names the cap and the setting that raises it."""


class TooSlow(RegistryUnavailable):
    """A registry answer did not finish within the deadline of one request (a server trickling
    bytes, or sending without end); retried later like any unavailable registry."""


class InvalidSpec(RegistryError):
    """spec.source is unusable as written: a version spec or registry URL that cannot work."""

    reason = "InvalidSpec"
    transient = False
