"""Each guardrail validator called directly, the way the engine calls it: inputs wrapped in
`unknown_checking_proxy`, UnknownValueError and not-applicable propagating to the caller.

For every rule: a passing input, a failing input, the property missing, the property unknown.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policies.guardrails import POLICIES

TABLE = "aws:dynamodb/table:Table"
GLOBAL_TABLE = "aws:dynamodb/globalTable:GlobalTable"
KMS_KEY = "aws:kms/key:Key"
UNKNOWN = UNKNOWN_STRING_VALUE  # what the engine sends for any computed input during preview
DROP = object()  # marks a property to remove in `changed`

POLICY = {policy.name: policy for policy in POLICIES}
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555"
REPLICA_KEY_ARN = "arn:aws:kms:eu-central-1:111111111111:key/66666666-7777-8888-9999-000000000000"

GOOD_TABLE: dict[str, Any] = {
    "name": "products",
    "billingMode": "PAY_PER_REQUEST",
    "hashKey": "pk",
    "attributes": [{"name": "pk", "type": "S"}],
    "serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN},
    "pointInTimeRecovery": {"enabled": True},
    "deletionProtectionEnabled": True,
}
KEY_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "KeyAdministrators", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111111111111:role/key-admin"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "DynamoDBUse", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                    "kms:DescribeKey", "kms:CreateGrant"],
         "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com",
                                        "kms:CallerAccount": "111111111111"}}},
    ],
}
GOOD_KEY: dict[str, Any] = {
    "description": "products table key",
    "enableKeyRotation": True,
    "deletionWindowInDays": 30,
    "policy": json.dumps(KEY_POLICY),
}


def changed(inputs: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `inputs` with the dotted `path` set to `value` (or removed with DROP)."""
    result = copy.deepcopy(inputs)
    *parents, last = path.split(".")
    target: Any = result
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
    if value is DROP:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result


def run(policy_name: str, inputs: dict[str, Any], report: Callable[..., None], *,
        resource_type: str = TABLE, protect: bool = True, config: dict[str, Any] | None = None) -> None:
    """Build ResourceValidationArgs as the engine does and call the policy's validate."""
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(copy.deepcopy(inputs)),
        f"urn:pulumi:test::ddb-blueprint::{resource_type}::subject",
        "subject",
        PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None),
        None,
        config if config is not None else {},  # empty: validators fall back to schema defaults
        {},
    )
    POLICY[policy_name].validate(args, report)


def violations(policy_name: str, inputs: dict[str, Any], **kwargs: Any) -> list[str]:
    messages: list[str] = []
    run(policy_name, inputs, lambda message, urn=None: messages.append(message), **kwargs)
    return messages


def single(messages: list[str]) -> str:
    assert len(messages) == 1, messages
    return messages[0]


# --- dynamodb-table-cmk-encryption ------------------------------------------------------------

CMK = "dynamodb-table-cmk-encryption"


def test_cmk_table_with_key_arn_passes():  # K4
    assert violations(CMK, GOOD_TABLE) == []


def test_cmk_table_with_encryption_disabled_is_violation():  # K4: enabled=false is an AWS-owned key
    message = single(violations(CMK, changed(GOOD_TABLE, "serverSideEncryption.enabled", False)))
    assert "serverSideEncryption.enabled is false" in message and "K4" in message


def test_cmk_table_enabled_without_key_arn_is_violation():  # K4: true without ARN is AWS-managed
    message = single(violations(CMK, changed(GOOD_TABLE, "serverSideEncryption.kmsKeyArn", DROP)))
    assert message.startswith("serverSideEncryption.kmsKeyArn is not set") and "AWS-managed" in message


def test_cmk_table_with_empty_key_arn_is_violation():  # K4
    assert "kmsKeyArn is not set" in single(violations(CMK, changed(GOOD_TABLE, "serverSideEncryption.kmsKeyArn", "")))


def test_cmk_table_without_encryption_block_is_violation():  # K4: no block is an AWS-owned key
    message = single(violations(CMK, changed(GOOD_TABLE, "serverSideEncryption", DROP)))
    assert message.startswith("serverSideEncryption is not set") and "K4" in message


