"""Every policy in a plan, each traced to the code that declares it and the reason it exists.

Policy-bearing resources are found generically, not from a list of what the program creates today:
a resource bears a policy when one of its inputs is a policy document or policy reference
(`POLICY_INPUTS`) or when its type is a resource-policy or permission type (the type name ends in
Policy, Permission, PolicyAttachment or Grant), minus the types that only share the word
(`NOT_ACCESS_POLICIES`). Each one is then traced by `TRACES`; a policy no trace explains is
"untraced", which the review shows and `audit` fails on, so a new capability (Global Tables, DAX,
...) cannot add a policy that a reviewer never sees.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .mockrun import UNKNOWN

POLICY_INPUTS = ("policy", "assumeRolePolicy", "inlinePolicies", "managedPolicyArns", "policyArn", "accessPolicies",
                 "sourcePolicyDocuments", "resourcePolicy")
POLICY_TYPE_SUFFIXES = ("Policy", "Permission", "PolicyAttachment", "Grant")
# Types whose name ends like a policy type but which grant nothing.
NOT_ACCESS_POLICIES = {
    "aws:appautoscaling/policy:Policy": "an autoscaling policy (capacity targets), not an access policy",
}

# Inputs whose name mentions a policy but which grant nothing (a test scans every input name with
# "polic" in it: a new one must be either a policy input above or listed here with its reason).
NOT_ACCESS_POLICY_INPUTS = {
    "bypassPolicyLockoutSafetyCheck": "a KMS flag (the stack never sets it true: guardrail kms-key-explicit-policy)",
    "passwordPolicy": "the Cognito user pool's password rules (shown under App users)",
}

KIND_TRUST = "trust policy"
KIND_IDENTITY = "IAM policy (identity-based)"
KIND_KEY = "key policy"
KIND_RESOURCE = "resource policy"
KIND_PERMISSION = "Lambda permission"


@dataclass(frozen=True)
class PolicyEntry:
    urn: str
    type: str
    name: str
    field: str  # the input holding the policy ("" for permission resources)
    kind: str
    declared_in: str  # the code that declares it
    reason: str
    document: Any  # the parsed document, or None when it is known only after apply

    @property
    def traced(self) -> bool:
        return bool(self.declared_in)


def policy_fields(resource: dict[str, Any]) -> list[str]:
    """The inputs of `resource` that hold a policy, or [""] for a permission-type resource."""
    inputs = resource.get("inputs", {})
    fields = [k for k in POLICY_INPUTS if inputs.get(k) not in (None, "", [], {})]
    if fields:
        return fields
    token = resource["type"].rsplit(":", 1)[-1]
    if resource.get("custom") and token.endswith(POLICY_TYPE_SUFFIXES) and resource["type"] not in NOT_ACCESS_POLICIES:
        return [""]
    return []


def policy_bearing(plan: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(resource, field) for every policy in the plan."""
    return [(r, f) for r in plan["resources"] for f in policy_fields(r)]


def _document(value: Any) -> Any:
    if isinstance(value, str) and value != UNKNOWN:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return None if value == UNKNOWN else value


def _component(plan: dict[str, Any], urn: Optional[str]) -> dict[str, Any]:
    return next((r for r in plan["resources"] if r["urn"] == urn), {}) if urn else {}


Trace = Callable[[dict[str, Any], str, dict[str, Any]], Optional[tuple[str, str, str]]]


def _access_role_trust(resource, field, plan):
    if resource["type"] == "aws:iam/role:Role" and field == "assumeRolePolicy":
        parent = _component(plan, resource.get("parent"))
        if parent.get("type") == "ddb-blueprint:index:AccessRole":
            review = parent.get("outputs", {}).get("review", {})
            who = review.get("service") or review.get("kind", "")
            return (KIND_TRUST, "stacks/access/policies.py trust_policy(), from the principal in ddb-blueprint:access",
                    f"who may act as principal `{parent['name'].removesuffix('-role')}` ({who}): {review.get('description', '')}")
    return None


def _access_role_policy(resource, field, plan):
    if resource["type"] == "aws:iam/rolePolicy:RolePolicy" and resource["name"].endswith("-role-access"):
        principal = resource["name"].removesuffix("-role-access")
        return (KIND_IDENTITY, "stacks/access/policies.py permission_policy(), from the grants in ddb-blueprint:access",
                f"the declared grants of `{principal}` (each statement's grant and reason: the role's section)")
    return None


