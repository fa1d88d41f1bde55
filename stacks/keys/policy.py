"""The key policy of the table keys (GOTCHAS K5, K6), as a plain dict.

- The account root keeps administration (not use) of the key, so the key can never be locked out
  and IAM policies in the account decide who else administers it; named admin roles may be added.
- Data-plane use is allowed only through DynamoDB in the key's region, by principals of this
  account whose own IAM policy also grants it (principal = account root, so IAM must agree).
- DynamoDB itself may read the key's metadata.
- No Deny statements: the replication service-linked role must never be blocked (K6).
"""

from __future__ import annotations

from typing import Sequence

ADMIN_ACTIONS = sorted(
    [
        "kms:CancelKeyDeletion",
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:DescribeKey",
        "kms:DisableKey",
        "kms:DisableKeyRotation",
        "kms:EnableKey",
        "kms:EnableKeyRotation",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:ListGrants",
        "kms:ListKeyPolicies",
        "kms:ListKeyRotations",
        "kms:ListResourceTags",
        "kms:PutKeyPolicy",
        "kms:RevokeGrant",
        "kms:RotateKeyOnDemand",
        "kms:ScheduleKeyDeletion",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateAlias",
        "kms:UpdateKeyDescription",
    ]
)

# What DynamoDB does with a table's key on the caller's behalf (K5).
DYNAMODB_USE_ACTIONS = sorted(
    [
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ]
)

DYNAMODB_SERVICE_READ_ACTIONS = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"]


# What each key-policy statement is for, in words, for the security review.
STATEMENT_PURPOSES = {
    "AccountRootAdministersKeyNoLockout": "The account can always administer the key (no lockout); IAM in the "
    "account decides who else may. No data-plane use.",
    "NamedKeyAdministrators": "The administrators named in ddb-blueprint:keyAdminArns. No data-plane use.",
    "UseOnlyThroughDynamoDBInThisAccountAndRegion": "Encryption and decryption only through DynamoDB in the key's "
    "region and account, for principals whose IAM policy also allows it.",
    "DynamoDBReadsKeyMetadata": "DynamoDB may describe the key and read its policy, rotation status and tags.",
}


STATEMENT_PURPOSES["CloudWatchLogsUseKeyForThisAccountsLogGroups"] = (
    "CloudWatch Logs may encrypt and decrypt log events, only for log groups of this account and region."
)


STATEMENT_PURPOSES["CloudWatchLogsDescribesKey"] = "CloudWatch Logs may read the key's metadata."
STATEMENT_PURPOSES["LambdaEncryptsFunctionEnvironmentInThisAccount"] = (
    "Function environment variables: encrypted and decrypted through Lambda only, by principals of this account "
    "whose IAM policy allows it (the deployer; each function's role may decrypt)."
)
STATEMENT_PURPOSES["LambdaGrantsFunctionRolesDecryption"] = (
    "Lambda may create the grant through which a function's role decrypts its environment (grants for AWS "
    "resources only)."
)
STATEMENT_PURPOSES["UseOnlyThroughSnsAndSqsInThisAccount"] = (
    "Encrypted topics and queues: use through SNS or SQS only, by principals of this account whose IAM policy allows it."
)


def account_root_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:root"


def _administration(partition: str, account_id: str, admin_arns: Sequence[str]) -> list[dict]:
    root = account_root_arn(partition, account_id)
    statements: list[dict] = [
        {
            "Sid": "AccountRootAdministersKeyNoLockout",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": ADMIN_ACTIONS,
            # In a key policy "*" means this key and nothing else.
            "Resource": "*",
        }
    ]
    if admin_arns:
        statements.append(
            {
                "Sid": "NamedKeyAdministrators",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(admin_arns)},
                "Action": ADMIN_ACTIONS,
                "Resource": "*",
            }
        )
    return statements


def table_key_policy(partition: str, account_id: str, region: str, admin_arns: Sequence[str]) -> dict:
    root = account_root_arn(partition, account_id)
    statements = _administration(partition, account_id, admin_arns)
    statements += [
        {
            "Sid": "UseOnlyThroughDynamoDBInThisAccountAndRegion",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": DYNAMODB_USE_ACTIONS,
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"dynamodb.{region}.amazonaws.com",
                    "kms:CallerAccount": account_id,
                }
            },
        },
        {
            "Sid": "DynamoDBReadsKeyMetadata",
            "Effect": "Allow",
            "Principal": {"Service": "dynamodb.amazonaws.com"},
            "Action": DYNAMODB_SERVICE_READ_ACTIONS,
            "Resource": "*",
        },
    ]
    return {"Version": "2012-10-17", "Id": "ddb-blueprint-table-key", "Statement": statements}


LOGS_USE_ACTIONS = sorted(
    [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ]
)


def ops_key_policy(partition: str, account_id: str, region: str, admin_arns: Sequence[str]) -> dict:
    """The key of the stack's operational data: logs (CloudWatch Logs only for this account's log
    groups in this region; the encryption context names the log group), topics and queues."""
    statements = _administration(partition, account_id, admin_arns)
    statements.append(
        {
            "Sid": "CloudWatchLogsUseKeyForThisAccountsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": LOGS_USE_ACTIONS,
            "Resource": "*",
            # StringLike rather than ArnLike: the context key is typed String (same matching).
            "Condition": {
                "StringLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
                }
            },
        }
    )
    # Topics and queues of the stack are encrypted with this key; their users reach it only
    # through SNS or SQS, and only if their IAM policy allows it too (principal = account root).
    statements.append(
        {
            "Sid": "UseOnlyThroughSnsAndSqsInThisAccount",
            "Effect": "Allow",
            "Principal": {"AWS": account_root_arn(partition, account_id)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": [f"sns.{region}.amazonaws.com", f"sqs.{region}.amazonaws.com"],
                    "kms:CallerAccount": account_id,
                }
            },
        }
    )
    # Functions' environment variables are encrypted with this key: Lambda encrypts them for whoever
    # creates or updates a function and grants the function's role decryption (facts L9); only
    # through Lambda, only in this account, and only grants for AWS resources.
    statements.append(
        {
            "Sid": "LambdaEncryptsFunctionEnvironmentInThisAccount",
            "Effect": "Allow",
            "Principal": {"AWS": account_root_arn(partition, account_id)},
            "Action": ["kms:Decrypt", "kms:Encrypt"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"lambda.{region}.amazonaws.com", "kms:CallerAccount": account_id}
            },
        }
    )
    statements.append(
        {
            "Sid": "LambdaGrantsFunctionRolesDecryption",
            "Effect": "Allow",
            "Principal": {"AWS": account_root_arn(partition, account_id)},
            "Action": ["kms:CreateGrant"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"lambda.{region}.amazonaws.com", "kms:CallerAccount": account_id},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        }
    )
    # The alarm topic is encrypted with this key: CloudWatch publishes alarm notifications to it
    # only with these rights (fact K10), for this account's alarms only (confused deputy, I8).
    statements.append(
        {
            "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*"},
            },
        }
    )
    # DescribeKey carries no encryption context, so it cannot share the statement above.
    statements.append(
        {
            "Sid": "CloudWatchLogsDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:DescribeKey"],
            "Resource": "*",
        }
    )
    return {"Version": "2012-10-17", "Id": "ddb-blueprint-ops-key", "Statement": statements}
