"""Render the CustomResourceDefinitions and the field reference from the pydantic models.

`python -m mcp_operator.crds write` regenerates crds/*.yaml, docs/reference/fields.md and
docs/reference/reasons.md;
`check` exits non-zero when a committed file differs from what the models produce.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mcp_operator.models import GROUP, KINDS, VERSION, Kind
from mcp_operator.reasons import reasons_markdown

HEADER = "# Generated from operator/mcp_operator/models.py by `make crds`. Do not edit.\n"
_DROP = {"title", "additionalProperties_false"}


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Turn pydantic's JSON Schema into a Kubernetes structural schema: no $ref, no anyOf-null."""
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: val for k, val in schema.items() if k != "$ref"}}
        return _inline(merged, defs)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        rest = {k: val for k, val in schema.items() if k != "anyOf"}
        if len(options) == 1:
            return _inline({**options[0], **rest}, defs)
        raise ValueError(f"a union of several types cannot be expressed in a structural schema: {schema}")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        elif key in {"items", "additionalProperties"} and isinstance(value, dict):
            out[key] = _inline(value, defs)
        elif key == "x-kubernetes-validations":
            out[key] = value
        else:
            out[key] = value
    if "properties" in out:
        out.setdefault("type", "object")
    if out.get("type") == "string" and "enum" in out and "maxLength" not in out:
        # The API server estimates CEL costs from string bounds: give enums theirs.
        out["maxLength"] = max(len(str(e)) for e in out["enum"])
    return out


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _inline(raw, defs)


def root_schema(kind: Kind, spec_schema: dict[str, Any], status_schema: dict[str, Any]) -> dict[str, Any]:
    """The object's schema. Rules on the whole object see only metadata.name and generateName;
    a rule reports at .metadata.name only when the schema declares that field (as a plain string:
    the API server allows nothing more there)."""
    root: dict[str, Any] = {
        "type": "object",
        "description": (kind.spec.__doc__ or kind.kind).strip().splitlines()[0],
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if kind.object_rules:
        root["properties"]["metadata"]["properties"] = {"name": {"type": "string"}}
        root["x-kubernetes-validations"] = [dict(rule) for rule in kind.object_rules]
    return root


def crd(kind: Kind) -> dict[str, Any]:
    spec_schema = openapi_schema(kind.spec)
    status_schema = openapi_schema(kind.status)
    spec_schema.pop("description", None)
    status_schema.pop("description", None)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "mcp-operator", "app.kubernetes.io/part-of": "mcp-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": ["mcp"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": name, "type": typ, "jsonPath": path} for name, typ, path in kind.columns
                    ],
                    "schema": {"openAPIV3Schema": root_schema(kind, spec_schema, status_schema)},
                }
            ],
        },
    }


def crd_yaml(kind: Kind) -> str:
    return HEADER + yaml.safe_dump(crd(kind), sort_keys=False, width=100)


def _type_of(schema: dict[str, Any]) -> str:
    typ = schema.get("type", "object")
    if "enum" in schema:
        return " \\| ".join(f"`{e}`" for e in schema["enum"])
    if typ == "array":
        return f"list of {_type_of(schema.get('items', {}))}"
    if typ == "object" and "additionalProperties" in schema:
        return f"map of {_type_of(schema['additionalProperties'])}"
    return str(typ)


def _rows(schema: dict[str, Any], prefix: str) -> list[str]:
    rows: list[str] = []
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}"
        default = f"`{sub['default']}`" if "default" in sub and sub["default"] not in ({}, []) else ""
        rules = []
        for key in ("pattern", "maxLength", "minLength", "minimum", "maximum", "maxItems"):
            if key in sub:
                rules.append(f"{key} `{sub[key]}`" if key != "pattern" else "pattern")
        desc = (sub.get("description") or "").replace("\n", " ").replace("|", "\\|")
        req = "yes" if name in required else ""
        rows.append(f"| `{path}` | {_type_of(sub)} | {req} | {default} | {desc} |")
        target = sub.get("items", sub) if sub.get("type") == "array" else sub
        if "properties" in target:
            rows.extend(_rows(target, path + ("[]" if sub.get("type") == "array" else "")))
    return rows


def reference_markdown() -> str:
    parts = [
        "<!-- Generated from operator/mcp_operator/models.py by `make crds`. Do not edit. -->",
        "# Field reference",
        "",
        f"API group `{GROUP}`, version `{VERSION}`. Every field below is validated by the CRD "
        "schema (pattern, length, enum, CEL rules) and again by the operator.",
        "",
    ]
    for kind in KINDS:
        if kind.object_rules:
            parts += [f"## {kind.kind} `metadata.name`", "", "Enforced by the API server:", ""]
            parts += [f"- {rule['message']}" for rule in kind.object_rules]
            parts.append("")
        for part in ("spec", "status"):
            schema = openapi_schema(kind.spec if part == "spec" else kind.status)
            parts += [
                f"## {kind.kind} `{part}`",
                "",
                "| field | type | required | default | description |",
                "|---|---|---|---|---|",
                *_rows(schema, part),
                "",
            ]
            rules = schema.get("x-kubernetes-validations", [])
            for prop in schema.get("properties", {}).values():
                rules += prop.get("x-kubernetes-validations", [])
            if rules:
                parts.append("Cross-field rules enforced by the API server:")
                parts.append("")
                parts += [f"- {r['message']}" for r in rules]
                parts.append("")
    return "\n".join(parts)


def generated_files(root: Path) -> dict[Path, str]:
    files = {root / "crds" / f"{kind.plural}.yaml": crd_yaml(kind) for kind in KINDS}
    files[root / "docs" / "reference" / "fields.md"] = reference_markdown()
    files[root / "docs" / "reference" / "reasons.md"] = reasons_markdown()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcp-operator crds", description=__doc__)
    parser.add_argument("action", choices=["write", "check", "print"])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    files = generated_files(args.root)
    if args.action == "print":
        sys.stdout.write("---\n".join(crd_yaml(kind) for kind in KINDS))
        return 0
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    if args.action == "check":
        for path in stale:
            print(f"{path} differs from the models: run `make crds` and commit the result", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
