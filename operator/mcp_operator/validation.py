"""Grammar of the user's input: package names, versions, registries, image references.

Each rule exists twice on purpose: as a regular expression the API server enforces through the
CRD schema (Go RE2 syntax: no look-arounds), and as a Python check that gives a precise message.
The patterns here are the ones the CRDs carry, so the two can never drift apart.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

# npm: lower case, URL-safe, optional @scope/, at most 214 characters, no leading dot or underscore.
NPM_NAME = r"^(@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*$"
NPM_NAME_MAX = 214
# PyPI project names (PEP 508): letters, digits, . _ -; start and end alphanumeric.
PYPI_NAME = r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$"
# OCI image repository, optionally with a registry host[:port] in front (no tag or digest here).
_OCI_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_OCI_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_OCI_DOMAIN = rf"(?:{_OCI_LABEL})(?:\.(?:{_OCI_LABEL}))*(?::[0-9]+)?"
OCI_REPOSITORY = rf"^(?:{_OCI_DOMAIN}/)?{_OCI_COMPONENT}(?:/{_OCI_COMPONENT})*$"
OCI_TAG = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
# Exact semantic version (npm), with an optional leading v that npm tolerates.
SEMVER = (
    r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
# Characters any version field may hold: covers npm ranges, PEP 440 specifiers and OCI tags.
VERSION_CHARS = r"^[A-Za-z0-9.+^~<>=|*!, _-]{1,128}$"
# One npm range comparator: operator and a (partial) version with x/* wildcards.
_NPM_PARTIAL = r"v?(?:[0-9]+|[xX*])(?:\.(?:[0-9]+|[xX*])){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
_NPM_OP = r"(?:\^|~>?|[<>]=?|=)"
_NPM_COMPARATOR = rf"(?:{_NPM_OP}\s*)?{_NPM_PARTIAL}"
_NPM_SET = rf"(?:{_NPM_PARTIAL}\s+-\s+{_NPM_PARTIAL}|{_NPM_COMPARATOR}(?:\s+{_NPM_COMPARATOR})*)"
# A whole npm range: comparator sets joined by ||, or 'latest' (checked by the CRD's CEL rule).
NPM_RANGE = rf"^\s*(?:latest|{_NPM_SET})(?:\s*\|\|\s*{_NPM_SET})*\s*$"
_PEP440_RELEASE = r"(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*"
_PEP440_SUFFIX = (
    r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"
    r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
    r"(?:[-_.]?dev[-_.]?[0-9]*)?"
)
_PEP440_LOCAL = r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?"
_PEP440_PUBLIC = rf"v?{_PEP440_RELEASE}{_PEP440_SUFFIX}"
_PEP440_VERSION = rf"{_PEP440_PUBLIC}{_PEP440_LOCAL}"
_PEP440_CLAUSE = (
    rf"\s*(?:(?:==|!=)\s*(?:{_PEP440_VERSION}|v?{_PEP440_RELEASE}\.\*)"  # == and != may end in .*
    rf"|~=\s*v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)+{_PEP440_SUFFIX}"  # ~= needs two release parts
    rf"|(?:<=|>=|<|>)\s*{_PEP440_PUBLIC}"  # a local label only after == and !=
    r"|===\s*[A-Za-z0-9._+!-]+)\s*"
)
# An exact PEP 440 version or a specifier set like '>=1.2,<2' (case-insensitive; 'latest' apart).
PEP440_SPEC = rf"^(?:{_PEP440_VERSION}|{_PEP440_CLAUSE}(?:,{_PEP440_CLAUSE})*)$"
REGISTRY_URL = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+-]*)?$"
# A URL with user information (user:password@ or token@) before its host: credentials in the spec.
REGISTRY_CREDENTIALS = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*@.*$"
# Kubernetes object names: a subdomain (most objects, MCPPackage), a label (namespaces), and an
# RFC 1035 label (Services: it must start with a letter). An MCPServer's name is its Service's.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
DURATION = r"^([0-9]+(s|m|h|d))+$"

_npm_name = re.compile(NPM_NAME)
_pypi_name = re.compile(PYPI_NAME)
_oci_repo = re.compile(OCI_REPOSITORY)
_oci_tag = re.compile(OCI_TAG)
_semver = re.compile(SEMVER)
_version_chars = re.compile(VERSION_CHARS)
_npm_range = re.compile(NPM_RANGE)
_pep440_spec = re.compile(PEP440_SPEC, re.IGNORECASE)
_registry_url = re.compile(REGISTRY_URL)
_registry_credentials = re.compile(REGISTRY_CREDENTIALS)
_dns1035_label = re.compile(DNS1035_LABEL)
_duration_part = re.compile(r"([0-9]+)(s|m|h|d)")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class InputError(ValueError):
    """Bad input from a user. The message says what is wrong and what to write instead."""


def _require(pattern: re.Pattern[str], value: str, message: str) -> str:
    if not pattern.fullmatch(value):
        raise InputError(message)
    return value


def check_npm_name(name: str) -> str:
    if len(name) > NPM_NAME_MAX:
        raise InputError(f"npm package name is {len(name)} characters long; npm allows at most 214")
    return _require(
        _npm_name,
        name,
        f"{name!r} is not a valid npm package name: use lower-case letters, digits and - . _ ~, "
        "optionally with a scope, like 'left-pad' or '@scope/name'",
    )


def check_pypi_name(name: str) -> str:
    return _require(
        _pypi_name,
        name,
        f"{name!r} is not a valid PyPI project name: use letters, digits and . _ -, "
        "starting and ending with a letter or digit, like 'mcp-server-time'",
    )


def check_oci_repository(name: str) -> str:
    if "@" in name or (":" in name.rsplit("/", 1)[-1]):
        raise InputError(
            f"{name!r} includes a tag or digest: put only the repository in spec.source.package "
            "(like 'ghcr.io/org/server') and the tag in spec.source.version"
        )
    if len(name) > 255 or not _oci_repo.fullmatch(name):
        raise InputError(
            f"{name!r} is not a valid image repository: use lower-case path components separated by /, "
            "optionally after a registry host, like 'ghcr.io/org/server' or 'mcp/time'"
        )
    return name


def is_exact_semver(version: str) -> bool:
    return bool(_semver.fullmatch(version))


def check_npm_version(spec: str) -> str:
    """Accept 'latest', a dist-tag-free exact version, or an npm semver range."""
    if spec == "latest" or is_exact_semver(spec):
        return spec
    if not _npm_range.fullmatch(spec):
        raise InputError(
            f"{spec!r} is not an npm version or range: write 'latest', an exact version like "
            "'1.2.3', or a range like '^1.2.0', '~1.2', '>=1.0.0 <2.0.0' or '1.x'"
        )
    return spec


def check_pypi_version(spec: str) -> str:
    """Accept 'latest', an exact PEP 440 version, or a PEP 440 specifier set."""
    if spec == "latest":
        return spec
    if not _pep440_spec.fullmatch(spec):
        raise InputError(
            f"{spec!r} is not a PEP 440 version or specifier: write 'latest', an exact version like "
            "'1.2.3', or a specifier like '>=1.2,<2' or '~=1.4'"
        )
    try:
        Version(spec)
    except InvalidVersion:
        pass
    else:
        return spec
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        raise InputError(
            f"{spec!r} is not a PEP 440 version or specifier: write 'latest', an exact version like "
            "'1.2.3', or a specifier like '>=1.2,<2' or '~=1.4'"
        ) from None
    return spec


def check_oci_tag(tag: str) -> str:
    return _require(
        _oci_tag,
        tag,
        f"{tag!r} is not a valid image tag: use letters, digits, _ . - (at most 128, not starting "
        "with . or -), like '1.2.3' or 'latest'",
    )


def check_version_chars(spec: str) -> str:
    return _require(
        _version_chars,
        spec,
        f"{spec!r} is not a version: write 'latest', an exact version, or a range "
        "(at most 128 characters of letters, digits and . + ^ ~ < > = | * ! , _ -)",
    )


# The words the CRD's CEL rules say; the checks below say the same, with the offending value.
SERVER_NAME_MESSAGE = (
    "MCPServer names become Service names: use at most 63 lower-case letters, digits and '-', "
    "starting with a letter and ending with a letter or digit (no dots)"
)
REGISTRY_CREDENTIALS_MESSAGE = (
    "spec.source.registry must not contain credentials (user:password@): put them in a Secret "
    "and name it in spec.source.registryAuthSecret"
)
REGISTRY_URL_MESSAGE = (
    "spec.source.registry is not a registry URL: write http:// or https://, a host, an optional "
    "port and path, without query or fragment, like 'https://registry.example.com/npm/'"
)


def check_server_name(name: str) -> str:
    """An MCPServer's name, which its Deployment, Service and NetworkPolicy carry: a DNS-1035 label."""
    if len(name) > DNS_LABEL_MAX:
        why = f"is {len(name)} characters long"
    elif "." in name:
        why = "contains a dot"
    elif _dns1035_label.fullmatch(name):
        return name
    elif not name[:1].isalpha():
        why = "does not start with a letter"
    elif name.endswith("-"):
        why = "ends with '-'"
    else:
        why = "holds characters other than lower-case letters, digits and '-'"
    raise InputError(
        f"MCPServer name {name!r} {why}. {SERVER_NAME_MESSAGE}; create the server again under such "
        "a name and delete this one"
    )


def check_registry_url(url: str) -> str:
    """spec.source.registry: an http(s) URL without credentials (they belong in a Secret)."""
    if _registry_credentials.fullmatch(url):  # never quote it: it holds a password or a token
        raise InputError(REGISTRY_CREDENTIALS_MESSAGE.removeprefix("spec.source.registry "))
    if not _registry_url.fullmatch(url):
        raise InputError(f"{url!r}" + REGISTRY_URL_MESSAGE.removeprefix("spec.source.registry"))
    return url


def parse_duration(text: str) -> int:
    """'90s', '15m', '1h30m', '7d' -> seconds."""
    if not re.fullmatch(DURATION.strip("^$"), text):
        raise InputError(f"{text!r} is not a duration: write it like '30m', '6h', '1h30m' or '7d'")
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in _duration_part.findall(text))
    if seconds <= 0:
        raise InputError(f"{text!r} is zero: an interval must be at least one second")
    return seconds
