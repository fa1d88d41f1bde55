"""Stateful resources must be protected against deletion by Pulumi itself."""

from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
)

from .base import KMS_KEY, TABLE, config_value, of_type, rule

STATEFUL_TYPES = {TABLE: "table", KMS_KEY: "KMS key"}

PROTECTION_SCHEMA = PolicyConfigSchema(properties={
    "required": {
        "type": "boolean", "default": True,
        "description": "Whether tables and KMS keys must be protected (false for dev stacks).",
    },
})


@of_type(*STATEFUL_TYPES)
def _validate_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    # Only `protect` can be checked: pulumi-policy's PolicyResourceOptions carries no
    # retainOnDelete, so retain_on_delete must be verified by the component's own tests.
    if not config_value(args, PROTECTION_SCHEMA, "required"):
        args.not_applicable("protection is not required by this stack's policy config")
    if not args.opts.protect:
        kind = STATEFUL_TYPES[args.resource_type]
        report_violation(
            f"protect is not set on this {kind}: a destroy or replace would delete it; set "
            "ResourceOptions(protect=True, retain_on_delete=True) (GOTCHAS T5)")


PROTECTION_POLICIES = [
    rule("stateful-resources-protected", ("DynamoDB tables and KMS keys have the `protect` resource option where the stack "
                     "requires it (retainOnDelete is not visible to policy packs)."), _validate_protected, config_schema=PROTECTION_SCHEMA),
]
