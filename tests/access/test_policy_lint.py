"""Every generated policy passes an IAM linter (parliament), and matches its reviewed snapshot."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from parliament import analyze_policy_string
from policy_sentry.querying.actions import get_action_data

from stacks.offline import snapshots

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def plans(reference_preview) -> dict[str, dict]:
    return {stack: copy.deepcopy(reference_preview(stack).plan) for stack in STACKS}


def generated_policies(plan: dict) -> dict[str, tuple[str, dict]]:
    """name -> (kind, document) for every identity and key policy in the plan.

    Role trust policies are left to the guardrails (iam-cognito-trust, iam-service-trust-scoped):
    parliament does not analyse them (they have no Resource element).
    """
    found: dict[str, tuple[str, dict]] = {}
    for r in plan["resources"]:
        if r["type"] == "aws:iam/rolePolicy:RolePolicy" and r["name"].endswith("-role-access"):
            found[r["name"]] = ("identity", json.loads(r["inputs"]["policy"]))
        elif r["type"] == "aws:kms/key:Key":
            found[r["name"]] = ("resource", as_this_key(json.loads(r["inputs"]["policy"]), plan))
    return found


def as_this_key(policy: dict, plan: dict) -> dict:
    """In a key policy "Resource": "*" means the key itself; name it so the linter can check
    actions against the key resource type (parliament reads every policy as an identity policy)."""
    region = plan["outputs"]["region"]
    arn = f"arn:aws:kms:{region}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    return {**policy, "Statement": [{**s, "Resource": arn if s["Resource"] == "*" else s["Resource"]} for s in policy["Statement"]]}


def _policy_sentry(action: str) -> list[dict]:
    service, name = action.split(":")
    return get_action_data(service, name)[service]


def condition_keys_known_to_policy_sentry(action: str) -> set[str]:
    return {k for entry in _policy_sentry(action) for k in entry["condition_keys"]}


def resource_allowed_by_policy_sentry(action: str, resources: list[str]) -> bool:
    """Some resource of the statement matches one of the action's current ARN formats."""
    patterns = [
        re.compile("^" + re.sub(r"\\\$\\\{[^}]*\\\}", "[^:]+", re.escape(e["resource_arn_format"])) + "$")
        for e in _policy_sentry(action) if e["resource_arn_format"] != "*"
    ]
    return any(p.match(r) for p in patterns for r in resources)


DAX_PROTOCOL_ACTIONS = {"dax:DefineAttributeList", "dax:DefineAttributeListId", "dax:DefineKeySchema", "dax:Endpoints"}


def findings(kind: str, document: dict) -> list[str]:
    policy = analyze_policy_string(json.dumps(document), ignore_private_auditors=True, include_community_auditors=False)
    issues = []
    for f in policy.findings:
        detail = f.detail if isinstance(f.detail, str) else json.dumps(f.detail)
        # parliament's bundled IAM data is older than the service authorization reference (it
        # lacks kms:ResourceAliases, and key resources for the alias actions): accept those two
        # findings only where policy_sentry's current data confirms the key or the resource for
        # that very action.
        if f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and "Unknown condition " in detail:
            key, action = detail.removeprefix("Unknown condition ").split(" for action ")
            if key in condition_keys_known_to_policy_sentry(action):
                continue
        # The DAX guide requires these four protocol actions in every DAX client policy (D4); neither
        # parliament's data nor policy_sentry's list them, so exactly these are accepted.
        if f.issue == "UNKNOWN_ACTION" and detail.removeprefix("Unknown action ") in DAX_PROTOCOL_ACTIONS:
            continue
        if f.issue == "RESOURCE_MISMATCH" and isinstance(f.detail, list):
            resources = [r for st in document["Statement"] for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])]
            if all(resource_allowed_by_policy_sentry(d["action"], resources) for d in f.detail):
                continue
        issues.append(f"{f.issue}: {detail}")
    return issues


@pytest.mark.parametrize("stack", STACKS)
def test_identity_policies_have_no_linter_findings(plans, stack):
    for name, (kind, document) in generated_policies(plans[stack]).items():
        if kind == "identity":
            assert findings(kind, document) == [], name


@pytest.mark.parametrize("stack", STACKS)
def test_key_policies_have_no_linter_findings(plans, stack):
    for name, (kind, document) in generated_policies(plans[stack]).items():
        if kind == "resource":
            assert findings(kind, document) == [], name


def test_the_linter_does_find_problems_in_a_broken_policy():
    broken = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItems"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "arn:aws:s3:::bucket",
         "Condition": {"StringEquals": {"dynamodb:LeadingKey": "x"}}},
    ]}
    issues = " ".join(findings("identity", broken))
    assert "UNKNOWN_ACTION" in issues and "RESOURCE_MISMATCH" in issues


def test_the_suppression_only_covers_condition_keys_policy_sentry_confirms():
    document = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "arn:aws:kms:us-east-1:123456789012:key/*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/a"], "kms:ResourceAliasez": ["b"]}}}]}
    reported = findings("identity", document)
    assert any("kms:ResourceAliasez" in f for f in reported)
    assert not any("kms:ResourceAliases " in f for f in reported)


@pytest.mark.parametrize("stack", STACKS)
def test_generated_policies_match_the_reviewed_snapshot(plans, stack):
    diff = snapshots.compare(REPO, plans[stack])
    assert diff == "", f"policies of {stack} changed; review, then ./blueprint snapshots --update\n{diff}"
