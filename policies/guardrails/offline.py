"""Evaluate the guardrails over a recorded plan without a Pulumi engine.

Mirrors what pulumi-policy 1.21.0's analyzer does for `Analyze`/`AnalyzeStack` (see
`pulumi_policy.policy._PolicyAnalyzerServicer`): same args classes, inputs deserialised and wrapped
in `unknown_checking_proxy`, `UnknownValueError` reported as advisory "unknown", not-applicable
recorded, disabled policies skipped and `remediate` reported as `mandatory`. Unlike the CLI, it also
fills config defaults from each policy's schema here, since no CLI does it for us.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError  # what args.not_applicable() raises (pinned SDK)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from . import PACK_ENFORCEMENT_LEVEL, POLICIES
from .base import applies_to, schema_defaults

Outcome = Literal["violation", "unknown", "not-applicable"]
ENFORCEMENT_LEVELS = tuple(level.value for level in EnforcementLevel)
ALL = "all"  # config key that sets the level of every policy, as in `--policy-pack-config`

Result = TypedDict("Result", {
    "policy": str,
    "enforcementLevel": str,
    "urn": str,
    "message": str,
    "outcome": Outcome,
})


@dataclass(frozen=True)
class Report:
    results: list[Result]
    passed: list[str]  # policies that ran and reported no violation and no unknown
    disabled: list[str]  # policies skipped because config set them to "disabled"

    @property
    def mandatory_violations(self) -> list[Result]:
        return [r for r in self.results
                if r["outcome"] == "violation" and r["enforcementLevel"] == EnforcementLevel.MANDATORY.value]

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [dict(r) for r in self.results],
            "passed": list(self.passed),
            "disabled": list(self.disabled),
            "mandatoryViolations": len(self.mandatory_violations),
        }


def load_policy_config(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a `--policy-pack-config` JSON file and validate it against the pack's policies."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by policy name")
    return check_policy_config(raw, source=str(path))


def check_policy_config(config: Mapping[str, Any], source: str = "policy config",
                        policies: Sequence[Policy] = POLICIES) -> dict[str, dict[str, Any]]:
    """Normalise entries to objects (a bare string is an enforcement level) and reject unknown
    policy names, bad enforcement levels, and properties the policy's schema does not declare."""
    by_name = {policy.name: policy for policy in policies}
    normalised: dict[str, dict[str, Any]] = {}
    for name, entry in config.items():
        where = f"{source}: policy {name!r}"
        if name != ALL and name not in by_name:
            raise ValueError(f"{where} is not in the pack; known policies: {', '.join(sorted(by_name))}")
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected an object or an enforcement level")
        level = entry.get("enforcementLevel")
        if level is not None and level not in ENFORCEMENT_LEVELS:
            raise ValueError(f"{where}: enforcementLevel {level!r} is not one of {', '.join(ENFORCEMENT_LEVELS)}")
        schema = by_name[name].config_schema if name in by_name else None
        declared = schema.properties if schema is not None else {}
        for key, value in entry.items():
            if key == "enforcementLevel":
                continue
            if key not in declared:
                raise ValueError(f"{where}: unknown property {key!r}; declared: {', '.join(declared) or 'none'}")
            if not _has_type(value, declared[key].get("type")):
                raise ValueError(f"{where}: property {key!r} must be of type {declared[key]['type']}, got {value!r}")
        normalised[name] = dict(entry)
    return normalised


def evaluate_plan(plan: Mapping[str, Any], policy_config: Mapping[str, Any],
                  policies: Sequence[Policy] = POLICIES) -> Report:
    """Run every enabled policy over `plan["resources"]` as the engine would during a preview."""
    config = check_policy_config(policy_config, policies=policies)
    resources: list[Mapping[str, Any]] = list(plan.get("resources", []))

    def by_type(types: frozenset[str]) -> list[Mapping[str, Any]]:  # in plan order, as the full list
        return [resource for resource in resources if resource["type"] in types]

    results: list[Result] = []
    stack_resources: list[PolicyResource] | None = None
    ran: list[str] = []
    disabled: list[str] = []
    for policy in policies:
        level = _enforcement_level(policy, config)
        if level is EnforcementLevel.DISABLED:
            disabled.append(policy.name)
            continue
        if level is EnforcementLevel.REMEDIATE:
            # Nothing is remediated offline; the engine reports what remains as mandatory.
            level = EnforcementLevel.MANDATORY
        properties = {k: v for k, v in config.get(policy.name, {}).items() if k != "enforcementLevel"}
        policy_settings = {**schema_defaults(policy.config_schema), **properties}
        if isinstance(policy, ResourceValidationPolicy):
            types = applies_to(policy)
            for resource in resources if types is None else by_type(types):
                results += _run(policy, level, resource["urn"], _resource_call(policy, resource, policy_settings))
        elif isinstance(policy, StackValidationPolicy):
            # Built once for every stack rule (the engine builds them per rule): the rules only read them.
            stack_resources = stack_resources if stack_resources is not None else _stack_resources(resources)
            args = StackValidationArgs(stack_resources, policy_settings)
            results += _run(policy, level, None, lambda report, p=policy, a=args: p.validate(a, report))
        ran.append(policy.name)
    failed = {r["policy"] for r in results if r["outcome"] != "not-applicable"}
    return Report(results, [name for name in ran if name not in failed], disabled)