def test_cmk_table_with_unknown_key_arn_passes():  # K4: the ARN of a key created in this stack
    assert violations(CMK, changed(GOOD_TABLE, "serverSideEncryption.kmsKeyArn", UNKNOWN)) == []


def test_cmk_table_with_unknown_enabled_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        violations(CMK, changed(GOOD_TABLE, "serverSideEncryption.enabled", UNKNOWN))


def test_cmk_replica_with_key_passes():  # K1
    table = changed(GOOD_TABLE, "replicas", [{"regionName": "eu-central-1", "kmsKeyArn": REPLICA_KEY_ARN}])
    assert violations(CMK, table) == []


def test_cmk_replica_without_key_is_violation_naming_its_region():  # K1
    table = changed(GOOD_TABLE, "replicas", [{"regionName": "eu-central-1", "kmsKeyArn": REPLICA_KEY_ARN},
                                             {"regionName": "us-east-1"}])
    message = single(violations(CMK, table))
    assert message.startswith("replicas[1].kmsKeyArn is not set (region us-east-1)") and "K1" in message


def test_cmk_replica_with_unknown_key_passes():  # K1: a key created in the replica region
    table = changed(GOOD_TABLE, "replicas", [{"regionName": "eu-central-1", "kmsKeyArn": UNKNOWN}])
    assert violations(CMK, table) == []


def test_cmk_unknown_replica_list_cannot_be_judged():  # K1
    with pytest.raises(UnknownValueError):
        violations(CMK, changed(GOOD_TABLE, "replicas", UNKNOWN))


def test_cmk_known_violation_is_reported_before_an_unknown_replica_list():  # K4
    messages: list[str] = []
    table = changed(changed(GOOD_TABLE, "replicas", UNKNOWN), "serverSideEncryption.enabled", False)
    with pytest.raises(UnknownValueError):
        run(CMK, table, lambda message, urn=None: messages.append(message))
    assert single(messages).startswith("serverSideEncryption.enabled is false")


def test_cmk_ignores_other_resource_types():
    assert violations(CMK, {}, resource_type=KMS_KEY) == []


# --- dynamodb-table-pitr ----------------------------------------------------------------------

PITR = "dynamodb-table-pitr"


def test_pitr_enabled_passes():
    assert violations(PITR, GOOD_TABLE) == []


def test_pitr_disabled_is_violation():
    message = single(violations(PITR, changed(GOOD_TABLE, "pointInTimeRecovery.enabled", False)))
    assert "pointInTimeRecovery.enabled is false" in message and "set pointInTimeRecovery.enabled=true" in message


def test_pitr_missing_block_is_violation():
    message = single(violations(PITR, changed(GOOD_TABLE, "pointInTimeRecovery", DROP)))
    assert message.startswith("pointInTimeRecovery.enabled is not set")


def test_pitr_unknown_enabled_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        violations(PITR, changed(GOOD_TABLE, "pointInTimeRecovery.enabled", UNKNOWN))


def test_pitr_unknown_recovery_period_passes():
    assert violations(PITR, changed(GOOD_TABLE, "pointInTimeRecovery.recoveryPeriodInDays", UNKNOWN)) == []


def test_pitr_recovery_period_as_engine_float_passes():  # the engine sends numbers as floats
    assert violations(PITR, changed(GOOD_TABLE, "pointInTimeRecovery.recoveryPeriodInDays", 35.0)) == []


def test_pitr_recovery_period_below_configured_minimum_is_violation():
    table = changed(GOOD_TABLE, "pointInTimeRecovery.recoveryPeriodInDays", 7)
    message = single(violations(PITR, table, config={"minimumRecoveryPeriodDays": 14}))
    assert "recoveryPeriodInDays is 7, below the configured minimum of 14" in message


@given(days=st.integers(min_value=-5, max_value=60), minimum=st.integers(min_value=1, max_value=35))
def test_pitr_recovery_period_must_be_within_aws_range_and_minimum(days: int, minimum: int):
    table = changed(GOOD_TABLE, "pointInTimeRecovery.recoveryPeriodInDays", days)
    messages = violations(PITR, table, config={"minimumRecoveryPeriodDays": minimum})
    assert bool(messages) == (not (1 <= days <= 35 and days >= minimum))


