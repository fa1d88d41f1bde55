"""The outputs contract: contracts/outputs.schema.json, validation, the README table, SSM names.

The schema is the single source: tests validate every stack's outputs against it, the README table
is rendered from it, and `python -m stacks outputs` checks what it prints against it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

# resolve(): the package may be reached through a symlink (scratch projects in tests).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "contracts" / "outputs.schema.json"
CONTRACT_VERSION = "1.3.0"  # equals the schema's contractVersion const (a test holds them together)

BEGIN = "<!-- BEGIN GENERATED OUTPUTS TABLE (python -m stacks docs) -->"
END = "<!-- END GENERATED OUTPUTS TABLE -->"


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validation_errors(outputs: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every way `outputs` breaks the contract, as `path: message` lines (empty when it conforms)."""
    import jsonschema  # here, not at module level: the program imports this module and never validates

    validator = jsonschema.Draft202012Validator(schema or load_schema())
    errors = sorted(validator.iter_errors(outputs), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(outputs)'}: {e.message}" for e in errors]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        target: Any = schema
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _type_name(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    kind = node.get("type", "object")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {node.get('items', {}).get('type', 'value')}"
    return kind


def contract_rows(schema: dict[str, Any] | None = None) -> Iterator[tuple[str, str, str]]:
    """(output path, type, description) for every leaf of the contract, in schema order."""
    schema = schema or load_schema()

    def walk(path: str, node: dict[str, Any], note: str) -> Iterator[tuple[str, str, str]]:
        node = _resolve(schema, node)
        if node.get("type") == "object" or "properties" in node:
            for name, child in node.get("properties", {}).items():
                yield from walk(f"{path}.{name}", child, note)
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):  # a map: its own description goes on its entries
                inherited = "; ".join(p for p in (node.get("description", ""), note) if p)
                yield from walk(f"{path}.<{node.get('x-key', 'name')}>", extra, inherited)
            return
        yield path, _type_name(node), "; ".join(p for p in (node.get("description", ""), note) if p)

    for name, node in schema["properties"].items():
        # an optional top-level output says when it is present on each of its rows
        optional = name not in schema.get("required", []) and "properties" in node
        yield from walk(name, node, node.get("description", "") if optional else "")


def render_table(schema: dict[str, Any] | None = None) -> str:
    schema = schema or load_schema()
    rows = ["| output | type | description |", "|---|---|---|"]
    rows += [f"| `{path}` | {kind} | {description} |" for path, kind, description in contract_rows(schema)]
    return "\n".join([BEGIN, "", f"Contract version `{schema['properties']['contractVersion']['const']}` "
                      "(`contracts/outputs.schema.json`).", "", *rows, "", END])


def parameter_prefix(project: str, stack: str) -> str:
    return f"/{project}/{stack}/"


def _joined(values: Any) -> Any:
    """A comma-separated string; items known only after apply (Outputs) are joined once resolved."""
    if any(hasattr(v, "apply") for v in values):
        import pulumi

        return pulumi.Output.all(*values).apply(lambda resolved: ",".join(str(v) for v in resolved))
    return ",".join(str(v) for v in values)


def parameter_values(prefix: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The SSM parameters for `outputs`: `<prefix><path/with/slashes>` -> value (String parameters).

    Lists become comma-separated strings; `None` and empty lists have no parameter (SSM refuses
    empty values), so a consumer reads "absent" as "none".
    """
    params: dict[str, Any] = {}

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                walk(f"{path}/{key}" if path else key, value[key])
        elif isinstance(value, (list, tuple)):
            if value:
                params[prefix + path] = _joined(value)
        elif value is not None:
            params[prefix + path] = value

    walk("", {k: v for k, v in outputs.items() if k != "parameters"})
    return params


def replace_table(readme: str, table: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + table + readme[end:]
