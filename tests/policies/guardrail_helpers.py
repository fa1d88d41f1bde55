"""Shared by the guardrail tests: call rules the way the engine calls them, and build small plans.

Resource rules are called directly with `ResourceValidationArgs` built as the engine builds them
(inputs wrapped in `unknown_checking_proxy`, so an unknown value raises `UnknownValueError`); stack
rules run through `evaluate_plan` over hand-built plans shaped like the program's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policies.guardrails import POLICIES
from policies.guardrails.offline import Report, evaluate_plan

UNKNOWN = UNKNOWN_STRING_VALUE  # what the engine sends for any computed input during preview
DROP = object()  # marks an input to remove in `changed`
POLICY = {policy.name: policy for policy in POLICIES}


def engine_args(resource_type: str, inputs: dict[str, Any], config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type, unknown_checking_proxy(copy.deepcopy(inputs)),
        f"urn:pulumi:test::ddb-blueprint::{resource_type}::subject", "subject",
        PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None), None, config or {}, {})


def violations(policy_name: str, inputs: dict[str, Any], resource_type: str,
               config: dict[str, Any] | None = None) -> list[str]:
    """The messages a resource rule reports for one resource."""
    messages: list[str] = []
    POLICY[policy_name].validate(engine_args(resource_type, inputs, config),
                                 lambda message, urn=None: messages.append(message))
    return messages


def violations_then_unknown(policy_name: str, inputs: dict[str, Any], resource_type: str) -> tuple[list[str], str]:
    """The messages reported before the rule met an unknown value, and the unknown's message."""
    messages: list[str] = []
    with pytest.raises(UnknownValueError) as raised:
        POLICY[policy_name].validate(engine_args(resource_type, inputs), lambda message, urn=None: messages.append(message))
    return messages, raised.value.message


def collect_then_raise(call: Callable[[Callable[..., None]], None]) -> list[str]:
    messages: list[str] = []
    with pytest.raises(UnknownValueError):
        call(lambda message, urn=None: messages.append(message))
    return messages


def single(messages: list[str]) -> str:
    assert len(messages) == 1, messages
    return messages[0]


# --- plans ------------------------------------------------------------------------------------

def plan_resource(type_: str, name: str, inputs: dict[str, Any], *, component: str, parent: str = "",
                  **deps: list[dict[str, Any]]) -> dict[str, Any]:
    """A plan resource under component type `component`; `deps` maps an input to the resources its
    value is computed from (as `propertyDependencies`)."""
    property_dependencies = {key: [d["urn"] for d in resources] for key, resources in deps.items()}
    return {"urn": f"urn:pulumi:test::ddb-blueprint::ddb-blueprint:index:{component}${type_}::{name}",
            "type": type_, "name": name, "parent": parent, "custom": True, "inputs": copy.deepcopy(inputs),
            "options": {"protect": False},
            "dependencies": sorted({u for urns in property_dependencies.values() for u in urns}),
            "propertyDependencies": property_dependencies}


def changed(resource: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    """A copy with inputs set (or removed with DROP); a "__" in a key is a dot ("tracingConfig__mode")."""
    result = copy.deepcopy(resource)
    for key, value in inputs.items():
        *parents, last = key.split("__")
        target = result["inputs"]
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is DROP:
            target.pop(last, None)
        else:
            target[last] = value
    return result


def without_dependencies(resource: dict[str, Any], *keys: str) -> dict[str, Any]:
    result = copy.deepcopy(resource)
    for key in keys:
        result["propertyDependencies"].pop(key, None)
    return result


def replaced(resources: list[dict[str, Any]], *replacements: dict[str, Any]) -> list[dict[str, Any]]:
    """`resources` with each replacement swapped in by name (or added)."""
    by_name = {r["name"]: r for r in replacements}
    result = [by_name.pop(r["name"], r) for r in resources]
    return [*result, *by_name.values()]


def removed(resources: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["name"] not in names]


def evaluate(rule: str, resources: list[dict[str, Any]], config: dict[str, Any] | None = None) -> Report:
    plan = {"project": "ddb-blueprint", "stack": "test", "resources": resources, "outputs": {}}
    return evaluate_plan(plan, config or {}, policies=[POLICY[rule]])


def found(rule: str, resources: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(outcome, resource name, message) of every result."""
    return [(r["outcome"], r["urn"].rsplit("::", 1)[-1], r["message"]) for r in evaluate(rule, resources).results]


def single_violation(rule: str, resources: list[dict[str, Any]]) -> tuple[str, str]:
    results = found(rule, resources)
    assert len(results) == 1 and results[0][0] == "violation", results
    return results[0][1], results[0][2]


def unknown_only(rule: str, resources: list[dict[str, Any]]) -> str:
    results = found(rule, resources)
    assert [outcome for outcome, _, _ in results] == ["unknown"], results
    report = evaluate(rule, resources)
    assert report.mandatory_violations == [] and rule not in report.passed
    return results[0][2]
