"""The stack configuration, read once, validated up front, frozen.

`load_config` takes the config map exactly as the Pulumi CLI hands it to the program (strings;
objects and arrays as JSON) and returns a `BlueprintConfig`, or raises one `ConfigError` listing
every problem with the file, key path and line it comes from. Nothing is registered before this
returns, so a bad stack file never half-creates a stack.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from pydantic import BaseModel, ValidationError

from ..tables import rules
from .errors import ConfigError, Problem
from ..access.policies import access_findings, trust_findings
from ..api.model import Api, ApiModel
from ..functions.model import Functions, FunctionsModel, concurrency_findings, functions_findings, layer_findings
from ..dax.rules import dax_findings
from ..api.rules import api_findings, route_throttle_findings
from ..access.model import Access, AccessModel
from .settings import StackSettings
from ..tables.model import TableModel, Tables
from ..replication.model import Topology
from ..replication.rules import replication_findings
from ..replication.spec import stack_table_regions
from .sources import PROJECT_FILE, ProjectFile, StackFile, read_project, read_stack

# Provider keys a stack file may set. Everything else in the `aws:` namespace is most likely a typo.
PROVIDER_KEYS = {"aws:region", "aws:allowedAccountIds", "aws:profile", "aws:assumeRoles"}
NAME_PART = re.compile(r"^[a-zA-Z0-9_-]+$")
# Keys declared once for the project; environments may not redefine the data model.
MODEL_KEYS = ("tables", "access", "api", "functions")


@dataclass(frozen=True)
class BlueprintConfig:
    project: str
    stack: str
    settings: StackSettings
    tables: Mapping[str, TableModel]
    access: AccessModel
    api: ApiModel
    functions: FunctionsModel
    root: Optional[Path] = None  # where lambdas/ lives (function code)
    # Declared routes that DAX reader functions serve in this stack (stacks/dax/reader.py): their
    # HTTP contract is the declared route's, so the OpenAPI document still describes them as declared.
    served_by_dax: Mapping[str, Any] = field(default_factory=dict)


def known_regions() -> list[str]:
    import pulumi_aws

    return [region.value for region in pulumi_aws.Region]


class _Reporter:
    """Attributes problems to the file (and line) a key was set in."""

    def __init__(self, project: ProjectFile, stack: StackFile):
        self.project = project
        self.stack = stack
        self.problems: list[Problem] = []

    @staticmethod
    def _join(full_key: str, subpath: str) -> str:
        return full_key + (("" if subpath.startswith("[") else ".") + subpath if subpath else "")

    def source(self, full_key: str, subpath: str = "") -> tuple[str, Optional[int]]:
        path = self._join(full_key, subpath)
        if full_key in self.stack.values:
            return self.stack.name, self._line(self.stack.lines, path)
        if full_key in self.project.declarations:
            return PROJECT_FILE, self._line(self.project.lines, path) or self.project.declarations[full_key].line
        return f"{self.stack.name} (or a Pulumi ESC environment)", None

    @staticmethod
    def _line(lines: Mapping[str, int], path: str) -> Optional[int]:
        while path:
            if path in lines:
                return lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return None

    def add(self, full_key: str, subpath: str, message: str) -> None:
        file, line = self.source(full_key, subpath)
        shown = self._join(full_key, subpath)
        self.problems.append(Problem(file, shown, message, line))


def encrypted_path(raw: str) -> Optional[str]:
    """Where a still-encrypted `{secure: ...}` sits in a config value ("" for the whole value), or None.

    The Pulumi CLI decrypts secrets before the program runs; one that arrives encrypted means the
    config was read without the CLI (the offline tools).
    """
    if "secure" not in raw:
        return None
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return None
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if found:
            return
        if isinstance(node, dict):
            if set(node) == {"secure"} and isinstance(node["secure"], str):
                found.append(path)
                return
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(value, "")
    return found[0] if found else None


def _decode(raw: str, declared_type: Optional[str]) -> tuple[bool, Any, str]:
    """Turn one CLI string back into a value of the declared Pulumi type: (ok, value, why-not)."""
    if declared_type == "string":
        return True, raw, ""
    if declared_type == "integer":
        try:
            return True, int(raw), ""
        except ValueError:
            return False, None, f"must be an integer, got {raw!r}"
    if declared_type == "boolean":
        if raw in ("true", "false"):
            return True, raw == "true", ""
        return False, None, f"must be true or false, got {raw!r}"
    try:
        return True, json.loads(raw), ""
    except RecursionError:
        return False, None, "is nested too deeply"
    except json.JSONDecodeError:
        kind = "a list" if declared_type == "array" else "a mapping"
        return False, None, f"must be {kind}, got {raw!r}"


def _path_of(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_UNION_TAGS = ("str", "list[str]", "none")


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` (the parent of an unknown key) in `model`'s schema."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        while typing.get_origin(current) is typing.Union:
            current = next(a for a in typing.get_args(current) if a is not type(None))
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(f.alias or n for n, f in current.model_fields.items())
    return []


def _translate(error: dict, model: type[BaseModel]) -> tuple[tuple, str]:
    loc = tuple(p for p in error["loc"] if p not in _UNION_TAGS and not str(p).startswith("function-"))
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = rules.closest_hint(str(loc[-1]), allowed)
        return loc, f"unknown key{hint or ''}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return loc, "is required"
    message = error["msg"].replace("Input should be", "must be")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if "input" in error and kind not in ("string_too_long",):
        shown = json.dumps(error["input"]) if not isinstance(error["input"], str) else repr(error["input"])
        if len(shown) < 60:
            message = f"{message} (got {shown})"
    return loc, message


def _validate(model: type[BaseModel], data: dict) -> tuple[Optional[BaseModel], list[tuple[tuple, str]]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        seen: dict[tuple, str] = {}
        for error in exc.errors():
            loc, message = _translate(error, model)
            # A union field reports once per alternative; keep one message per location.
            if loc in seen and error["loc"] != loc:
                seen[loc] = "must be a string or a list of strings"
            else:
                seen.setdefault(loc, message)
        return None, list(seen.items())


def load_config(
    config: Mapping[str, str], project: ProjectFile, stack_name: str, stack: StackFile, root: Optional[Path] = None
) -> BlueprintConfig:
    """Validate the CLI-shaped config map of one stack. Raises ConfigError listing every problem."""
    ns = f"{project.name}:"
    report = _Reporter(project, stack)
    # Project and stack names become part of KMS alias (K11) and Lambda function (L13) names.
    if not NAME_PART.match(stack_name):
        report.problems.append(Problem(stack.name, "(stack name)", f"{stack_name!r}: stack names of this program are "
                                       "letters, digits, - and _ (they are part of KMS alias and Lambda function names)"))
    if not NAME_PART.match(project.name):
        report.problems.append(Problem(PROJECT_FILE, "name", f"{project.name!r}: letters, digits, - and _ only (part of "
                                       "KMS alias and Lambda function names)"))

    for key in sorted(stack.values):
        if ":" not in key:
            report.problems.append(
                Problem(stack.name, key, f"stack file keys are namespaced: write '{ns}{key}'", stack.lines.get(key))
            )
        elif key.startswith(ns) and key[len(ns) :] in MODEL_KEYS:
            report.add(key, "", "the data model is declared once in Pulumi.yaml; a stack file may not redefine it")

    decoded: dict[str, Any] = {}
    undecodable: set[str] = set()
    for key in sorted(config):
        raw = config[key]
        secret_path = encrypted_path(raw)
        if secret_path is not None:
            # Only the Pulumi CLI can decrypt (it holds the passphrase or secrets provider); the
            # program then receives the plain value. The ciphertext is never shown.
            report.add(key, secret_path, "is a Pulumi secret (`secure:`); secrets cannot be read offline, and this "
                                         "value is needed to build the stack: run `pulumi preview` (which decrypts "
                                         "it) or give the offline stack a plain value")
            undecodable.add(key[len(ns):] if key.startswith(ns) else key)
            continue
        if key.startswith(ns):
            decl = project.declarations.get(key)
            if decl is None:
                declared = [k[len(ns) :] for k in project.declarations if k.startswith(ns)]
                hint = rules.closest_hint(key[len(ns) :], declared)
                report.add(key, "", f"unknown key{hint}; the keys are declared in Pulumi.yaml and listed in the README")
                continue
            ok, value, why = _decode(raw, decl.type)
            if not ok:
                report.add(key, "", why)
                undecodable.add(key[len(ns) :])
                continue
            decoded[key[len(ns) :]] = value
        elif key.startswith("aws:"):
            if key not in PROVIDER_KEYS:
                hint = rules.closest_hint(key, PROVIDER_KEYS)
                report.add(key, "", f"not a provider setting this program accepts{hint}; allowed: {', '.join(sorted(PROVIDER_KEYS))}")
            elif key == "aws:region":
                decoded["region"] = raw
            elif key == "aws:allowedAccountIds":
                ok, value, why = _decode(raw, "array")
                if ok:
                    decoded["allowedAccountIds"] = [str(v) for v in value] if isinstance(value, list) else value
                else:
                    report.add(key, "", why)
        else:
            report.add(key, "", f"unknown namespace; this program reads '{ns}*' and {', '.join(sorted(PROVIDER_KEYS))}")
    if "region" not in decoded:
        if "aws:region" not in undecodable:
            report.problems.append(Problem(stack.name, "aws:region", "is required: the region of every table and key"))
    else:
        region_problem = rules.region_finding(decoded["region"], known_regions())
        if region_problem:
            report.add("aws:region", "", region_problem)

    tables_data = decoded.pop("tables", None)
    access_data = decoded.pop("access", {})
    api_data = decoded.pop("api", {})
    functions_data = decoded.pop("functions", {})
    settings, settings_errors = _validate(StackSettings, decoded) if "region" in decoded else (None, [])
    for loc, message in settings_errors:
        if loc and loc[0] in undecodable:
            continue  # already reported with the reason it could not be read
        key = "aws:region" if loc and loc[0] == "region" else f"{ns}{loc[0]}" if loc else f"{ns}(settings)"
        if loc and loc[0] == "allowedAccountIds":
            key = "aws:allowedAccountIds"
        report.add(key, _path_of(loc[1:]), message)

    tables_key = f"{ns}tables"
    tables: Optional[Mapping[str, TableModel]] = None
    if not isinstance(tables_data, dict) or not tables_data:
        report.add(tables_key, "", "declare at least one table (a mapping of table name to table)")
    else:
        parsed, table_errors = _validate(Tables, {"tables": tables_data})
        for loc, message in table_errors:
            report.add(tables_key, _path_of(loc[1:]), message)
        if parsed is not None:
            tables = parsed.tables  # type: ignore[attr-defined]
            for name, table in tables.items():
                for sub, message in rules.table_findings(name, table, project.name, stack_name):
                    report.add(tables_key, ".".join(p for p in (name, sub) if p), message)

    findings: list[tuple[str, str]] = []
    overrides = decoded.get("tableOverrides")
    if tables is not None and isinstance(overrides, dict):
        findings += rules.unknown_override_findings(overrides, tables)
    if settings is not None and tables is not None:
        findings += rules.settings_findings(settings, tables)  # type: ignore[arg-type]
    for path, message in findings:
        head, _, rest = path.partition(".")
        report.add(f"{ns}{head}", rest, message)
    if settings is not None and tables is not None:
        for path, message in dax_findings(settings.dax, tables, settings.region):
            report.add(f"{ns}dax", path, message)

    functions, function_errors = _validate(Functions, {"functions": functions_data})
    for loc, message in function_errors:
        report.add(f"{ns}functions", _path_of(loc[1:]), message)
    functions_model: Optional[FunctionsModel] = functions.functions if functions is not None else None  # type: ignore[attr-defined]
    if settings is not None:
        for message in layer_findings(settings.powertoolsLayerArn, settings.region, settings.lambdaRuntime):
            report.add(f"{ns}powertoolsLayerArn", "", message)
    topics = list(functions_model.topics) if functions_model is not None else []
    access = _load_access(report, f"{ns}access", access_data, tables, project.name, stack_name, settings, topics)
    api = _load_api(report, f"{ns}api", api_data, tables, access)
    if functions_model is not None and tables is not None and access is not None and api is not None:
        for path, message in functions_findings(functions_model, tables, access, api, root, project.name, stack_name):
            report.add(f"{ns}functions", path, message)
    route_overrides = decoded.get("apiRouteThrottle")
    if isinstance(route_overrides, dict) and api is not None and functions_model is not None:
        route_ids = [*api.routes, *(n for n, f in functions_model.functions.items() if f.route is not None)]
        for path, message in route_throttle_findings(route_overrides, route_ids):
            report.add(f"{ns}apiRouteThrottle", path, message)

    if settings is not None and functions_model is not None and access is not None:
        _report_replication(report, ns, settings, tables, functions_model, access)

    if report.problems or settings is None or tables is None or access is None or api is None or functions_model is None:
        raise ConfigError(stack_name, report.problems)
    from ..dax.reader import apply_dax  # DAX builds on the config it rewrites

    effective = apply_dax(BlueprintConfig(project.name, stack_name, settings, dict(tables), access, api, functions_model, root))  # type: ignore[arg-type]
    # Reservations may name the declared functions and the DAX readers generated from cached routes.
    for path, message in concurrency_findings(settings.functionConcurrency, effective.functions.functions):
        report.add(f"{ns}functionConcurrency", path, message)
    if report.problems:
        raise ConfigError(stack_name, report.problems)
    return effective


def _report_replication(report: _Reporter, ns: str, settings: StackSettings, tables: Optional[Mapping[str, TableModel]],
                        functions: FunctionsModel, access: AccessModel) -> None:
    """Global-table topology and the table features the chosen mode does not support (stacks/replication)."""
    topology = Topology.of(settings)
    modes = {name: rules.effective_billing_mode(settings, name) for name in (tables or {})}
    findings = replication_findings(topology, known_regions(), tables, settings.tableOverrides, modes,
                                    functions, access)
    for path, message in findings:
        head = path.split(".", 1)[0].split("[", 1)[0]
        rest = path[len(head):].lstrip(".")
        if head == "tables":
            message += f" (replicaConsistency {topology.mode} is set in the stack file)" if topology.mode == "STRONG" else ""
        report.add(f"{ns}{head}", rest, message)


def _load_api(
    report: _Reporter, key: str, data: Any, tables: Optional[Mapping[str, TableModel]], access: Optional[AccessModel]
) -> Optional[ApiModel]:
    parsed, errors = _validate(Api, {"api": data})
    for loc, message in errors:
        report.add(key, _path_of(loc[1:]), message)
    if parsed is None:
        return None
    api: ApiModel = parsed.api  # type: ignore[attr-defined]
    if tables is not None and access is not None:
        for path, message in api_findings(api, tables, access):
            report.add(key, path, message)
    return api


def _load_access(
    report: _Reporter,
    key: str,
    data: Any,
    tables: Optional[Mapping[str, TableModel]],
    project: str,
    stack: str,
    settings: Optional[StackSettings],
    topics: list[str],
) -> Optional[AccessModel]:
    parsed, errors = _validate(Access, {"access": data})
    for loc, message in errors:
        report.add(key, _path_of(loc[1:]), message)
    if parsed is None:
        return None
    access: AccessModel = parsed.access  # type: ignore[attr-defined]
    trust = settings.principalTrust if settings is not None else {}
    if tables is not None:
        dax_tables = settings.dax.tables if settings is not None and settings.dax.enabled else []
        regions = stack_table_regions(tables, settings) if settings is not None else None
        for path, message in access_findings(access, tables, project, stack, trust, topics, dax_tables, regions):
            report.add(key, path, message)
    if settings is not None:
        for path, message in trust_findings(access, trust):
            report.add(key.replace("access", "principalTrust"), path, message)
    return access


def project_defaults(project: ProjectFile) -> dict[str, Any]:
    """Every declared default of the project's own keys (without namespace), as typed values."""
    ns = f"{project.name}:"
    return {k[len(ns):]: d.default for k, d in project.declarations.items() if k.startswith(ns) and d.has_default}


def load_for_stack(root: Path, stack_name: str, config: Mapping[str, str]) -> BlueprintConfig:
    """Read the project and stack files under `root` (for attribution) and validate `config`."""
    project = read_project(root, stack_name)
    stack = read_stack(root, stack_name)
    return load_config(config, project, stack_name, stack, root)
