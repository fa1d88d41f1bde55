"""The table key policy (GOTCHAS K5, K6)."""

from stacks.keys.policy import ADMIN_ACTIONS, DYNAMODB_USE_ACTIONS, table_key_policy

POLICY = table_key_policy("aws", "111122223333", "eu-west-1", ["arn:aws:iam::111122223333:role/KeyAdmin"])


def statement(sid: str) -> dict:
    return next(s for s in POLICY["Statement"] if s["Sid"] == sid)


def test_account_root_keeps_administration_so_the_key_cannot_be_locked_out():  # K5
    root = statement("AccountRootAdministersKeyNoLockout")
    assert root["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert "kms:PutKeyPolicy" in root["Action"] and "kms:ScheduleKeyDeletion" in root["Action"]


def test_administrators_cannot_use_the_key_for_data():
    for sid in ("AccountRootAdministersKeyNoLockout", "NamedKeyAdministrators"):
        assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(statement(sid)["Action"])


def test_data_use_only_through_dynamodb_in_the_key_region_and_account():  # K5
    use = statement("UseOnlyThroughDynamoDBInThisAccountAndRegion")
    assert use["Condition"] == {"StringEquals": {
        "kms:ViaService": "dynamodb.eu-west-1.amazonaws.com", "kms:CallerAccount": "111122223333"}}
    assert set(use["Action"]) == {"kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt",
                                  "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
                                  "kms:ReEncryptFrom", "kms:ReEncryptTo"}
    assert use["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}  # IAM must grant it too


def test_no_wildcard_actions_and_no_deny_that_could_block_replication():  # K6
    for s in POLICY["Statement"]:
        assert s["Effect"] == "Allow"
        assert all("*" not in a for a in s["Action"])
    assert all("*" not in a for a in ADMIN_ACTIONS + DYNAMODB_USE_ACTIONS)


def test_named_admins_only_when_configured_and_partition_follows_the_region():
    policy = table_key_policy("aws-cn", "111122223333", "cn-north-1", [])
    assert [s["Sid"] for s in policy["Statement"]] == [
        "AccountRootAdministersKeyNoLockout", "UseOnlyThroughDynamoDBInThisAccountAndRegion", "DynamoDBReadsKeyMetadata"]
    assert policy["Statement"][0]["Principal"]["AWS"] == "arn:aws-cn:iam::111122223333:root"
    assert policy["Version"] == "2012-10-17"