def resource_validation_args(resource: Mapping[str, Any],
                             config: Mapping[str, Any] | None = None) -> ResourceValidationArgs:
    """The args the engine would pass a resource policy for one plan resource."""
    return ResourceValidationArgs(resource["type"], _props(resource), resource["urn"], resource.get("name", ""),
                                  _options(resource), None, dict(config or {}), {})


def _resource_call(policy: ResourceValidationPolicy, resource: Mapping[str, Any],
                   config: Mapping[str, Any]) -> Callable[[ReportViolation], Any]:
    return lambda report: policy.validate(resource_validation_args(resource, config), report)


def _run(policy: Policy, level: EnforcementLevel, urn: str | None,
         call: Callable[[ReportViolation], Any]) -> list[Result]:
    """Call a validator, turning its reports and control-flow exceptions into results.
    `urn` None (stack policies) means use the URN the violation names, if any."""
    results: list[Result] = []

    def result(message: str, outcome: Outcome, result_urn: str | None, result_level: str) -> Result:
        return {"policy": policy.name, "enforcementLevel": result_level, "urn": result_urn or "",
                "message": message, "outcome": outcome}

    def report_violation(message: str, violation_urn: str | None = None) -> None:
        # Resource policies always report against their resource, as in the engine.
        results.append(result(message, "violation", urn if urn is not None else violation_urn, level.value))

    try:
        outcome = call(report_violation)
        if inspect.isawaitable(outcome):
            asyncio.run(_wait(outcome))
    except UnknownValueError as error:
        # The engine reports "can't run policy during preview" as advisory, not as a failure.
        results.append(result(error.message, "unknown", urn, EnforcementLevel.ADVISORY.value))
    except _NotApplicableError as error:
        results.append(result(error.reason or "Policy does not apply", "not-applicable", urn, level.value))
    return results


async def _wait(awaitable: Any) -> None:
    await awaitable


def _enforcement_level(policy: Policy, config: Mapping[str, Mapping[str, Any]]) -> EnforcementLevel:
    for key in (policy.name, ALL):  # a policy's own entry wins over "all"
        level = config.get(key, {}).get("enforcementLevel")
        if level is not None:
            return EnforcementLevel(level)
    return policy.enforcement_level or PACK_ENFORCEMENT_LEVEL


def _props(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    # deserialize_properties unwraps secret/asset envelopes exactly as the engine does.
    return unknown_checking_proxy(deserialize_properties(dict(resource.get("inputs") or {})))


def _options(resource: Mapping[str, Any]) -> PolicyResourceOptions:
    options = resource.get("options") or {}
    return PolicyResourceOptions(
        protect=bool(options.get("protect", False)),
        ignore_changes=list(options.get("ignoreChanges", [])),
        delete_before_replace=options.get("deleteBeforeReplace"),
        aliases=list(options.get("aliases", [])),
        # The plan records no timeouts in the engine's (seconds) form; the engine sends zeros when unset.
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(options.get("additionalSecretOutputs", [])),
        parent=resource.get("parent") or None,
    )


def _stack_resources(resources: Sequence[Mapping[str, Any]]) -> list[PolicyResource]:
    """PolicyResources linked to their parent and dependencies, as AnalyzeStack builds them."""
    built = [PolicyResource(r["type"], _props(r), r["urn"], r.get("name", ""), _options(r), None, None, [], {})
             for r in resources]
    by_urn = {resource.urn: resource for resource in built}
    for raw, resource in zip(resources, built):
        resource.parent = by_urn.get(raw.get("parent") or "")
        resource.dependencies = [by_urn[u] for u in raw.get("dependencies", []) if u in by_urn]
        resource.property_dependencies = {
            key: [by_urn[u] for u in urns if u in by_urn]
            for key, urns in (raw.get("propertyDependencies") or {}).items()
        }
    return built


def _has_type(value: Any, json_type: str | None) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    return json_type is None or checks.get(json_type, lambda v: True)(value)
