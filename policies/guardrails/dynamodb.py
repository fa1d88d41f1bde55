"""DynamoDB table rules."""

from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
)

from .base import GLOBAL_TABLE, TABLE, config_value, of_type, rule
from .props import Prop, get_prop, is_number, show

BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")
PITR_MAX_DAYS = 35  # AWS accepts 1..35 days for recoveryPeriodInDays


@of_type(TABLE)
def _validate_cmk_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    undecided = [*_check_table_key(args, report_violation), *_check_replica_keys(args, report_violation)]
    # Judge everything known first; then an unknown value means "can't run during preview".
    for prop in undecided:
        prop.require_known()


def _check_table_key(args: ResourceValidationArgs, report_violation: ReportViolation) -> list[Prop]:
    if get_prop(args.props, "serverSideEncryption").missing:
        report_violation(
            "serverSideEncryption is not set: the table would use an AWS-owned key; set "
            "serverSideEncryption.enabled=true and serverSideEncryption.kmsKeyArn to a "
            "customer-managed key ARN (GOTCHAS K4)")
        return []
    enabled = get_prop(args.props, "serverSideEncryption.enabled")
    if enabled.unknown:
        return [enabled]
    if enabled.value is not True:
        report_violation(
            f"serverSideEncryption.enabled {enabled.describe()}: the table would use an AWS-owned key; "
            "set it to true and set serverSideEncryption.kmsKeyArn to a customer-managed key ARN "
            "(GOTCHAS K4)")
    # An unknown ARN is the output of a key created in this stack, i.e. a customer-managed key.
    elif get_prop(args.props, "serverSideEncryption.kmsKeyArn").blank:
        report_violation(
            "serverSideEncryption.kmsKeyArn is not set: the table would use an AWS-managed key; set it "
            "to a customer-managed key ARN (GOTCHAS K4)")
    return []


def _check_replica_keys(args: ResourceValidationArgs, report_violation: ReportViolation) -> list[Prop]:
    replicas = get_prop(args.props, "replicas")
    if not replicas.known:
        return [replicas] if replicas.unknown else []
    undecided = []
    for index in range(len(replicas.value)):
        replica = get_prop(args.props, f"replicas.{index}")
        if replica.unknown:
            undecided.append(replica)
        elif get_prop(args.props, f"replicas.{index}.kmsKeyArn").blank:
            region = get_prop(args.props, f"replicas.{index}.regionName")
            where = region.value if region.known else "?"
            report_violation(
                f"replicas[{index}].kmsKeyArn is not set (region {where}): the replica would use an "
                "AWS-managed key; set it to a customer-managed key ARN in the replica's own region "
                "(GOTCHAS K1)")
    return undecided


PITR_SCHEMA = PolicyConfigSchema(properties={
    "minimumRecoveryPeriodDays": {
        "type": "integer", "minimum": 1, "maximum": PITR_MAX_DAYS, "default": 1,
        "description": "Smallest pointInTimeRecovery.recoveryPeriodInDays accepted when it is set.",
    },
})


