"""Reading the project and stack files the way the Pulumi CLI does, keeping line numbers.

The CLI merges project-level config (`default:` / `value:` in Pulumi.yaml) under the stack file's
values and hands the program strings (objects and arrays as JSON). The offline tools use
`cli_config()` to reproduce exactly that; the program itself only ever reads the result.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .errors import ConfigError, Problem

PROJECT_FILE = "Pulumi.yaml"
# libyaml composes nodes with the same line marks as the pure-Python loader, several times faster;
# PyYAML's wheels ship it, a source build without libyaml falls back to the pure loader.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class Declaration:
    """A key declared in Pulumi.yaml's `config:` block."""

    key: str
    type: Optional[str]
    description: str
    default: Any = None
    value: Any = None
    has_default: bool = False
    has_value: bool = False
    line: Optional[int] = None


@dataclass(frozen=True)
class ProjectFile:
    name: str
    declarations: dict[str, Declaration]
    lines: dict[str, int] = field(default_factory=dict)  # "<full key>.<path in its value>" -> line


@dataclass(frozen=True)
class StackFile:
    name: str
    exists: bool
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # full key path -> line


def _compose(text: str, display: str, stack: str) -> Optional[yaml.Node]:
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        pass
    try:  # the same document again with the pure-Python loader, whose messages name the problem best
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(stack, [Problem(display, "(file)", f"not valid YAML: {reason}", line)]) from None


def _construct(node: yaml.Node) -> Any:
    return yaml.SafeLoader(stream="").construct_document(node)


def _record_lines(node: yaml.Node, prefix: str, lines: dict[str, int], duplicates: list[tuple[str, int]]) -> None:
    """Map every key path under `node` to its line (1-based); collect keys written twice.

    YAML loaders silently keep the last of two equal keys; a stack file that sets a key twice is
    almost always a merge mistake, so it is reported instead.
    """
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            if key in seen:
                duplicates.append((path, key_node.start_mark.line + 1))
            seen.add(key)
            lines[path] = key_node.start_mark.line + 1
            _record_lines(value_node, path, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, f"{prefix}[{index}]", lines, duplicates)


def _lines_of(node: Optional[yaml.Node], display: str, stack: str, strip: str = "") -> dict[str, int]:
    lines: dict[str, int] = {}
    duplicates: list[tuple[str, int]] = []
    if node is not None:
        _record_lines(node, "", lines, duplicates)
    if duplicates:
        raise ConfigError(
            stack,
            [Problem(display, path.removeprefix(strip), "key is set twice; keep one", line) for path, line in duplicates],
        )
    return lines


def read_project(root: Path, stack: str = "") -> ProjectFile:
    return _parse_project((root / PROJECT_FILE).read_text(encoding="utf-8"), stack)


# A preview reads the same files several times (before the run, in the program); results are
# frozen and keyed by the text itself, so an edited file is read afresh. Errors are not cached.
@functools.lru_cache(maxsize=16)
def _parse_project(text: str, stack: str) -> ProjectFile:
    node = _compose(text, PROJECT_FILE, stack)
    doc = _construct(node) if node is not None else None
    if not isinstance(doc, dict) or "name" not in doc:
        raise ConfigError(stack, [Problem(PROJECT_FILE, "name", "the project file must be a mapping with a name")])
    lines = _lines_of(node, PROJECT_FILE, stack)
    value_lines: dict[str, int] = {}
    declarations = {}
    by_key: dict[str, list[tuple[str, int]]] = {}  # config.<key>.<rest> lines grouped by <key>, one pass
    for path, line in lines.items():
        if path.startswith("config."):
            by_key.setdefault(path[len("config."):].split(".", 1)[0], []).append((path, line))
    for key, decl in (doc.get("config") or {}).items():
        full = key if ":" in key else f"{doc['name']}:{key}"
        decl = decl if isinstance(decl, dict) else {"default": decl}
        declarations[full] = Declaration(
            key=full,
            type=decl.get("type"),
            description=str(decl.get("description", "")).strip(),
            default=decl.get("default"),
            value=decl.get("value"),
            has_default="default" in decl,
            has_value="value" in decl,
            line=lines.get(f"config.{key}"),
        )
        for part in ("value", "default"):
            base = f"config.{key}.{part}"
            candidates = lines.items() if "." in str(key) else by_key.get(str(key), ())  # a dotted key: scan all
            value_lines.update({full + p[len(base):]: n for p, n in candidates if p.startswith(base)})
    return ProjectFile(name=str(doc["name"]), declarations=declarations, lines=value_lines)


def read_stack(root: Path, stack: str) -> StackFile:
    name = stack_file_name(stack)
    path = root / name
    if not path.exists():
        return StackFile(name=name, exists=False)
    return _parse_stack(path.read_text(encoding="utf-8"), name, stack)


@functools.lru_cache(maxsize=16)
def _parse_stack(text: str, name: str, stack: str) -> StackFile:
    node = _compose(text, name, stack)
    doc = _construct(node) if node is not None else None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(stack, [Problem(name, "(file)", "must be a mapping with a `config:` block")])
    unknown_top = sorted(set(doc) - {"config", "secretsprovider", "encryptedkey", "environment"})
    if unknown_top:
        raise ConfigError(
            stack,
            [Problem(name, k, "unknown top-level key; a stack file holds `config:` (values only)") for k in unknown_top],
        )
    values = doc.get("config") or {}
    if not isinstance(values, dict):
        raise ConfigError(stack, [Problem(name, "config", "must be a mapping of key to value")])
    raw_lines = _lines_of(node, name, stack, strip="config.")
    lines = {path[len("config."):]: line for path, line in raw_lines.items() if path.startswith("config.")}
    return StackFile(name=name, exists=True, values={str(k): v for k, v in values.items()}, lines=lines)


def _to_cli_string(value: Any) -> str:
    """How the Pulumi CLI hands one config value to the program."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return ""
    return str(value)


def cli_config(project: ProjectFile, stack: StackFile) -> dict[str, str]:
    """The config map `pulumi up` would give the program: project values/defaults under stack values."""
    merged: dict[str, str] = {}
    for key, decl in project.declarations.items():
        if decl.has_value:
            merged[key] = _to_cli_string(decl.value)
        elif decl.has_default:
            merged[key] = _to_cli_string(decl.default)
    for key, value in stack.values.items():
        if ":" in key:  # the CLI refuses keys without a namespace; load_config reports them
            merged[key] = _to_cli_string(value)
    return merged