def _invoke_policy(resource, field, plan):
    if resource["type"] == "aws:iam/rolePolicy:RolePolicy" and resource["name"].endswith("-role-invoke"):
        return (KIND_IDENTITY, "stacks/blueprint.py _build_api() with stacks/access/policies.py invoke_policy()",
                "app users sign the caller-credential (iam) routes: execute-api:Invoke on exactly those routes of this API's stage")
    return None


def _function_runtime(resource, field, plan):
    match = re.fullmatch(r"functions-(.+)-runtime", resource["name"])
    if resource["type"] == "aws:iam/rolePolicy:RolePolicy" and match:
        return (KIND_IDENTITY, "stacks/functions/component.py runtime_policy()",
                f"what running `{match.group(1)}` needs beyond its grants: its own log group and X-Ray traces; a "
                "stream-invoked function also its failure queue and the ops key for it")
    return None


def _key_policy(resource, field, plan):
    if resource["type"] == "aws:kms/key:Key" and field == "policy":
        purpose = ("the ops key: CloudWatch Logs log groups, SNS topics and SQS queues of this stack"
                   if resource["name"].startswith("ops-key") else "the table key: encrypts this stack's tables")
        return (KIND_KEY, "stacks/keys/policy.py (statement purposes in the key's section)", purpose)
    return None


def _lambda_permission(resource, field, plan):
    if resource["type"] == "aws:lambda/permission:Permission":
        parent = _component(plan, resource.get("parent"))
        if parent.get("type") == "ddb-blueprint:index:Api":
            return (KIND_PERMISSION, "stacks/api/component.py _create_proxy_route()",
                    "API Gateway may invoke the function of a function-backed route, only from this API (source ARN)")
    return None


def _dax(resource, field, plan):
    """The DAX cluster's service role and the network's flow-log role and DynamoDB endpoint."""
    parent = _component(plan, resource.get("parent")).get("type")
    kind = KIND_TRUST if field == "assumeRolePolicy" else KIND_RESOURCE if resource["type"].startswith("aws:ec2/") else KIND_IDENTITY
    if parent == "ddb-blueprint:index:DaxCluster":
        return (kind, "stacks/dax/component.py (the cluster) with stacks/dax/policies.py, from ddb-blueprint:dax",
                "the DAX service role: trusted by dax.amazonaws.com (AWS documents no source conditions, D1/D13); reads the "
                "cached tables and their indexes and the table key through DynamoDB; every DAX client inherits it (D3)")
    if parent == "ddb-blueprint:index:DaxNetwork":
        if resource["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint":
            return (kind, "stacks/dax/component.py (the network), from ddb-blueprint:dax.network.create",
                    "the VPC's DynamoDB gateway endpoint admits this account's calls to this stack's tables only (D6)")
        return (kind, "stacks/dax/component.py (the network), from ddb-blueprint:dax.network.create",
                "VPC flow logs write to their own log group (encrypted with the ops key), assumed by vpc-flow-logs for this account")
    return None


TRACES: tuple[Trace, ...] = (_access_role_trust, _access_role_policy, _invoke_policy, _function_runtime, _key_policy,
                             _lambda_permission, _dax)


def _guess_kind(resource: dict[str, Any], field: str) -> str:
    """The kind of an untraced policy, from its shape (the review still flags it)."""
    if field == "assumeRolePolicy":
        return KIND_TRUST
    if resource["type"].startswith("aws:kms/"):
        return KIND_KEY
    if resource["type"].startswith("aws:iam/"):
        return KIND_IDENTITY
    if resource["type"] == "aws:lambda/permission:Permission":
        return KIND_PERMISSION
    return KIND_RESOURCE


def inventory(plan: dict[str, Any]) -> list[PolicyEntry]:
    """Every policy of the plan with its trace (declared_in empty when no trace explains it)."""
    entries = []
    for resource, field in policy_bearing(plan):
        traced = next((t for t in (trace(resource, field, plan) for trace in TRACES) if t), None)
        kind, declared, reason = traced or (_guess_kind(resource, field), "", "")
        document = _document(resource["inputs"].get(field)) if field else {
            k: v for k, v in sorted(resource["inputs"].items()) if k not in ("region", "tags")}
        entries.append(PolicyEntry(resource["urn"], resource["type"], resource["name"], field, kind, declared, reason, document))
    return sorted(entries, key=lambda e: (e.kind, e.name, e.field))