@of_type(TABLE)
def _validate_pitr(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    period = get_prop(args.props, "pointInTimeRecovery.recoveryPeriodInDays")
    if period.known:  # absent means the AWS default (35 days); unknown cannot be judged yet
        days = period.value
        minimum = config_value(args, PITR_SCHEMA, "minimumRecoveryPeriodDays")
        if not is_number(days) or not 1 <= days <= PITR_MAX_DAYS:
            report_violation(
                f"pointInTimeRecovery.recoveryPeriodInDays is {show(days)}: AWS accepts 1..{PITR_MAX_DAYS}; "
                f"set it within that range and at least {minimum}")
        elif days < minimum:
            report_violation(
                f"pointInTimeRecovery.recoveryPeriodInDays is {days}, below the configured minimum of "
                f"{minimum} days; set it to at least {minimum}")

    enabled = get_prop(args.props, "pointInTimeRecovery.enabled")
    if enabled.require_known() is not True:
        report_violation(
            f"pointInTimeRecovery.enabled {enabled.describe()}: the table could not be restored to a "
            "point in time; set pointInTimeRecovery.enabled=true")


DELETION_PROTECTION_SCHEMA = PolicyConfigSchema(properties={
    "required": {
        "type": "boolean", "default": True,
        "description": "Whether tables must set deletionProtectionEnabled (false for dev stacks).",
    },
})


@of_type(TABLE)
def _validate_deletion_protection(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not config_value(args, DELETION_PROTECTION_SCHEMA, "required"):
        args.not_applicable("deletion protection is not required by this stack's policy config")
    protection = get_prop(args.props, "deletionProtectionEnabled")
    if protection.require_known() is not True:
        report_violation(
            f"deletionProtectionEnabled {protection.describe()}: the table and its data could be "
            "deleted by a replace or destroy; set deletionProtectionEnabled=true (GOTCHAS T5)")


@of_type(TABLE)
def _validate_billing_mode(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    mode = get_prop(args.props, "billingMode")
    if mode.missing:
        report_violation(
            "billingMode is not set: the provider defaults to PROVISIONED; set billingMode to "
            "PAY_PER_REQUEST or PROVISIONED explicitly (GOTCHAS T4)")
        return
    value = mode.require_known()
    if value not in BILLING_MODES:
        report_violation(f"billingMode is {show(value)}: set it to PAY_PER_REQUEST or PROVISIONED (GOTCHAS T4)")
        return
    if value != "PROVISIONED":
        return
    for capacity in ("readCapacity", "writeCapacity"):
        _require_capacity(args, capacity, capacity, report_violation)
    indexes = get_prop(args.props, "globalSecondaryIndexes")
    if indexes.missing:
        return
    for index in range(len(indexes.require_known())):
        name = get_prop(args.props, f"globalSecondaryIndexes.{index}.name")
        label = f"globalSecondaryIndexes[{index}]" + (f" ({name.value})" if name.known else "")
        for capacity in ("readCapacity", "writeCapacity"):
            _require_capacity(args, f"globalSecondaryIndexes.{index}.{capacity}", f"{label}.{capacity}",
                              report_violation)


def _require_capacity(args: ResourceValidationArgs, path: str, label: str,
                      report_violation: ReportViolation) -> None:
    capacity = get_prop(args.props, path)
    # Unknown is fine: the capacity is set, only its value is computed.
    if capacity.missing:
        report_violation(
            f"{label} is not set: billingMode PROVISIONED needs it; set {label} to a positive "
            "number of capacity units or use billingMode PAY_PER_REQUEST (GOTCHAS T4)")
    elif capacity.known and not (is_number(capacity.value) and capacity.value > 0):
        report_violation(f"{label} is {show(capacity.value)}: set it to a positive number of capacity units")


@of_type(GLOBAL_TABLE)
def _validate_no_legacy_global_table(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    report_violation(
        "aws.dynamodb.GlobalTable is Global Tables version 2017.11.29, which cannot use a "
        "customer-managed key; remove it and set `replicas` on aws.dynamodb.Table instead (GOTCHAS T8)")


DYNAMODB_POLICIES = [
    rule("dynamodb-table-cmk-encryption", "DynamoDB tables and their replicas are encrypted with customer-managed KMS keys.", _validate_cmk_encryption),
    rule("dynamodb-table-pitr", "DynamoDB tables have point-in-time recovery on, with a valid recovery period.", _validate_pitr, config_schema=PITR_SCHEMA),
    rule("dynamodb-table-deletion-protection", "DynamoDB tables have deletion protection on where the stack requires it.", _validate_deletion_protection, config_schema=DELETION_PROTECTION_SCHEMA),
    rule("dynamodb-table-billing-mode-explicit", "DynamoDB tables set billingMode explicitly; PROVISIONED tables and GSIs set capacities.", _validate_billing_mode),
    rule("no-legacy-global-table", "No aws.dynamodb.GlobalTable (2017 version, no CMK support); use table replicas.", _validate_no_legacy_global_table),
]
