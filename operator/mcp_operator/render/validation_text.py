"""Turn validation errors into one message a user can act on."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic.alias_generators import to_camel


def describe_validation(exc: ValidationError, kind: str) -> str:
    problems = []
    for err in exc.errors():
        path = ".".join(to_camel(str(p)) if isinstance(p, str) else f"[{p}]" for p in err["loc"])
        path = path.replace(".[", "[")
        text = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"spec.{path}: {text}" if path else text)
    return f"invalid {kind} spec: " + "; ".join(problems) + "; fix the spec and apply it again"
