"""Where registry credentials may go: the registry they are bound to, the standard way.

npm and PyPI credentials are bound to a registry URL, as `.npmrc` (`//host[:port]/path/:_authToken`)
and pip (the index URL) bind them: a request gets them only if it goes to the same scheme, host
and port and to a path under the bound one. Image credentials are bound to a registry host, as
`.dockerconfigjson` keys them. A binding with `http://` is the Secret owner's explicit consent to
send the credentials without TLS; an `https://` binding never matches a plain-http URL, so a
redirect or a registry URL that drops TLS gets no credentials.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


def url_allowed(binding: str, url: str) -> bool:
    """Does a URL binding (a registry URL) cover `url`? Same scheme, host and port; the path at or
    under the bound path."""
    bound, target = _origin(binding), _origin(url)
    if bound is None or target is None or bound != target:
        return False
    prefix = urlsplit(binding).path.rstrip("/") + "/"
    path = urlsplit(url).path or "/"
    return (path.rstrip("/") + "/").startswith(prefix)


def host_key(entry: str) -> str:
    """A `.dockerconfigjson` key as a host[:port]: keys may be written as URLs
    ('https://index.docker.io/v1/') or bare hosts ('registry.example:5000')."""
    text = entry.strip().lower()
    host = urlsplit(text).netloc if "://" in text else text.split("/", 1)[0]
    host = host.rsplit("@", 1)[-1]
    return "docker.io" if host in DOCKER_HUB_ALIASES else host


def host_allowed(binding: str, url: str, *, allow_http: bool = False) -> bool:
    """Does a host binding (a `.dockerconfigjson` key) cover `url`? Same host[:port], https (or
    plain http when the image reference itself says so: `allow_http`)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        return False
    return bool(parts.netloc) and host_key(parts.netloc) == host_key(binding)


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port (default ports made explicit)."""
    first = _origin(a)
    return first is not None and first == _origin(b)