# --- dynamodb-table-deletion-protection -------------------------------------------------------

DELETION = "dynamodb-table-deletion-protection"


def test_deletion_protection_enabled_passes():  # T5
    assert violations(DELETION, GOOD_TABLE) == []


def test_deletion_protection_disabled_is_violation_by_default():  # T5: required defaults to true
    message = single(violations(DELETION, changed(GOOD_TABLE, "deletionProtectionEnabled", False)))
    assert "deletionProtectionEnabled is false" in message and "set deletionProtectionEnabled=true" in message


def test_deletion_protection_missing_is_violation():  # T5
    message = single(violations(DELETION, changed(GOOD_TABLE, "deletionProtectionEnabled", DROP)))
    assert message.startswith("deletionProtectionEnabled is not set")


def test_deletion_protection_unknown_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        violations(DELETION, changed(GOOD_TABLE, "deletionProtectionEnabled", UNKNOWN))


def test_deletion_protection_not_required_is_not_applicable():
    with pytest.raises(_NotApplicableError):
        violations(DELETION, changed(GOOD_TABLE, "deletionProtectionEnabled", False), config={"required": False})


# --- dynamodb-table-billing-mode-explicit -----------------------------------------------------

BILLING = "dynamodb-table-billing-mode-explicit"
PROVISIONED_TABLE = {
    **GOOD_TABLE, "billingMode": "PROVISIONED", "readCapacity": 5, "writeCapacity": 5,
    "globalSecondaryIndexes": [{"name": "by-sku", "readCapacity": 5, "writeCapacity": 5}],
}


def test_billing_mode_pay_per_request_passes():  # T4
    assert violations(BILLING, GOOD_TABLE) == []


def test_billing_mode_provisioned_with_capacities_passes():  # T4
    assert violations(BILLING, PROVISIONED_TABLE) == []


def test_billing_mode_missing_is_violation():  # T4: the provider would default to PROVISIONED
    message = single(violations(BILLING, changed(GOOD_TABLE, "billingMode", DROP)))
    assert message.startswith("billingMode is not set") and "T4" in message


def test_billing_mode_unknown_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        violations(BILLING, changed(GOOD_TABLE, "billingMode", UNKNOWN))


def test_billing_mode_invalid_value_is_violation():  # T4
    assert 'billingMode is "ON_DEMAND"' in single(violations(BILLING, changed(GOOD_TABLE, "billingMode", "ON_DEMAND")))


def test_billing_mode_provisioned_without_table_capacity_is_violation():  # T4
    message = single(violations(BILLING, changed(PROVISIONED_TABLE, "writeCapacity", DROP)))
    assert message.startswith("writeCapacity is not set")


def test_billing_mode_provisioned_gsi_without_capacity_is_violation_naming_the_index():  # T4
    message = single(violations(BILLING, changed(PROVISIONED_TABLE, "globalSecondaryIndexes.0.readCapacity", DROP)))
    assert message.startswith("globalSecondaryIndexes[0] (by-sku).readCapacity is not set")


def test_billing_mode_provisioned_zero_capacity_is_violation():
    assert "readCapacity is 0" in single(violations(BILLING, changed(PROVISIONED_TABLE, "readCapacity", 0)))


def test_billing_mode_provisioned_unknown_capacity_passes():  # set, only its value is computed
    assert violations(BILLING, changed(PROVISIONED_TABLE, "readCapacity", UNKNOWN)) == []


# --- no-legacy-global-table -------------------------------------------------------------------

LEGACY = "no-legacy-global-table"


def test_legacy_global_table_rule_passes_tables_with_replicas():  # T8
    table = changed(GOOD_TABLE, "replicas", [{"regionName": "eu-central-1", "kmsKeyArn": REPLICA_KEY_ARN}])
    assert violations(LEGACY, table) == []


