"""The local runtime's AWS: the plan's KMS keys and DynamoDB tables, created on moto's server on localhost.

Server tests share one moto server per module and check the result with plain boto3 against the
endpoint; translator tests need no server. Plans come from the real program under preview.
"""

from __future__ import annotations

import copy
import os
import socket
import threading
from pathlib import Path

import pytest

from stacks.local.aws import (
    ALIAS,
    KEY,
    TABLE,
    UNKNOWN,
    LocalAws,
    LocalAwsError,
    alias_requests,
    bootstrap,
    create_table_request,
    key_request,
    pitr_request,
    rotation_request,
    teardown,
    ttl_request,
)

REPO = Path(__file__).resolve().parents[2]
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/local"


# --------------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plans(reference_preview) -> dict[str, dict]:
    return {stack: copy.deepcopy(reference_preview(stack).plan) for stack in ("dev", "staging", "prod")}


@pytest.fixture(scope="module")
def aws():
    with LocalAws(region="us-east-1") as local:
        yield local


@pytest.fixture(scope="module")
def stacks(plans, aws):
    return {stack: bootstrap(plans[stack], aws) for stack in ("dev", "prod")}


@pytest.fixture(scope="module")
def ddb(aws):
    return aws.client("dynamodb")


@pytest.fixture(scope="module")
def kms(aws):
    return aws.client("kms")


def resource(plan: dict, type_: str, name: str) -> dict:
    return next(r for r in plan["resources"] if r["type"] == type_ and r["name"] == name)


def inputs(plan: dict, name: str) -> dict:
    return copy.deepcopy(resource(plan, TABLE, name)["inputs"])


def describe(ddb, stacks, stack: str, table: str) -> dict:
    return ddb.describe_table(TableName=stacks[stack].table(table).name)["Table"]


def tables_key(stack_record):
    """The stack's table key, found by its alias (a stack may hold other keys)."""
    key_id = stack_record.aliases[f"alias/ddb-blueprint/{stack_record.stack}/tables"]
    return next(k for k in stack_record.keys.values() if k.key_id == key_id)


