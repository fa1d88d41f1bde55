"""`python -m stacks preview <stack>`: the real program under mocks, its plan, and the guardrails."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi

from ..config.loader import load_for_stack
from ..config.errors import ConfigError
from ..config.sources import cli_config, read_project, read_stack, stack_file_name
from .changes import Change, ReplicaNote, diff_plans, replica_notes
from .mockrun import DuplicateResourceError, fewer_collections, run_program
from .plan import plan_from_recording, write_plan


class PreviewError(Exception):
    """A clean, user-facing failure (bad config, missing stack file)."""


@dataclass(frozen=True)
class PreviewResult:
    plan: dict[str, Any]
    plan_path: Path
    guardrails: Any  # policies.guardrails.offline.Report
    guardrails_path: Path
    changes: Optional[list[Change]]  # against the previous plan of this stack, if there was one
    replication: Optional[list[ReplicaNote]] = None  # replica additions/removals per region, T2/T3 blockers


def policy_config_path(root: Path, stack: str) -> Path:
    """The same file `pulumi preview --policy-pack policies --policy-pack-config <it>` takes."""
    return root / "policies" / "config" / f"{stack}.json"


def evaluate_guardrails(root: Path, stack: str, plan: dict[str, Any]) -> Any:
    from policies.guardrails.offline import evaluate_plan, load_policy_config

    path = policy_config_path(root, stack)
    try:
        # No file: every policy at its pack default (mandatory, protections required).
        config = load_policy_config(path) if path.exists() else {}
    except ValueError as exc:
        raise PreviewError(str(exc)) from None
    return evaluate_plan(plan, config)


def offline_account(config: dict[str, str]) -> Optional[str]:
    """The real account when the stack pins one (aws:allowedAccountIds), else a placeholder."""
    raw = config.get("aws:allowedAccountIds")
    try:
        ids = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return None
    return str(ids[0]) if isinstance(ids, list) and ids else None


def preview(root: Path, stack: str, out_dir: Path) -> PreviewResult:
    with fewer_collections():  # the guardrails walk the plan the run built: collect as rarely there
        return _preview(root, stack, out_dir)


def _preview(root: Path, stack: str, out_dir: Path) -> PreviewResult:
    if not (root / stack_file_name(stack)).exists():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise PreviewError(f"no stack file {stack_file_name(stack)} in {root} (stacks: {', '.join(known)})")
    try:
        project = read_project(root, stack)
        config = cli_config(project, read_stack(root, stack))
        # Validate before the program runs so errors come back as data, not as a failed run.
        blueprint = load_for_stack(root, stack, config)
    except ConfigError as exc:
        raise PreviewError(exc.render()) from None
    try:
        recording = run_program(root / "__main__.py", project.name, stack, config, offline_account(config))
    except (pulumi.RunError, DuplicateResourceError) as exc:  # clean failures, same message as `pulumi up`
        raise PreviewError(str(exc)) from None
    plan = plan_from_recording(recording)
    plan_path = out_dir / stack / "plan.json"
    previous = _previous_plan(plan_path, plan)
    if previous is not None:
        _refuse_mode_changes(root, stack, previous, plan)  # before the baseline is overwritten
    changes = diff_plans(previous, plan) if previous is not None else None
    notes = replica_notes(previous, plan) if previous is not None else None
    write_plan(plan, plan_path)
    if blueprint.api.routes or blueprint.functions.functions:
        write_openapi(blueprint, out_dir / stack / "openapi.json")
    report = evaluate_guardrails(root, stack, plan)
    guardrails_path = out_dir / stack / "guardrails.json"
    write_plan(report.to_dict(), guardrails_path)
    return PreviewResult(plan, plan_path, report, guardrails_path, changes, notes)


def _refuse_mode_changes(root: Path, stack: str, previous: dict[str, Any], plan: dict[str, Any]) -> None:
    """A global table's consistency mode is create-time only (T10): a located config error."""
    from ..config.errors import Problem
    from ..replication.rules import mode_change_findings
    from .changes import replication_state

    findings = mode_change_findings(replication_state(previous), replication_state(plan))
    if not findings:
        return
    stack_file = read_stack(root, stack)
    key = f"{plan['project']}:replicaConsistency"
    line = stack_file.lines.get(key)
    problems = [Problem(stack_file.name if key in stack_file.values else "Pulumi.yaml", key, f"{path}: {message}", line)
                for path, message in findings]
    raise PreviewError(ConfigError(stack, problems).render())


def function_routes(config: Any) -> list[Any]:
    """The function-backed routes with each function's HTTP contract (lambdas/<code>/api.json)."""
    from ..api.openapi import FunctionRoute
    from ..api.spec import proxy_route_specs
    from ..dax.reader import reader_name

    root = config.root or Path(__file__).resolve().parents[2]
    routes = []
    readers = {reader_name(route_id) for route_id in config.served_by_dax}  # documented as their declared routes
    for spec in proxy_route_specs(config):
        if spec.function in readers:
            continue
        code = config.functions.functions[spec.function].code
        contract_path = root / "lambdas" / code / "api.json"
        contract = json.loads(contract_path.read_text(encoding="utf-8")) if contract_path.exists() else {}
        routes.append(FunctionRoute(spec.route_id, spec.function, spec.method, spec.path, spec.description,
                                    spec.source, contract))
    return routes


def write_openapi(config: Any, path: Path) -> None:
    """The API's OpenAPI document for app teams; the stage URL is templated (the id is known after apply)."""
    from ..naming import api_name
    from ..api.openapi import openapi_document, openapi_json

    from ..api.model import ApiModel

    declared = ApiModel(name=config.api.name, description=config.api.description,
                        routes={**config.api.routes, **config.served_by_dax})
    document = openapi_document(
        declared, config.tables, title=api_name(config.project, config.stack, config.api.name),
        version=config.stack, server_url=None, cors_origins=config.settings.apiCorsOrigins,
        region=config.settings.region, function_routes=function_routes(config),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_json(document), encoding="utf-8")


def _previous_plan(previous_path: Path, plan: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The last plan written for this stack (a local baseline), if any."""
    try:
        previous = json.loads(previous_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if previous.get("project") != plan["project"] or previous.get("stack") != plan["stack"]:
        return None
    return previous

