"""The security review accounts for every policy in the plan (issue 13, item 4): a broad scan of
each plan, independent of the inventory's own rules, finds every policy-bearing resource, and each
is in the review, traced to its declaration with a reason. A policy nothing explains fails."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from stacks.offline.audit import policy_section, untraced_policies
from stacks.offline.inventory import NOT_ACCESS_POLICIES, NOT_ACCESS_POLICY_INPUTS, inventory

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def audits(reference_audit):
    return {stack: reference_audit(stack) for stack in STACKS}


def broad_scan(plan: dict) -> set[tuple[str, str]]:
    """Anything that looks like a policy: an input whose name mentions a policy, or a permission/
    policy/grant resource type (what a reviewer would grep for)."""
    found = set()
    for r in plan["resources"]:
        if not r["custom"] or r["type"] in NOT_ACCESS_POLICIES:
            continue
        for key, value in r["inputs"].items():
            if re.search(r"polic", key, re.I) and key not in NOT_ACCESS_POLICY_INPUTS and value not in (None, "", [], {}, False):
                found.add((r["urn"], key))
        if re.search(r"(Policy|Permission|Grant|PolicyAttachment)$", r["type"]) and not any(u == r["urn"] for u, _ in found):
            found.add((r["urn"], ""))
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_policy_bearing_resource_of_the_plan_is_in_the_review_traced(audits, stack):
    result = audits[stack]
    plan = result.preview.plan
    entries = inventory(plan)
    assert {(e.urn, e.field) for e in entries} == broad_scan(plan)
    review = result.markdown_path.read_text()
    section = review[review.index("## Every policy in this stack"): review.index("## Guardrails")]
    for e in entries:
        assert e.traced and e.reason, e.name
        assert f"| `{e.name}`" in section and f"### `{e.name}`: {e.kind}" in section, e.name
    assert result.untraced_policies == 0 and "All traced." in section


def test_the_prod_review_shows_the_runtime_invoke_and_permission_policies(audits):
    review = audits["prod"].markdown_path.read_text()
    for expected in ("`sqs:SendMessage`", "`xray:PutTraceSegments`", "`logs:PutLogEvents`", "`execute-api:Invoke`",
                     "`lambda:InvokeFunction`", "`apigateway.amazonaws.com`", "`api-placeOrder-invoke`",
                     "`functions-productEvents-runtime`", "`shopper-role-invoke`"):
        assert expected in review, expected


def test_a_policy_nothing_explains_is_untraced_and_named_in_the_review(audits):
    # GIVEN a plan to which a new capability (say DAX) added a role and a queue policy without a trace
    result = audits["prod"]
    plan = copy.deepcopy(result.preview.plan)
    stack_urn = next(r["urn"] for r in plan["resources"] if r["type"] == "pulumi:pulumi:Stack")
    base = {"custom": True, "parent": stack_urn, "options": {}, "dependencies": [], "propertyDependencies": {}}
    plan["resources"] += [
        {**base, "urn": "urn:pulumi:prod::ddb-blueprint::aws:iam/role:Role::dax-service-role", "type": "aws:iam/role:Role",
         "name": "dax-service-role", "inputs": {"assumeRolePolicy": '{"Version": "2012-10-17", "Statement": []}'}},
        {**base, "urn": "urn:pulumi:prod::ddb-blueprint::aws:sqs/queuePolicy:QueuePolicy::q", "type": "aws:sqs/queuePolicy:QueuePolicy",
         "name": "q", "inputs": {"policy": '{"Version": "2012-10-17", "Statement": []}', "queueUrl": "u"}},
    ]
    # THEN both are found, untraced, and the review says so
    assert untraced_policies(plan) == 2
    from stacks.offline.audit import ArnContext
    from stacks.config.loader import load_for_stack
    from stacks.config.sources import cli_config, read_project, read_stack
    config = load_for_stack(REPO, "prod", cli_config(read_project(REPO, "prod"), read_stack(REPO, "prod")))
    text = "\n".join(policy_section(config, plan, ArnContext("aws", "123456789012", "us-east-1", "ddb-blueprint", "prod")))
    assert "**2 untraced" in text
    assert "| `dax-service-role` (`assumeRolePolicy`) | `aws:iam/role:Role` | trust policy | **UNTRACED**" in text
    assert "| `q` (`policy`) | `aws:sqs/queuePolicy:QueuePolicy` | resource policy | **UNTRACED**" in text
    assert text.count("**UNTRACED**") == 2


def test_autoscaling_policies_are_not_access_policies(audits):
    plan = audits["prod"].preview.plan
    scaling = [r for r in plan["resources"] if r["type"] == "aws:appautoscaling/policy:Policy"]
    assert scaling and not any(e.type == "aws:appautoscaling/policy:Policy" for e in inventory(plan))