def test_legacy_global_table_is_violation():  # T8
    message = single(violations(LEGACY, {"name": "products", "replicas": [{"regionName": "eu-west-1"}]},
                                resource_type=GLOBAL_TABLE))
    assert "replicas" in message and "T8" in message


def test_legacy_global_table_without_inputs_is_violation():  # T8: the type alone is the problem
    assert len(violations(LEGACY, {}, resource_type=GLOBAL_TABLE)) == 1


def test_legacy_global_table_with_unknown_inputs_is_violation():  # T8: judged without reading inputs
    assert len(violations(LEGACY, {"name": UNKNOWN, "replicas": UNKNOWN}, resource_type=GLOBAL_TABLE)) == 1


# --- kms-key-rotation -------------------------------------------------------------------------

ROTATION = "kms-key-rotation"


def test_key_rotation_enabled_passes():  # K5
    assert violations(ROTATION, GOOD_KEY, resource_type=KMS_KEY) == []


def test_key_rotation_disabled_is_violation():  # K5
    message = single(violations(ROTATION, changed(GOOD_KEY, "enableKeyRotation", False), resource_type=KMS_KEY))
    assert "enableKeyRotation is false" in message and "set enableKeyRotation=true" in message


def test_key_rotation_missing_is_violation():  # K5: AWS does not rotate by default
    message = single(violations(ROTATION, changed(GOOD_KEY, "enableKeyRotation", DROP), resource_type=KMS_KEY))
    assert message.startswith("enableKeyRotation is not set")


def test_key_rotation_unknown_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        violations(ROTATION, changed(GOOD_KEY, "enableKeyRotation", UNKNOWN), resource_type=KMS_KEY)


@pytest.mark.parametrize("days", [89, 2561])
def test_key_rotation_period_outside_aws_range_is_violation(days: int):  # K5
    message = single(violations(ROTATION, changed(GOOD_KEY, "rotationPeriodInDays", days), resource_type=KMS_KEY))
    assert message.startswith(f"rotationPeriodInDays is {days}")


@pytest.mark.parametrize("days", [90, 365, 2560, UNKNOWN])
def test_key_rotation_period_in_range_or_unknown_passes(days: Any):
    assert violations(ROTATION, changed(GOOD_KEY, "rotationPeriodInDays", days), resource_type=KMS_KEY) == []


# --- kms-key-explicit-policy ------------------------------------------------------------------

KEY_POLICY_RULE = "kms-key-explicit-policy"


def key_with_policy(document: dict[str, Any]) -> dict[str, Any]:
    return changed(GOOD_KEY, "policy", json.dumps(document))


def test_key_policy_explicit_passes():  # K5
    assert violations(KEY_POLICY_RULE, GOOD_KEY, resource_type=KMS_KEY) == []


def test_key_policy_missing_is_violation():  # K5: the default policy trusts the whole account
    message = single(violations(KEY_POLICY_RULE, changed(GOOD_KEY, "policy", DROP), resource_type=KMS_KEY))
    assert message.startswith("policy is not set") and "K5" in message


def test_key_policy_unknown_cannot_be_judged_but_known_window_is_still_reported():  # K5
    messages: list[str] = []
    key = changed(changed(GOOD_KEY, "policy", UNKNOWN), "deletionWindowInDays", 7)
    with pytest.raises(UnknownValueError):
        run(KEY_POLICY_RULE, key, lambda message, urn=None: messages.append(message), resource_type=KMS_KEY)
    assert single(messages).startswith("deletionWindowInDays is 7")


def test_key_policy_that_is_not_json_is_violation():
    message = single(violations(KEY_POLICY_RULE, changed(GOOD_KEY, "policy", "{not json"), resource_type=KMS_KEY))
    assert message.startswith("policy: is not a JSON object")


def test_key_policy_without_2012_version_is_violation():  # I6
    message = single(violations(KEY_POLICY_RULE, key_with_policy({**KEY_POLICY, "Version": "2008-10-17"}),
                                resource_type=KMS_KEY))
    assert 'Version is "2008-10-17"' in message


