"""Reading the project and stack files the way the Pulumi CLI does, keeping line numbers.

The CLI merges project-level config (`default:` / `value:` in Pulumi.yaml) under the stack file's
values and hands the program strings (objects and arrays as JSON). The offline tools use
`cli_config()` to reproduce exactly that; the program itself only ever reads the result.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .errors import ConfigError, Problem

PROJECT_FILE = "Pulumi.yaml"


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


# The top-level keys of a stack file, as the Pulumi CLI writes and reads them (its ProjectStack
# struct, pulumi/pulumi sdk/go/common/workspace/project.go; facts P7): `pulumi stack init` on a
# passphrase backend writes `encryptionsalt`, on a KMS/Vault one `secretsprovider` + `encryptedkey`.
STACK_FILE_KEYS = ("config", "encryptedkey", "encryptionsalt", "environment", "mainEnvironment", "secretsprovider")
# How many values a YAML file may expand to once aliases are followed. The reference Pulumi.yaml
# is about 2,000; a few anchors and aliases can otherwise make a small file expand without bound
# ("billion laughs") and hang every tool that walks it.
MAX_EXPANDED_VALUES = 100_000
# How deep mappings and lists may nest. The reference files nest 7 deep; the bound keeps the
# recursive walks over a file (line numbers, the constructor) far from Python's recursion limit.
MAX_NESTING_DEPTH = 100


class PulumiYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading scalars as YAML 1.2 does (the Pulumi CLI's parser).

    YAML 1.1 reads `yes`/`no`/`on`/`off` as booleans, `0755` or `1:30` as numbers and `2024-01-01`
    as a date; the CLI reads them as strings. Reading them the CLI's way keeps the offline preview from accepting a stack file
    that `pulumi up` refuses (`protect: yes`), or turning a tag value `NO` into `false`.
    """


PulumiYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))


if hasattr(yaml, "CSafeLoader"):
    class FastPulumiYamlLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """The same scalars and nodes (line marks included), parsed by libyaml: about ten times faster.

        libyaml's parser calls back into the resolver for every plain scalar, so the YAML 1.2
        resolvers above apply unchanged. PyYAML's wheels ship libyaml; a build without it reads
        with the pure-Python loader.
        """

    FastPulumiYamlLoader.yaml_implicit_resolvers = PulumiYamlLoader.yaml_implicit_resolvers
    _COMPOSING_LOADERS: tuple[type, ...] = (FastPulumiYamlLoader, PulumiYamlLoader)
else:  # pragma: no cover - every published PyYAML wheel has libyaml
    _COMPOSING_LOADERS = (PulumiYamlLoader,)


def _read_text(path: Path, display: str, stack: str) -> str:
    """The file as text, or one located ConfigError (missing, unreadable, not UTF-8)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(stack, [Problem(display, "(file)", f"not found in {path.parent}: run from the project "
                                                             "directory (the one holding Pulumi.yaml)")]) from None
    except OSError as exc:
        raise ConfigError(stack, [Problem(display, "(file)", f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        raise ConfigError(stack, [Problem(display, "(file)", message, line)]) from None


def expanded_size(root: yaml.Node) -> Optional[int]:
    """How many nodes `root` stands for once every alias is expanded; None if an alias contains itself.

    Linear in the composed graph (each shared node is counted once and its size reused), so an alias
    bomb is measured without being expanded.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            open_nodes.discard(id(node))
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            return None  # reached again while still open: the node contains itself
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    return sizes[id(root)]


def nesting_depth(root: yaml.Node, limit: int = MAX_NESTING_DEPTH) -> int:
    """How deep mappings and lists nest under `root` (a scalar is 1), aliases followed, counted up
    to `limit` + 1; iterative, so a file nested thousands deep is measured without recursion. Call it
    once expanded_size has bounded the walk (it visits every expanded value)."""
    deepest = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth + 1) for child in _children(node))
    return deepest


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class NestedTooDeeply(Exception):
    pass


def _compose_text(text: str) -> Optional[yaml.Node]:
    """The composed document. A file libyaml refuses is composed again by the pure-Python loader,
    whose error (message and line) is the one reported, so the fast path changes no message.

    libyaml's composer is compiled code that recurses without Python's recursion limit: a file
    nested some 30,000 levels deep crashes the interpreter (SIGSEGV). Its events are counted first,
    which takes no recursion and about a millisecond for the reference files."""
    fast = _COMPOSING_LOADERS[0]
    if fast is not PulumiYamlLoader:
        try:
            _check_nesting(yaml.parse(text, Loader=fast))
            return yaml.compose(text, Loader=fast)
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=PulumiYamlLoader)


