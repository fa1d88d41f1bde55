"""KMS key rules (GOTCHAS K5)."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
)

from .base import KMS_KEY, config_value, of_type, rule
from .props import get_prop, is_number, show

ROTATION_DAYS = (90, 2560)  # AWS range for rotationPeriodInDays
DELETION_WINDOW_DAYS = (7, 30)  # AWS range for deletionWindowInDays
POLICY_VERSION = "2012-10-17"


@of_type(KMS_KEY)
def _validate_rotation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    period = get_prop(args.props, "rotationPeriodInDays")
    low, high = ROTATION_DAYS
    if period.known and not (is_number(period.value) and low <= period.value <= high):
        report_violation(
            f"rotationPeriodInDays is {show(period.value)}: AWS accepts {low}..{high}; set it within that "
            "range or leave it unset for yearly rotation (GOTCHAS K5)")

    rotation = get_prop(args.props, "enableKeyRotation")
    if rotation.require_known() is not True:
        report_violation(
            f"enableKeyRotation {rotation.describe()}: AWS does not rotate customer-managed key "
            "material unless asked; set enableKeyRotation=true (GOTCHAS K5)")


KEY_POLICY_SCHEMA = PolicyConfigSchema(properties={
    "minimumDeletionWindowDays": {
        "type": "integer", "minimum": DELETION_WINDOW_DAYS[0], "maximum": DELETION_WINDOW_DAYS[1],
        "default": 30,
        "description": "Smallest deletionWindowInDays accepted; the key must set it explicitly.",
    },
})


@of_type(KMS_KEY)
def _validate_explicit_policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    minimum = config_value(args, KEY_POLICY_SCHEMA, "minimumDeletionWindowDays")
    low, high = DELETION_WINDOW_DAYS
    window = get_prop(args.props, "deletionWindowInDays")
    if not window.unknown and not (is_number(window.value) and minimum <= window.value <= high):
        report_violation(
            f"deletionWindowInDays {window.describe()}: set it explicitly to at least {minimum} days "
            f"(AWS accepts {low}..{high}) so a scheduled deletion can be noticed and cancelled "
            "(GOTCHAS K5)")

    policy = get_prop(args.props, "policy")
    if policy.blank:
        report_violation(
            "policy is not set: the key would get the default key policy, which trusts the whole "
            "account; set an explicit key policy built as a dict and serialised with "
            "pulumi.Output.json_dumps (GOTCHAS K5)")
    elif policy.known:
        for problem in key_policy_problems(policy.value):
            report_violation(f"policy: {problem} (GOTCHAS K5)")

    # Judge everything known first; then an unknown value means "can't run during preview".
    window.require_known()
    policy.require_known()


def key_policy_problems(document: Any) -> list[str]:
    """Everything wrong with a key policy JSON string, as messages naming what to set."""
    try:
        parsed = json.loads(document) if isinstance(document, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return ["is not a JSON object; build the policy as a dict and serialise it with "
                "pulumi.Output.json_dumps"]

    problems = []
    if parsed.get("Version") != POLICY_VERSION:
        problems.append(f'Version is {show(parsed.get("Version"))}; set "Version": "{POLICY_VERSION}"')
    statements = parsed.get("Statement")
    if not isinstance(statements, list) or not statements:
        problems.append("Statement is not a non-empty list; list every statement explicitly")
        return problems
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            problems.append(f"Statement[{index}] is not an object")
            continue
        sid = statement.get("Sid")
        if not isinstance(sid, str) or not sid:
            problems.append(f"Statement[{index}] has no Sid; give every statement a Sid so reviews "
                            "and diffs can name it")
        if (statement.get("Effect") == "Allow" and _is_everyone(statement.get("Principal"))
                and not statement.get("Condition")):
            problems.append(f"Statement[{index}] ({sid or 'no Sid'}) allows Principal \"*\" without a "
                            "Condition; name the principals or add conditions such as kms:CallerAccount "
                            "and kms:ViaService")
    return problems


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


KMS_POLICIES = [
    rule("kms-key-rotation", "KMS keys rotate their key material automatically, with a valid rotation period.", _validate_rotation),
    rule("kms-key-explicit-policy", "KMS keys carry an explicit, reviewable key policy and a long deletion window.", _validate_explicit_policy, config_schema=KEY_POLICY_SCHEMA),
]
