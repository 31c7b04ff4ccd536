"""Integrity strings: npm SRI and sha256:<hex>."""

from __future__ import annotations

import base64
import hashlib

import pytest

from mcp_operator.registries.integrity import Integrity, IntegrityError, npm_integrity, parse_integrity

DATA = b"package bytes"
SHA512 = "sha512-" + base64.b64encode(hashlib.sha512(DATA).digest()).decode()
SHA1 = "sha1-" + base64.b64encode(hashlib.sha1(DATA).digest()).decode()
SHA256_HEX = "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_sri_roundtrip_and_check() -> None:
    integrity = parse_integrity(SHA512)
    assert integrity.algorithm == "sha512"
    assert integrity.sri == SHA512
    assert integrity.of(DATA)
    assert not integrity.of(DATA + b"!")


def test_hex_roundtrip() -> None:
    integrity = parse_integrity(SHA256_HEX)
    assert integrity.hex == SHA256_HEX
    assert integrity.of(DATA)
    assert parse_integrity(SHA256_HEX.upper().replace("SHA256", "sha256")).of(DATA)


def test_strongest_of_several_wins() -> None:
    assert parse_integrity(f"{SHA1} {SHA512}?opts").algorithm == "sha512"
    assert parse_integrity(f"{SHA512} {SHA1}").algorithm == "sha512"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "md5-abcd",
        "sha512-!!!!",
        "sha512-AAAA",  # wrong length
        "sha256:abc",  # odd hex
        "sha256:" + "0" * 62,
        "sha512-" + "A" * 85 + "=",  # bad padding
        "x" * 5000,
    ],
)
def test_invalid(bad: str) -> None:
    with pytest.raises(IntegrityError):
        parse_integrity(bad)


def test_npm_dist_integrity() -> None:
    assert npm_integrity({"integrity": SHA512, "shasum": "0" * 40}) == SHA512
    shasum = hashlib.sha1(DATA).hexdigest()
    assert npm_integrity({"shasum": shasum}) == SHA1
    assert npm_integrity({"integrity": "garbage", "shasum": shasum}) == SHA1
    assert npm_integrity({"shasum": "nothex"}) is None
    assert npm_integrity({}) is None


def test_integrity_value_object() -> None:
    integrity = Integrity("sha256", hashlib.sha256(DATA).digest())
    hasher = integrity.hasher()
    hasher.update(DATA)
    assert integrity.matches(hasher.digest())
