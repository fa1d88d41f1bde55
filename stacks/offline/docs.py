"""The README's config reference, generated from Pulumi.yaml and the typed model so it cannot drift.

`python -m stacks docs` rewrites the block between the markers in README.md; a test fails when the
committed README differs from what this module renders.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..tables.model import CapacityRange, GlobalIndex, LocalIndex, OnDemandThroughput, IndexCapacity, ProvisionedCapacity, TableModel, TableOverride
from ..access.model import ExistingUserPool, Grant, Principal
from ..config.settings import StackSettings
from ..config.sources import read_project

BEGIN = "<!-- BEGIN GENERATED CONFIG REFERENCE (python -m stacks docs) -->"
END = "<!-- END GENERATED CONFIG REFERENCE -->"


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is typing.Union:
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation, str(annotation))


def _range(field: Any) -> str:
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    if low is not None and high is not None:
        return f" ({low}-{high})"
    if low is not None:
        return f" (at least {low})"
    return ""


def _fields_table(model: type[BaseModel]) -> list[str]:
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        required = field.is_required()
        default = "required" if required else f"`{json.dumps(field.default)}`"
        rows.append(f"| `{field.alias or name}` | {_type_name(field.annotation)}{_range(field)} | {default} | {field.description or ''} |")
    return rows


def _stack_keys_table(root: Path) -> list[str]:
    project = read_project(root)
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    settings_fields = StackSettings.model_fields
    for key, decl in project.declarations.items():
        short = key.split(":", 1)[1]
        if decl.has_value:
            continue  # the data model, documented below
        field = settings_fields[short]
        rows.append(
            f"| `{key}` | {_type_name(field.annotation)}{_range(field)} | `{json.dumps(decl.default)}` | {decl.description} |"
        )
    return rows


def render_reference(root: Path) -> str:
    parts = [
        BEGIN,
        "",
        "### Stack settings (`Pulumi.<stack>.yaml`)",
        "",
        "Besides these, a stack file sets `aws:region` (required; any region the provider knows) and may set",
        "`aws:allowedAccountIds`, `aws:profile` and `aws:assumeRoles`. Any other key is an error.",
        "",
        *_stack_keys_table(root),
        "",
        "#### `ddb-blueprint:tableOverrides.<table>`",
        "",
        *_fields_table(TableOverride),
        "",
        "`capacity` (ProvisionedCapacity):",
        "",
        *_fields_table(ProvisionedCapacity),
        "",
        "`capacity.indexes.<gsi>` (IndexCapacity):",
        "",
        *_fields_table(IndexCapacity),
        "",
        "A capacity range (CapacityRange) and `maxThroughput` (OnDemandThroughput):",
        "",
        *_fields_table(CapacityRange),
        "",
        *_fields_table(OnDemandThroughput),
        "",
        "### Data model (`ddb-blueprint:tables` in `Pulumi.yaml`, one entry per table)",
        "",
        *_fields_table(TableModel),
        "",
        "`globalIndexes.<name>` (GlobalIndex):",
        "",
        *_fields_table(GlobalIndex),
        "",
        "`localIndexes.<name>` (LocalIndex):",
        "",
        *_fields_table(LocalIndex),
        "",
        "### Access model (`ddb-blueprint:access` in `Pulumi.yaml`: `principals` and `grants`)",
        "",
        "`principals.<name>` (Principal):",
        "",
        *_fields_table(Principal),
        "",
        "`grants.<name>` (Grant):",
        "",
        *_fields_table(Grant),
        "",
        "`ddb-blueprint:existingUserPool` (ExistingUserPool, in a stack file):",
        "",
        *_fields_table(ExistingUserPool),
        "",
        *_dax_reference(),
        END,
    ]
    return "\n".join(parts)


def _dax_reference() -> list[str]:
    from ..dax.model import CreatedVpc, DaxNetwork, DaxSettings, ExistingVpc

    parts: list[str] = []
    for title, model in (("`ddb-blueprint:dax` (DaxSettings, in a stack file):", DaxSettings),
                         ("`ddb-blueprint:dax.network` (DaxNetwork: exactly one of create, existing):", DaxNetwork),
                         ("`ddb-blueprint:dax.network.create` (CreatedVpc):", CreatedVpc),
                         ("`ddb-blueprint:dax.network.existing` (ExistingVpc):", ExistingVpc)):
        parts += [title, "", *_fields_table(model), ""]
    return parts


def replace_reference(readme: str, reference: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + reference + readme[end:]


def write_reference(root: Path) -> bool:
    """Rewrite README.md's generated blocks (config reference, outputs table); True if it changed."""
    from ..outputs.contract import render_table, replace_table

    path = root / "README.md"
    current = path.read_text(encoding="utf-8")
    updated = replace_table(replace_reference(current, render_reference(root)), render_table())
    if updated != current:
        path.write_text(updated, encoding="utf-8")
    return updated != current