def test_key_policy_with_empty_statement_list_is_violation():
    message = single(violations(KEY_POLICY_RULE, key_with_policy({**KEY_POLICY, "Statement": []}),
                                resource_type=KMS_KEY))
    assert "Statement is not a non-empty list" in message


def test_key_policy_statement_without_sid_is_violation():
    statement = {k: v for k, v in KEY_POLICY["Statement"][0].items() if k != "Sid"}
    document = {**KEY_POLICY, "Statement": [statement, KEY_POLICY["Statement"][1]]}
    message = single(violations(KEY_POLICY_RULE, key_with_policy(document), resource_type=KMS_KEY))
    assert "Statement[0] has no Sid" in message


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111111111111:root", "*"]}])
def test_key_policy_allowing_everyone_without_condition_is_violation(principal: Any):  # K5
    statement = {"Sid": "Open", "Effect": "Allow", "Principal": principal, "Action": "kms:Decrypt", "Resource": "*"}
    document = {**KEY_POLICY, "Statement": [*KEY_POLICY["Statement"], statement]}
    message = single(violations(KEY_POLICY_RULE, key_with_policy(document), resource_type=KMS_KEY))
    assert 'Statement[2] (Open) allows Principal "*" without a Condition' in message


def test_key_policy_denying_everyone_without_condition_passes():
    statement = {"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion",
                 "Resource": "*"}
    document = {**KEY_POLICY, "Statement": [*KEY_POLICY["Statement"], statement]}
    assert violations(KEY_POLICY_RULE, key_with_policy(document), resource_type=KMS_KEY) == []


def test_key_deletion_window_missing_is_violation():  # K5
    message = single(violations(KEY_POLICY_RULE, changed(GOOD_KEY, "deletionWindowInDays", DROP),
                                resource_type=KMS_KEY))
    assert message.startswith("deletionWindowInDays is not set") and "at least 30 days" in message


def test_key_deletion_window_unknown_cannot_be_judged():
    with pytest.raises(UnknownValueError):
        violations(KEY_POLICY_RULE, changed(GOOD_KEY, "deletionWindowInDays", UNKNOWN), resource_type=KMS_KEY)


def test_key_deletion_window_as_engine_float_passes():  # the engine sends numbers as floats
    assert violations(KEY_POLICY_RULE, changed(GOOD_KEY, "deletionWindowInDays", 30.0), resource_type=KMS_KEY) == []


@given(days=st.integers(min_value=0, max_value=60), minimum=st.integers(min_value=7, max_value=30))
def test_key_deletion_window_must_reach_configured_minimum_within_aws_range(days: int, minimum: int):  # K5
    key = changed(GOOD_KEY, "deletionWindowInDays", days)
    messages = violations(KEY_POLICY_RULE, key, resource_type=KMS_KEY, config={"minimumDeletionWindowDays": minimum})
    assert bool(messages) == (not minimum <= days <= 30)


# --- stateful-resources-protected -------------------------------------------------------------

PROTECTED = "stateful-resources-protected"


@pytest.mark.parametrize("resource_type", [TABLE, KMS_KEY])
def test_protected_stateful_resource_passes(resource_type: str):  # T5
    assert violations(PROTECTED, {}, resource_type=resource_type, protect=True) == []


@pytest.mark.parametrize(("resource_type", "kind"), [(TABLE, "table"), (KMS_KEY, "KMS key")])
def test_unprotected_stateful_resource_is_violation(resource_type: str, kind: str):  # T5
    message = single(violations(PROTECTED, {}, resource_type=resource_type, protect=False))
    assert message.startswith(f"protect is not set on this {kind}") and "retain_on_delete=True" in message


def test_protection_not_required_is_not_applicable():
    with pytest.raises(_NotApplicableError):
        violations(PROTECTED, GOOD_TABLE, protect=False, config={"required": False})


def test_protection_ignores_unknown_inputs():  # resource options are never unknown
    assert violations(PROTECTED, {"name": UNKNOWN, "serverSideEncryption": UNKNOWN}, protect=True) == []


def test_protection_ignores_stateless_types():
    assert violations(PROTECTED, {}, resource_type="aws:iam/role:Role", protect=False) == []
