"""Stateful resources must be protected against deletion by Pulumi itself."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .base import KMS_KEY, TABLE, of_type, required_switch, rule, skip_unless_required

STATEFUL_TYPES = {TABLE: "table", KMS_KEY: "KMS key"}

PROTECTION_SCHEMA = required_switch(
    "Whether tables and KMS keys must be protected (false for dev stacks).")


@of_type(*STATEFUL_TYPES)
def _validate_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    # Only `protect` can be checked: pulumi-policy's PolicyResourceOptions carries no
    # retainOnDelete, so retain_on_delete must be verified by the component's own tests.
    skip_unless_required(args, PROTECTION_SCHEMA, "protection")
    if not args.opts.protect:
        kind = STATEFUL_TYPES[args.resource_type]
        report_violation(
            f"protect is not set on this {kind}: a destroy or replace would delete it; set "
            "ResourceOptions(protect=True, retain_on_delete=True) (GOTCHAS T5)")


PROTECTION_POLICIES = [
    rule("stateful-resources-protected", ("DynamoDB tables and KMS keys have the `protect` resource option where the stack "
                     "requires it (retainOnDelete is not visible to policy packs)."), _validate_protected, config_schema=PROTECTION_SCHEMA),
]