# --------------------------------------------------------------------------------------------------
# bootstrap against moto
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_plan_table_exists_with_the_plans_key_schema(plans, stacks, ddb, stack):
    # GIVEN the stack bootstrapped from its plan
    # WHEN each table of the plan is described on the local endpoint
    for table in (r for r in plans[stack]["resources"] if r["type"] == TABLE):
        found = ddb.describe_table(TableName=table["inputs"]["name"])["Table"]
        # THEN it exists with the plan's partition and sort keys
        expected = [{"AttributeName": table["inputs"]["hashKey"], "KeyType": "HASH"}]
        if table["inputs"].get("rangeKey"):
            expected.append({"AttributeName": table["inputs"]["rangeKey"], "KeyType": "RANGE"})
        assert found["KeySchema"] == expected, table["name"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_products_gsi_by_category_is_keyed_by_category_then_name(stacks, ddb, stack):
    # GIVEN / WHEN products is described
    (gsi,) = describe(ddb, stacks, stack, "products")["GlobalSecondaryIndexes"]
    # THEN its one GSI is byCategory, partitioned by category and sorted by name
    assert gsi["IndexName"] == "byCategory"
    assert gsi["KeySchema"] == [
        {"AttributeName": "category", "KeyType": "HASH"},
        {"AttributeName": "name", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}


def test_carts_lsi_by_added_at_shares_the_user_partition_key(stacks, ddb):  # T11
    # GIVEN / WHEN carts is described
    (lsi,) = describe(ddb, stacks, "dev", "carts")["LocalSecondaryIndexes"]
    # THEN byAddedAt keeps userId as partition key and sorts by addedAt, keys only
    assert lsi["IndexName"] == "byAddedAt"
    assert lsi["KeySchema"] == [
        {"AttributeName": "userId", "KeyType": "HASH"},
        {"AttributeName": "addedAt", "KeyType": "RANGE"},
    ]
    assert lsi["Projection"]["ProjectionType"] == "KEYS_ONLY"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_products_and_orders_stream_new_and_old_images(stacks, ddb, stack):
    # GIVEN / WHEN the tables with consumers are described
    for table in ("products", "orders"):
        found = describe(ddb, stacks, stack, table)
        # THEN their stream is on with both images, and the record carries its ARN
        assert found["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert stacks[stack].table(table).stream_arn == found["LatestStreamArn"]


def test_tables_without_consumers_have_no_stream(stacks, ddb):
    # GIVEN / WHEN carts and sessions are described
    # THEN neither has a stream, and the record says so
    for table in ("carts", "sessions"):
        assert "StreamSpecification" not in describe(ddb, stacks, "dev", table)
        assert stacks["dev"].table(table).stream_arn is None


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_table_is_encrypted_with_the_stack_key(stacks, ddb, stack):  # K4
    # GIVEN the table key bootstrap created for the stack
    key = tables_key(stacks[stack])
    # WHEN the tables are described
    for table in ("carts", "orders", "products", "sessions"):
        sse = describe(ddb, stacks, stack, table)["SSEDescription"]
        # THEN each is encrypted with that CMK
        assert sse == {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key.arn}, table


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_key_carries_the_stack_alias(stacks, kms, stack):
    # GIVEN the stack's key
    key = tables_key(stacks[stack])
    # WHEN its aliases are listed
    names = [a["AliasName"] for a in kms.list_aliases(KeyId=key.key_id)["Aliases"]]
    # THEN it is named alias/ddb-blueprint/<stack>/tables, as the record says
    assert names == [f"alias/ddb-blueprint/{stack}/tables"]
    assert stacks[stack].aliases[f"alias/ddb-blueprint/{stack}/tables"] == key.key_id


def test_the_stack_key_is_created_as_planned(plans, stacks, kms):  # K5
    # GIVEN the dev key bootstrapped from the plan
    key = tables_key(stacks["dev"])
    planned = resource(plans["dev"], KEY, "tables-key-us-east-1")["inputs"]
    # WHEN it is described
    metadata = kms.describe_key(KeyId=key.key_id)["KeyMetadata"]
    # THEN it has the plan's description, usage, spec, policy and rotation
    assert (metadata["Description"], metadata["KeyUsage"], metadata["KeySpec"]) == (
        planned["description"],
        "ENCRYPT_DECRYPT",
        "SYMMETRIC_DEFAULT",
    )
    assert kms.get_key_policy(KeyId=key.key_id, PolicyName="default")["Policy"] == planned["policy"]
    assert kms.get_key_rotation_status(KeyId=key.key_id)["KeyRotationEnabled"] is True


@pytest.mark.parametrize("table", ["carts", "sessions"])
def test_ttl_is_enabled_on_expires_at(stacks, ddb, table):  # P5: expiry itself is not emulated
    # GIVEN / WHEN the TTL of a table with expiring items is described
    ttl = ddb.describe_time_to_live(TableName=stacks["dev"].table(table).name)["TimeToLiveDescription"]
    # THEN it is on, on expiresAt
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}


def test_tables_without_ttl_in_the_plan_have_none(stacks, ddb):
    # GIVEN / WHEN orders' TTL is described
    ttl = ddb.describe_time_to_live(TableName=stacks["dev"].table("orders").name)["TimeToLiveDescription"]
    # THEN it is off
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_prod_products_is_provisioned_at_the_plans_capacity(stacks, ddb):  # T4
    # GIVEN / WHEN prod's products is described
    found = describe(ddb, stacks, "prod", "products")
    # THEN table and GSI carry the plan's provisioned read/write capacity
    assert found["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert (found["ProvisionedThroughput"]["ReadCapacityUnits"], found["ProvisionedThroughput"]["WriteCapacityUnits"]) == (10, 5)
    gsi = found["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]
    assert (gsi["ReadCapacityUnits"], gsi["WriteCapacityUnits"]) == (10, 5)


def test_dev_tables_are_on_demand(stacks, ddb):  # T4
    # GIVEN / WHEN dev's tables are described
    # THEN every one is PAY_PER_REQUEST
    for table in ("carts", "orders", "products", "sessions"):
        assert describe(ddb, stacks, "dev", table)["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_local_tables_have_no_deletion_protection_even_in_prod(plans, stacks, ddb):  # T5
    # GIVEN prod's plan protects its tables
    assert inputs(plans["prod"], "orders")["deletionProtectionEnabled"] is True
    # WHEN the local copy is described
    # THEN it is unprotected, so the local runtime can always tear down
    assert describe(ddb, stacks, "prod", "orders")["DeletionProtectionEnabled"] is False


def test_point_in_time_recovery_follows_the_plan(stacks, ddb):
    # GIVEN / WHEN prod's orders backups are described
    pitr = ddb.describe_continuous_backups(TableName=stacks["prod"].table("orders").name)
    # THEN PITR is on with prod's 35-day window
    description = pitr["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert (description["PointInTimeRecoveryStatus"], description["RecoveryPeriodInDays"]) == ("ENABLED", 35)


def test_an_item_put_can_be_read_back(stacks, ddb):
    # GIVEN the dev carts table
    name = stacks["dev"].table("carts").name
    item = {"userId": {"S": "u-1"}, "productId": {"S": "p-1"}, "addedAt": {"N": "1700000000"}, "qty": {"N": "2"}}
    # WHEN an item is put
    ddb.put_item(TableName=name, Item=item)
    # THEN a consistent get by its key returns it
    got = ddb.get_item(TableName=name, Key={"userId": {"S": "u-1"}, "productId": {"S": "p-1"}}, ConsistentRead=True)
    assert got["Item"] == item


def test_the_record_maps_logical_names_to_what_moto_created(stacks, ddb):
    # GIVEN the dev record
    record = stacks["dev"]
    # WHEN products is looked up by its logical name
    table = record.table("products")
    # THEN physical name and ARN are moto's, and the record cannot be changed
    found = ddb.describe_table(TableName="ddb-blueprint-dev-products")["Table"]
    assert (table.name, table.arn) == ("ddb-blueprint-dev-products", found["TableArn"])
    assert sorted(record.tables) == ["carts", "idempotency", "orders", "productSales", "products", "sessions"]
    with pytest.raises(TypeError):
        record.tables["extra"] = table  # type: ignore[index]


def test_a_second_bootstrap_reuses_everything(plans, stacks, aws, kms, ddb):
    # GIVEN dev already bootstrapped, and what the server holds
    keys_before = kms.list_keys()["Keys"]
    tables_before = ddb.list_tables()["TableNames"]
    # WHEN dev is bootstrapped again on the same server
    again = bootstrap(plans["dev"], aws)
    # THEN nothing new exists and the record is the same
    assert kms.list_keys()["Keys"] == keys_before
    assert ddb.list_tables()["TableNames"] == tables_before
    assert again == stacks["dev"]


def test_teardown_deletes_what_bootstrap_created_for_that_stack(plans, stacks, aws):
    # GIVEN staging bootstrapped next to dev and prod (in its own region, us-east-2)
    staging = bootstrap(plans["staging"], aws)
    staging_ddb = aws.client("dynamodb", "us-east-2")
    assert staging.region == "us-east-2"
    assert sorted(staging_ddb.list_tables()["TableNames"]) == sorted(t.name for t in staging.tables.values())
    # WHEN staging is torn down
    removed = teardown(aws, staging)
    # THEN its tables and alias are gone and its key is pending deletion; dev is untouched
    assert staging_ddb.list_tables()["TableNames"] == []
    assert "alias/ddb-blueprint/staging/tables" in removed.aliases
    key_state = aws.client("kms", "us-east-2").describe_key(KeyId=tables_key(staging).key_id)["KeyMetadata"]["KeyState"]
    assert key_state == "PendingDeletion"
    assert aws.client("dynamodb").describe_table(TableName=stacks["dev"].table("carts").name)["Table"]


def test_bootstrap_refuses_a_plan_without_tables(plans, aws):
    # GIVEN a plan with every table removed
    plan = copy.deepcopy(plans["dev"])
    plan["resources"] = [r for r in plan["resources"] if r["type"] != TABLE]
    # WHEN it is bootstrapped  THEN it fails, saying so
    with pytest.raises(LocalAwsError, match=r"stack 'dev' has no aws:dynamodb/table:Table"):
        bootstrap(plan, aws)


def test_bootstrap_with_an_unknown_table_name_creates_nothing(plans, stacks, aws, kms, ddb):
    # GIVEN a plan whose products name is only known after apply, and what the server holds
    plan = copy.deepcopy(plans["prod"])
    resource(plan, TABLE, "products")["inputs"]["name"] = UNKNOWN
    for r in plan["resources"]:  # other URNs, so nothing would be reused by accident
        r["urn"] = r["urn"].replace("prod::", "other::")
        r["propertyDependencies"] = {k: [u.replace("prod::", "other::") for u in v] for k, v in r["propertyDependencies"].items()}
    keys_before, tables_before = kms.list_keys()["Keys"], ddb.list_tables()["TableNames"]
    # WHEN it is bootstrapped
    with pytest.raises(LocalAwsError) as error:
        bootstrap(plan, aws)
    # THEN the error names the resource and the property, and no key or table was created
    assert "aws:dynamodb/table:Table 'products'" in str(error.value)
    assert "'name'" in str(error.value)
    assert (kms.list_keys()["Keys"], ddb.list_tables()["TableNames"]) == (keys_before, tables_before)


# --------------------------------------------------------------------------------------------------
# the server itself
# --------------------------------------------------------------------------------------------------


def server_threads() -> int:
    return sum(1 for t in threading.enumerate() if "_server_entry" in t.name)


def test_the_port_is_closed_after_the_context_exits(aws):
    # GIVEN a second server, alive
    before = server_threads()
    with LocalAws() as local:
        host, port = local.endpoint_url.removeprefix("http://").split(":")
        local.client("dynamodb").list_tables()
        socket.create_connection((host, int(port)), timeout=1).close()
    # WHEN the context has exited
    # THEN nothing listens on its port and its server thread is gone
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=1)
    assert server_threads() == before


def test_stop_is_idempotent():
    # GIVEN a stopped server
    local = LocalAws().start()
    local.stop()
    # WHEN it is stopped again  THEN nothing happens, and it no longer hands out clients
    local.stop()
    assert not local.running
    with pytest.raises(LocalAwsError, match="not running"):
        local.client("dynamodb")


def test_clients_disable_account_id_endpoints_without_touching_the_environment(aws, monkeypatch):  # P4
    # GIVEN a process environment without the setting
    monkeypatch.delenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", raising=False)
    # WHEN a client is made
    client = aws.client("dynamodb")
    # THEN the setting is on the client's config only, with the stack's region and the local endpoint
    assert client.meta.config.account_id_endpoint_mode == "disabled"
    assert "AWS_ACCOUNT_ID_ENDPOINT_MODE" not in os.environ
    assert (client.meta.region_name, client.meta.endpoint_url) == ("us-east-1", aws.endpoint_url)
    assert aws.env()["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"


# --------------------------------------------------------------------------------------------------
# translators (no server)
# --------------------------------------------------------------------------------------------------


def test_dev_products_translates_to_the_full_create_table_request(plans):
    # GIVEN dev's products inputs  WHEN translated with a local key
    request = create_table_request(inputs(plans["dev"], "products"), KEY_ARN)
    # THEN every planned property is there, as the API spells it
    tags = request.pop("Tags")
    assert {"Key": "table", "Value": "products"} in tags
    assert request == {
        "TableName": "ddb-blueprint-dev-products",
        "AttributeDefinitions": [
            {"AttributeName": "category", "AttributeType": "S"},
            {"AttributeName": "name", "AttributeType": "S"},
            {"AttributeName": "productId", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "productId", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "DeletionProtectionEnabled": False,
        "OnDemandThroughput": {"MaxReadRequestUnits": 100, "MaxWriteRequestUnits": 50},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "byCategory",
                "KeySchema": [
                    {"AttributeName": "category", "KeyType": "HASH"},
                    {"AttributeName": "name", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_ARN},
        "TableClass": "STANDARD",
    }


def test_provisioned_tables_carry_table_and_gsi_capacity(plans):  # T4
    # GIVEN prod's provisioned products  WHEN translated
    request = create_table_request(inputs(plans["prod"], "products"), KEY_ARN)
    # THEN table and GSI both have ProvisionedThroughput from read/writeCapacity
    assert request["BillingMode"] == "PROVISIONED"
    assert request["ProvisionedThroughput"] == {"ReadCapacityUnits": 10, "WriteCapacityUnits": 5}
    assert request["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] == {"ReadCapacityUnits": 10, "WriteCapacityUnits": 5}


def test_gsi_capacities_are_taken_per_index():
    # GIVEN a provisioned table whose GSIs have their own capacities
    table = {
        "name": "t-gsi", "hashKey": "pk", "billingMode": "PROVISIONED", "readCapacity": 3, "writeCapacity": 4,
        "attributes": [{"name": "pk", "type": "S"}, {"name": "a", "type": "S"}, {"name": "b", "type": "N"}],
        "globalSecondaryIndexes": [
            {"name": "byA", "hashKey": "a", "projectionType": "KEYS_ONLY", "readCapacity": 7, "writeCapacity": 8},
            {"name": "byB", "hashKey": "b", "projectionType": "KEYS_ONLY", "readCapacity": 1, "writeCapacity": 2},
        ],
    }
    # WHEN translated
    gsis = create_table_request(table)["GlobalSecondaryIndexes"]
    # THEN each index keeps its own read/write capacity
    assert [g["ProvisionedThroughput"] for g in gsis] == [
        {"ReadCapacityUnits": 7, "WriteCapacityUnits": 8},
        {"ReadCapacityUnits": 1, "WriteCapacityUnits": 2},
    ]


def test_gsi_without_key_schemas_uses_hash_and_range_keys():  # T11
    # GIVEN a GSI declared with hashKey/rangeKey (the older form) and an INCLUDE projection
    table = {
        "name": "t-old", "hashKey": "pk", "billingMode": "PAY_PER_REQUEST",
        "attributes": [{"name": "pk", "type": "S"}, {"name": "a", "type": "S"}, {"name": "b", "type": "S"}],
        "globalSecondaryIndexes": [
            {"name": "byA", "hashKey": "a", "rangeKey": "b", "projectionType": "INCLUDE", "nonKeyAttributes": ["x"]}
        ],
    }
    # WHEN translated
    (gsi,) = create_table_request(table)["GlobalSecondaryIndexes"]
    # THEN its key schema comes from those, and the projection keeps the extra attributes
    assert gsi["KeySchema"] == [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}]
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}
    assert "ProvisionedThroughput" not in gsi


def test_lsi_pairs_the_table_partition_key_with_its_sort_key(plans):  # T11
    # GIVEN carts  WHEN translated
    request = create_table_request(inputs(plans["dev"], "carts"), KEY_ARN)
    # THEN byAddedAt is keyed userId/addedAt with its projection
    assert request["LocalSecondaryIndexes"] == [
        {
            "IndexName": "byAddedAt",
            "KeySchema": [{"AttributeName": "userId", "KeyType": "HASH"}, {"AttributeName": "addedAt", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]


def test_deletion_protection_is_off_even_when_the_plan_protects(plans):  # T5
    # GIVEN prod orders, protected in the plan  WHEN translated
    # THEN the local request turns protection off
    assert create_table_request(inputs(plans["prod"], "orders"), KEY_ARN)["DeletionProtectionEnabled"] is False


def test_billing_mode_defaults_to_provisioned_like_the_provider():  # T4
    # GIVEN a table without billingMode and without capacity
    table = {"name": "t-def", "hashKey": "pk", "attributes": [{"name": "pk", "type": "S"}]}
    # WHEN translated  THEN it is PROVISIONED, so the missing capacity is an error
    with pytest.raises(LocalAwsError, match=r"'readCapacity' is missing"):
        create_table_request(table)


@pytest.mark.parametrize(
    ("table", "path", "prop"),
    [
        ("products", ["name"], "'name'"),
        ("carts", ["hashKey"], "'hashKey'"),
        ("carts", ["localSecondaryIndexes", 0, "rangeKey"], "'localSecondaryIndexes[byAddedAt].rangeKey'"),
        ("orders", ["streamViewType"], "'streamViewType'"),
        ("products", ["globalSecondaryIndexes", 0, "readCapacity"], "'globalSecondaryIndexes[byCategory].readCapacity'"),
    ],
)
def test_an_unknown_required_value_is_an_error_naming_the_property(plans, table, path, prop):
    # GIVEN prod inputs with one required value unknown until apply
    table_inputs = inputs(plans["prod"], table)
    target = table_inputs
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = UNKNOWN
    # WHEN translated  THEN the error names resource and property, and nothing is returned
    with pytest.raises(LocalAwsError, match="unknown in the plan") as error:
        create_table_request(table_inputs, KEY_ARN, resource=f"table '{table}'")
    assert f"table '{table}'" in str(error.value) and prop in str(error.value)


def test_an_unknown_cmk_without_a_local_key_is_an_error(plans):  # K4
    # GIVEN carts, whose planned kmsKeyArn is unknown  WHEN translated without a local key
    # THEN it fails rather than silently falling back to the AWS-managed key
    with pytest.raises(LocalAwsError, match=r"'serverSideEncryption.kmsKeyArn' is unknown"):
        create_table_request(inputs(plans["dev"], "carts"), None)


@pytest.mark.parametrize(
    ("sse", "expected"),
    [
        ({"enabled": False}, None),
        ({"enabled": True}, {"Enabled": True, "SSEType": "KMS"}),
        ({"enabled": True, "kmsKeyArn": KEY_ARN}, {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_ARN}),
    ],
)
def test_encryption_follows_k4(sse, expected):  # K4
    # GIVEN a table with an AWS-owned, AWS-managed or known customer key  WHEN translated
    table = {"name": "t-sse", "hashKey": "pk", "billingMode": "PAY_PER_REQUEST", "attributes": [{"name": "pk", "type": "S"}],
             "serverSideEncryption": sse}
    # THEN SSESpecification is absent, KMS without a key, or KMS with that key
    assert create_table_request(table).get("SSESpecification") == expected


def test_unknown_tag_values_are_left_out(plans):
    # GIVEN a tag whose value is unknown  WHEN translated
    table_inputs = inputs(plans["dev"], "sessions")
    table_inputs["tags"]["owner"] = UNKNOWN
    tags = create_table_request(table_inputs, KEY_ARN)["Tags"]
    # THEN that tag is dropped and the known ones kept
    assert "owner" not in {t["Key"] for t in tags} and {"Key": "stack", "Value": "dev"} in tags


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_translated_request_carries_the_unknown_marker(plans, stack):
    # GIVEN every key and table of a plan  WHEN translated
    plan = plans[stack]
    requests = [key_request(r["inputs"]) for r in plan["resources"] if r["type"] == KEY]
    for r in (r for r in plan["resources"] if r["type"] == TABLE):
        requests += [create_table_request(r["inputs"], KEY_ARN), ttl_request(r["inputs"]), pitr_request(r["inputs"])]
    # THEN the marker appears nowhere
    assert UNKNOWN not in repr(requests)


def test_ttl_request_enables_the_planned_attribute(plans):
    # GIVEN carts (TTL) and orders (none)  WHEN translated
    # THEN carts gets UpdateTimeToLive on expiresAt, orders nothing
    assert ttl_request(inputs(plans["dev"], "carts")) == {
        "TableName": "ddb-blueprint-dev-carts",
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expiresAt"},
    }
    assert ttl_request(inputs(plans["dev"], "orders")) is None


def test_ttl_with_an_unknown_attribute_is_an_error(plans):
    # GIVEN sessions with its TTL attribute unknown  WHEN translated  THEN the property is named
    table_inputs = inputs(plans["dev"], "sessions")
    table_inputs["ttl"]["attributeName"] = UNKNOWN
    with pytest.raises(LocalAwsError, match=r"'ttl.attributeName' is unknown"):
        ttl_request(table_inputs)


def test_key_request_carries_the_planned_key(plans):  # K5
    # GIVEN dev's key inputs  WHEN translated
    planned = resource(plans["dev"], KEY, "tables-key-us-east-1")["inputs"]
    request = key_request(planned)
    # THEN description, usage, spec, policy and tags are the plan's
    assert request["Description"] == planned["description"]
    assert (request["KeyUsage"], request["KeySpec"]) == ("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT")
    assert request["Policy"] == planned["policy"]
    assert {"TagKey": "stack", "TagValue": "dev"} in request["Tags"]
    assert rotation_request(planned) == {"RotationPeriodInDays": 365}


def test_an_unknown_key_policy_is_left_to_the_kms_default(plans):
    # GIVEN a key whose policy is only known after apply  WHEN translated
    planned = copy.deepcopy(resource(plans["dev"], KEY, "tables-key-us-east-1")["inputs"])
    planned["policy"] = UNKNOWN
    # THEN no Policy is sent
    assert "Policy" not in key_request(planned)


def test_aliases_are_paired_with_their_key_by_urn(plans):
    # GIVEN dev's plan  WHEN its aliases are translated
    alias = next(a for a in alias_requests(plans["dev"]) if a.alias_name == "alias/ddb-blueprint/dev/tables")
    key = resource(plans["dev"], KEY, "tables-key-us-east-1")
    # THEN the alias targets the key's URN, and becomes CreateAlias once the id is known
    assert (alias.alias_name, alias.key_urn) == ("alias/ddb-blueprint/dev/tables", key["urn"])
    assert alias.request("k-1") == {"AliasName": "alias/ddb-blueprint/dev/tables", "TargetKeyId": "k-1"}


def test_an_alias_to_a_key_outside_the_plan_is_an_error(plans):
    # GIVEN an alias whose target is not a key of the plan
    plan = copy.deepcopy(plans["dev"])
    resource(plan, ALIAS, "tables-key-us-east-1-alias")["propertyDependencies"]["targetKeyId"] = []
    # WHEN translated  THEN the error names the alias and targetKeyId
    with pytest.raises(LocalAwsError, match=r"tables-key-us-east-1-alias.*'targetKeyId'"):
        alias_requests(plan)


def test_the_unknown_marker_is_the_plans():
    # GIVEN / WHEN / THEN the runtime's copy of the marker is the one the preview writes
    from stacks.offline.mockrun import UNKNOWN as PREVIEW_UNKNOWN

    assert UNKNOWN == PREVIEW_UNKNOWN


def test_a_table_left_with_another_key_schema_is_not_silently_reused(plans, stacks, aws):  # T5
    # GIVEN dev bootstrapped, and a plan whose orders table now has another sort key
    plan = copy.deepcopy(plans["dev"])
    orders = resource(plan, TABLE, "orders")["inputs"]
    orders["rangeKey"] = "placedAt"
    orders["attributes"].append({"name": "placedAt", "type": "N"})
    # WHEN it is bootstrapped on the same server
    # THEN it fails, naming the table, instead of pretending the old table matches
    with pytest.raises(LocalAwsError, match=r"'orders'.*already exists locally with key schema"):
        bootstrap(plan, aws)


def test_each_replica_is_a_table_in_its_region_encrypted_with_that_regions_key(stacks, stack="prod"):  # K1, P5
    record = stacks[stack]
    for table in ("carts", "orders", "products"):
        copies = record.copies(table)
        assert list(copies) == ["us-east-1", "us-west-2", "eu-west-1"]
        for region, local_copy in copies.items():
            assert local_copy.arn == f"arn:aws:dynamodb:{region}:123456789012:table/ddb-blueprint-{stack}-{table}"
            label = f"alias/ddb-blueprint/{stack}/tables" + ("" if region == "us-east-1" else f"@{region}")
            key = next(k for k in record.keys.values() if k.key_id == record.aliases[label])
            assert key.region == region and local_copy.kms_key_arn == key.arn, (table, region)
            assert local_copy.stream_arn  # replication reads the streams (T1)
    assert list(record.copies("sessions")) == ["us-east-1"]