def _check_nesting(events: Any, limit: int = MAX_NESTING_DEPTH) -> None:
    depth = 0
    for event in events:
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > limit:
                raise NestedTooDeeply(event.start_mark.line + 1)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _compose_checked(text: str, display: str, stack: str) -> Optional[yaml.Node]:
    try:
        node = _compose_text(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(stack, [Problem(display, "(file)", f"not valid YAML: {reason}", line)]) from None
    except RecursionError:
        raise ConfigError(stack, [Problem(display, "(file)", "nested too deeply to be a config file")]) from None
    except NestedTooDeeply as deep:
        raise ConfigError(stack, [Problem(display, "(file)", f"nested more than {MAX_NESTING_DEPTH} levels deep, "
                                                             "too deeply to be a config file", deep.args[0])]) from None
    if node is not None:
        size = expanded_size(node)
        if size is None:
            raise ConfigError(stack, [Problem(display, "(file)", "a YAML alias refers to a value that contains it "
                                                                 "(a recursive structure); write the value out")]) from None
        if size > MAX_EXPANDED_VALUES:
            raise ConfigError(stack, [Problem(
                display, "(file)", f"YAML anchors and aliases expand to {size:,} values, more than the "
                                   f"{MAX_EXPANDED_VALUES:,} a config file may hold; write the values out")]) from None
        if nesting_depth(node) > MAX_NESTING_DEPTH:
            raise ConfigError(stack, [Problem(display, "(file)", f"nested more than {MAX_NESTING_DEPTH} levels deep, "
                                                                 "too deeply to be a config file")]) from None
    return node


def _construct(node: yaml.Node, display: str, stack: str, lines: dict[str, int]) -> Any:
    try:
        doc = PulumiYamlLoader(stream="").construct_document(node)
    except yaml.YAMLError as exc:  # explicit tags (!!binary, !!python/...), unhashable keys
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(stack, [Problem(display, "(file)", f"not plain YAML data: {reason}",
                                          mark.line + 1 if mark is not None else None)]) from None
    odd = _not_plain(doc, "")
    if odd is not None:
        path, kind = odd
        raise ConfigError(stack, [Problem(display, path.removeprefix("config.") or "(file)",
                                          f"is {kind}; config values are text, numbers, booleans, lists and mappings",
                                          lines.get(path))]) from None
    return doc


def _not_plain(value: Any, path: str) -> Optional[tuple[str, str]]:
    """The first value that is not JSON-like data (what the CLI can hand a program), or None."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _not_plain(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, bool, float)) or key is None:
                return path, f"a mapping with a {type(key).__name__} key"
            found = _not_plain(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return path, f"a {type(value).__name__} (an explicit YAML tag)"


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
    return _parse_project(_read_text(root / PROJECT_FILE, PROJECT_FILE, stack), stack)


# One preview reads each file three times (the CLI, the config check, the program), and the tests
# read the same files thousands of times. Results are keyed by the file's text, so an edited file is
# read afresh; errors are not cached. Callers treat the results as read-only.
@functools.lru_cache(maxsize=32)
def _parse_project(text: str, stack: str) -> ProjectFile:
    node = _compose_checked(text, PROJECT_FILE, stack)
    lines = _lines_of(node, PROJECT_FILE, stack)
    doc = _construct(node, PROJECT_FILE, stack, lines) if node is not None else None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        raise ConfigError(stack, [Problem(PROJECT_FILE, "name", "the project file must be a mapping with a name")])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(stack, [Problem(PROJECT_FILE, "config", "must be a mapping of key to declaration",
                                          lines.get("config"))])
    value_lines: dict[str, int] = {}
    declarations = {}
    for key, decl in config.items():
        key = str(key)
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
            value_lines.update({full + p[len(base):]: n for p, n in lines.items() if p.startswith(base)})
    return ProjectFile(name=str(doc["name"]), declarations=declarations, lines=value_lines)


def read_stack(root: Path, stack: str) -> StackFile:
    name = stack_file_name(stack)
    path = root / name
    if not path.exists():
        return StackFile(name=name, exists=False)
    return _parse_stack(_read_text(path, name, stack), name, stack)


@functools.lru_cache(maxsize=32)
def _parse_stack(text: str, name: str, stack: str) -> StackFile:
    node = _compose_checked(text, name, stack)
    raw_lines = _lines_of(node, name, stack, strip="config.")
    doc = _construct(node, name, stack, raw_lines) if node is not None else None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(stack, [Problem(name, "(file)", "must be a mapping with a `config:` block")])
    unknown_top = sorted(str(k) for k in doc if k not in STACK_FILE_KEYS)
    if unknown_top:
        raise ConfigError(stack, [
            Problem(name, k, f"unknown top-level key{_closest_key(k)}; a stack file holds `config:` (values only) and "
                             f"what the Pulumi CLI writes: {', '.join(STACK_FILE_KEYS)}", raw_lines.get(k))
            for k in unknown_top])
    values = doc.get("config") or {}
    if not isinstance(values, dict):
        raise ConfigError(stack, [Problem(name, "config", "must be a mapping of key to value", raw_lines.get("config"))])
    lines = {path[len("config."):]: line for path, line in raw_lines.items() if path.startswith("config.")}
    return StackFile(name=name, exists=True, values={str(k): v for k, v in values.items()}, lines=lines)


def _closest_key(key: str) -> str:
    import difflib

    match = difflib.get_close_matches(key.lower(), [k.lower() for k in STACK_FILE_KEYS], n=1, cutoff=0.6)
    if not match:
        return ""
    return f" (did you mean {next(k for k in STACK_FILE_KEYS if k.lower() == match[0])!r}?)"


def _string_keys(value: Any) -> Any:
    """Mapping keys as the CLI writes them in JSON: text (`1: x` and `a: y` may share a mapping)."""
    if isinstance(value, dict):
        return {(json.dumps(k) if isinstance(k, bool) else str(k)): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _to_cli_string(value: Any) -> str:
    """How the Pulumi CLI hands one config value to the program."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(_string_keys(value), sort_keys=True)
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
