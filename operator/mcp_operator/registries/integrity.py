"""Integrity strings: npm Subresource Integrity (``sha512-<base64>``) and ``sha256:<hex>`` digests."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Integrity", "IntegrityError", "npm_integrity", "parse_integrity"]

_ALGORITHMS = {"sha512": 64, "sha384": 48, "sha256": 32, "sha1": 20}
_STRENGTH = ["sha1", "sha256", "sha384", "sha512"]
_SRI_RE = re.compile(r"^(sha512|sha384|sha256|sha1)-([A-Za-z0-9+/]+={0,2})(\?\S*)?$")
_HEX_RE = re.compile(r"^(sha512|sha384|sha256|sha1):([0-9a-fA-F]+)$")


class IntegrityError(ValueError):
    """An integrity string that cannot be parsed."""


@dataclass(frozen=True)
class Integrity:
    algorithm: str
    digest: bytes

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    def matches(self, digest: bytes) -> bool:
        import hmac

        return hmac.compare_digest(self.digest, digest)

    @property
    def sri(self) -> str:
        return f"{self.algorithm}-{base64.b64encode(self.digest).decode('ascii')}"

    @property
    def hex(self) -> str:
        return f"{self.algorithm}:{self.digest.hex()}"

    def of(self, data: bytes) -> bool:
        hasher = self.hasher()
        hasher.update(data)
        return self.matches(hasher.digest())


def parse_integrity(text: str) -> Integrity:
    """Parse ``sha512-<base64>`` (SRI, strongest of several wins) or ``sha256:<hex>``."""
    if not isinstance(text, str) or not text.strip() or len(text) > 4096:
        raise IntegrityError(f"integrity {text!r} is empty or too long")
    best: Integrity | None = None
    for token in text.split():
        match = _SRI_RE.match(token)
        if match:
            try:
                digest = base64.b64decode(match[2], validate=True)
            except binascii.Error as exc:
                raise IntegrityError(f"integrity {token!r} is not valid base64") from exc
        else:
            match = _HEX_RE.match(token)
            if not match:
                raise IntegrityError(
                    f"integrity {token!r} is not understood; expected 'sha512-<base64>' or 'sha256:<hex>'"
                )
            digest = bytes.fromhex(match[2]) if len(match[2]) % 2 == 0 else b""
        algorithm = match[1]
        if len(digest) != _ALGORITHMS[algorithm]:
            raise IntegrityError(f"integrity {token!r} has the wrong length for {algorithm}")
        candidate = Integrity(algorithm, digest)
        if best is None or _STRENGTH.index(algorithm) > _STRENGTH.index(best.algorithm):
            best = candidate
    assert best is not None
    return best


def npm_integrity(dist: Mapping[str, object]) -> str | None:
    """``dist.integrity`` of an npm version (strongest hash), else ``sha1-<base64>`` from shasum."""
    integrity = dist.get("integrity")
    if isinstance(integrity, str) and integrity.strip():
        try:
            return parse_integrity(integrity).sri
        except IntegrityError:
            pass
    shasum = dist.get("shasum")
    if isinstance(shasum, str) and re.fullmatch(r"[0-9a-fA-F]{40}", shasum):
        return Integrity("sha1", bytes.fromhex(shasum)).sri
    return None
