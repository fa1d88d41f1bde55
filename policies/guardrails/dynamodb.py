"""DynamoDB table rules."""

from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
)

from .api import Stack, stack_rule
from .base import GLOBAL_TABLE, KMS_KEY, TABLE, config_value, of_type, required_switch, rule, skip_unless_required
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


DELETION_PROTECTION_SCHEMA = required_switch(
    "Whether tables must set deletionProtectionEnabled (false for dev stacks).")


@of_type(TABLE)
def _validate_deletion_protection(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    skip_unless_required(args, DELETION_PROTECTION_SCHEMA, "deletion protection")
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


# --------------------------------------------------------------------------------------------
# Global tables (replicas of aws.dynamodb.Table, version 2019.11.21)
# --------------------------------------------------------------------------------------------

# The region sets an MRSC (STRONG) global table may span (facts T10). Duplicated from
# stacks/replication/model.py: the pack runs in its own virtualenv and imports nothing of the project.
MRSC_REGION_SETS = {
    "US": ("us-east-1", "us-east-2", "us-west-2"),
    "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
}


def _known_replicas(args: ResourceValidationArgs) -> list[int]:
    """Indexes of the replica blocks; raises (can't judge during preview) when the list is unknown."""
    replicas = get_prop(args.props, "replicas")
    if replicas.missing:
        return []
    return list(range(len(replicas.require_known())))


def _replica(args: ResourceValidationArgs, index: int, field: str) -> Prop:
    return get_prop(args.props, f"replicas.{index}.{field}")


def _label(args: ResourceValidationArgs, index: int) -> str:
    region = _replica(args, index, "regionName")
    return f"replicas[{index}]" + (f" ({region.value})" if region.known else "")


@of_type(TABLE)
def _validate_replica_pitr(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for index in _known_replicas(args):
        pitr = _replica(args, index, "pointInTimeRecovery")
        if pitr.require_known() is not True:
            report_violation(
                f"{_label(args, index)}.pointInTimeRecovery {pitr.describe()}: that region's copy could not be "
                "restored to a point in time (PITR is per replica, default false); set it to true (T16)")


@of_type(TABLE)
def _validate_replica_deletion_protection(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    skip_unless_required(args, DELETION_PROTECTION_SCHEMA, "deletion protection")
    for index in _known_replicas(args):
        protection = _replica(args, index, "deletionProtectionEnabled")
        if protection.require_known() is not True:
            report_violation(
                f"{_label(args, index)}.deletionProtectionEnabled {protection.describe()}: that region's copy could "
                "be deleted on its own (default false); set it to true (T16)")


def _region_set(region: str) -> str | None:
    return next((name for name, regions in MRSC_REGION_SETS.items() if region in regions), None)


@of_type(TABLE)
def _validate_replica_topology(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    indexes = _known_replicas(args)
    witness = get_prop(args.props, "globalTableWitness.regionName")
    if not indexes:
        if witness.known:
            report_violation("globalTableWitness without replicas: a witness belongs to an MRSC (STRONG) global table (T10)")
        return
    regions = [_replica(args, i, "regionName").require_known() for i in indexes]
    modes = {_replica(args, i, "consistencyMode").require_known() or "EVENTUAL" for i in indexes}
    home = get_prop(args.props, "region")
    for region in sorted({r for r in regions if regions.count(r) > 1}):
        report_violation(f"replica region {region} is listed more than once; a global table has one replica per region")
    if home.known and home.value in regions:
        report_violation(f"a replica is in the table's own region {home.value}; replicas list only the other regions (T10)")
    if len(modes) > 1:
        report_violation(f"replicas mix consistency modes {sorted(modes)}; a global table has one mode (T10)")
        return
    mode = modes.pop()
    if mode == "EVENTUAL":
        if witness.known:
            report_violation("globalTableWitness is set on an EVENTUAL global table; a witness is for STRONG (MRSC) only (T10)")
        view = get_prop(args.props, "streamViewType")
        enabled = get_prop(args.props, "streamEnabled")
        if enabled.require_known() is not True or view.require_known() != "NEW_AND_OLD_IMAGES":
            report_violation(
                f"an EVENTUAL global table streams NEW_AND_OLD_IMAGES (streamEnabled {enabled.describe()}, "
                f"streamViewType {view.describe()}); AWS keeps the stream on for replication (T1)")
        return
    # STRONG (MRSC): three regions, or two plus a witness, in one region set; no TTL, no LSIs (T10, T13).
    with_witness = witness.require_known() if not witness.missing else None
    expected = 1 if with_witness else 2
    if len(regions) != expected:
        shape = f"{len(regions)} replica block(s)" + (" and a witness" if with_witness else "")
        report_violation(f"STRONG (MRSC) needs 2 replica blocks, or 1 and globalTableWitness; got {shape} (T10)")
    if with_witness and with_witness in regions:
        report_violation(f"the witness region {with_witness} also holds a replica; it must be a different region (T10)")
    everywhere = regions + ([with_witness] if with_witness else []) + ([home.value] if home.known else [])
    sets = {region: _region_set(region) for region in everywhere}
    if None in sets.values() or len(set(sets.values())) > 1:
        spread = ", ".join(f"{r}={s or 'none'}" for r, s in sets.items())
        report_violation(f"STRONG (MRSC) regions must lie in one region set ({', '.join(MRSC_REGION_SETS)}); got "
                         f"{spread} (T10)")
    if get_prop(args.props, "ttl.enabled").value is True:
        report_violation("TTL is on: STRONG (MRSC) global tables do not support TTL (T13)")
    lsis = get_prop(args.props, "localSecondaryIndexes")
    if lsis.known and len(lsis.value):
        report_violation("local secondary indexes: STRONG (MRSC) global tables do not support them (T13)")


def _replica_keys_in_region(stack: Stack, report_violation: ReportViolation) -> None:
    """Each replica's key is a customer-managed key in the replica's own region (K1): a known ARN
    names that region; an ARN known only after apply must come from a key of this stack created
    in that region (its `region` argument, K2)."""
    for table in stack.of(TABLE):
        replicas = stack.read(table, "replicas")
        if not replicas.known:
            continue
        keys = [r for r in table.property_dependencies.get("replicas", []) if r.resource_type == KMS_KEY]
        for index in range(len(replicas.value)):
            region = stack.read(table, f"replicas.{index}.regionName")
            arn = stack.read(table, f"replicas.{index}.kmsKeyArn")
            if not region.known:
                continue
            where = f"table {table.name} replicas[{index}] ({region.value})"
            if arn.known:
                parts = str(arn.value).split(":")
                if len(parts) < 6 or parts[2] != "kms" or parts[3] != region.value or "alias/" in str(arn.value):
                    report_violation(f"{where}: kmsKeyArn {show(arn.value)} is not a key ARN in {region.value}; each "
                                     "replica needs a customer-managed key in its own region (K1)", table.urn)
            elif arn.unknown:
                in_region = [k for k in keys if get_prop(k.props, "region").value == region.value]
                if not in_region:
                    found = ", ".join(f"{k.name} ({get_prop(k.props, 'region').value or 'provider region'})" for k in keys) or "none"
                    report_violation(f"{where}: kmsKeyArn comes from no key created in {region.value} (keys it depends "
                                     f"on: {found}); create the key with region={region.value} (K1, K2)", table.urn)


DYNAMODB_POLICIES = [
    rule("dynamodb-table-cmk-encryption", "DynamoDB tables and their replicas are encrypted with customer-managed KMS keys.", _validate_cmk_encryption),
    rule("dynamodb-table-pitr", "DynamoDB tables have point-in-time recovery on, with a valid recovery period.", _validate_pitr, config_schema=PITR_SCHEMA),
    rule("dynamodb-table-deletion-protection", "DynamoDB tables have deletion protection on where the stack requires it.", _validate_deletion_protection, config_schema=DELETION_PROTECTION_SCHEMA),
    rule("dynamodb-table-billing-mode-explicit", "DynamoDB tables set billingMode explicitly; PROVISIONED tables and GSIs set capacities.", _validate_billing_mode),
    rule("no-legacy-global-table", "No aws.dynamodb.GlobalTable (2017 version, no CMK support); use table replicas.", _validate_no_legacy_global_table),
    rule("dynamodb-replica-keys-in-region", "Every replica of a global table is encrypted with a customer-managed key in its own region.",
         stack_rule(_replica_keys_in_region), stack=True),
    rule("dynamodb-replica-pitr", "Every replica of a global table has point-in-time recovery on.", _validate_replica_pitr),
    rule("dynamodb-replica-deletion-protection", "Every replica of a global table has deletion protection on where the stack requires it.",
         _validate_replica_deletion_protection, config_schema=DELETION_PROTECTION_SCHEMA),
    rule("dynamodb-replica-topology", ("Global tables have a valid topology: one replica per other region, one consistency mode, "
                     "EVENTUAL with a NEW_AND_OLD_IMAGES stream, STRONG with 3 regions or 2 plus a witness in one region set "
                     "and no TTL or local indexes."), _validate_replica_topology),
]
