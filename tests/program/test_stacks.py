"""The whole program under Pulumi's mock runtime, once per stack file: what `pulumi up` would create."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stacks.offline.mockrun import UNKNOWN
from stacks.offline.preview import preview

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")
TABLE = "aws:dynamodb/table:Table"
KEY = "aws:kms/key:Key"


@pytest.fixture(scope="module")
def plans(reference_preview) -> dict[str, dict]:
    return {stack: copy.deepcopy(reference_preview(stack).plan) for stack in STACKS}


def resource(plan: dict, type_: str, name: str) -> dict:
    # Registration order is not stable under mocks: look resources up by name (GOTCHAS P3).
    found = [r for r in plan["resources"] if r["type"] == type_ and r["name"] == name]
    assert len(found) == 1, f"expected one {type_} named {name}, found {len(found)}"
    return found[0]


def tables(plan: dict) -> dict[str, dict]:
    return {r["name"]: r for r in plan["resources"] if r["type"] == TABLE}


@pytest.mark.parametrize("stack", STACKS)
def test_every_model_table_is_created_once_per_stack(plans, stack):
    assert sorted(tables(plans[stack])) == ["carts", "idempotency", "orders", "productSales", "products", "sessions"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_table_is_encrypted_with_the_stack_key(plans, stack):  # K4
    plan = plans[stack]
    key_urn = resource(plan, KEY, f"tables-key-{plan['outputs']['region']}")["urn"]
    for name, table in tables(plan).items():
        sse = table["inputs"]["serverSideEncryption"]
        assert sse == {"enabled": True, "kmsKeyArn": UNKNOWN}, name
        assert table["propertyDependencies"]["serverSideEncryption"] == [key_urn], name


@pytest.mark.parametrize("stack", STACKS)
def test_billing_mode_is_always_explicit(plans, stack):  # T4
    for name, table in tables(plans[stack]).items():
        assert table["inputs"]["billingMode"] in ("PAY_PER_REQUEST", "PROVISIONED"), name


@pytest.mark.parametrize("stack", STACKS)
def test_pitr_is_on_with_the_configured_window(plans, stack):
    expected = {"dev": 7, "staging": 35, "prod": 35}[stack]
    for name, table in tables(plans[stack]).items():
        assert table["inputs"]["pointInTimeRecovery"] == {"enabled": True, "recoveryPeriodInDays": expected}, name


def test_table_keys_indexes_ttl_and_streams_follow_the_model(plans):
    plan = plans["prod"]
    carts = resource(plan, TABLE, "carts")["inputs"]
    assert (carts["hashKey"], carts["rangeKey"]) == ("userId", "productId")
    assert carts["localSecondaryIndexes"] == [{"name": "byAddedAt", "projectionType": "KEYS_ONLY", "rangeKey": "addedAt"}]
    assert carts["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    # carts declares no stream; as an EVENTUAL global table in prod it streams new and old images (T1).
    assert (carts["streamEnabled"], carts["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
    assert "streamEnabled" not in resource(plans["dev"], TABLE, "carts")["inputs"]
    products = resource(plan, TABLE, "products")["inputs"]
    assert products["globalSecondaryIndexes"][0]["keySchemas"] == [
        {"attributeName": "category", "keyType": "HASH"},
        {"attributeName": "name", "keyType": "RANGE"},
    ]
    assert (products["streamEnabled"], products["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
    assert {a["name"] for a in products["attributes"]} == {"productId", "category", "name"}


def test_physical_names_are_project_stack_table(plans):  # T12
    for stack in STACKS:
        for name, table in tables(plans[stack]).items():
            assert table["inputs"]["name"] == f"ddb-blueprint-{stack}-{name}"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_tables_and_keys_are_protected_and_retained_outside_dev(plans, stack):  # T5
    plan = plans[stack]
    stateful = [r for r in plan["resources"] if r["type"] in (TABLE, KEY)]
    replica_regions = {"staging": 1, "prod": 2}[stack]
    # six tables, the tables' key in the home region and in each replica region (K1), the ops key
    assert len(stateful) == 8 + replica_regions
    for r in stateful:
        assert r["options"]["protect"] and r["options"]["retainOnDelete"], r["urn"]
    for table in tables(plan).values():
        assert table["inputs"]["deletionProtectionEnabled"] is True


def test_dev_is_disposable_because_its_stack_file_says_so(plans):
    plan = plans["dev"]
    for r in plan["resources"]:
        if r["type"] in (TABLE, KEY):
            assert not r["options"]["protect"] and not r["options"]["retainOnDelete"], r["urn"]
    assert all(t["inputs"]["deletionProtectionEnabled"] is False for t in tables(plan).values())


@pytest.mark.parametrize("stack", STACKS)
def test_key_rotates_and_has_the_explicit_policy(plans, stack):  # K5
    plan = plans[stack]
    region = plan["outputs"]["region"]
    key = resource(plan, KEY, f"tables-key-{region}")["inputs"]
    assert key["enableKeyRotation"] is True and key["deletionWindowInDays"] == 30
    policy = json.loads(key["policy"])
    use = next(s for s in policy["Statement"] if s["Sid"] == "UseOnlyThroughDynamoDBInThisAccountAndRegion")
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == f"dynamodb.{region}.amazonaws.com"


def test_provisioned_table_autoscales_table_and_index_and_ignores_capacity_drift(plans):  # T7
    plan = plans["prod"]
    products = resource(plan, TABLE, "products")
    assert products["inputs"]["billingMode"] == "PROVISIONED"
    assert (products["inputs"]["readCapacity"], products["inputs"]["writeCapacity"]) == (10, 5)
    assert "readCapacity" in products["options"]["ignoreChanges"]
    assert "globalSecondaryIndexes" in products["options"]["ignoreChanges"]  # the whole set (T7)
    assert not any("[*]" in path for path in products["options"]["ignoreChanges"])
    targets = {r["inputs"]["resourceId"] + " " + r["inputs"]["scalableDimension"]: r for r in plan["resources"] if r["type"] == "aws:appautoscaling/target:Target"}
    assert sorted(targets) == [
        "table/ddb-blueprint-prod-products dynamodb:table:ReadCapacityUnits",
        "table/ddb-blueprint-prod-products dynamodb:table:WriteCapacityUnits",
        "table/ddb-blueprint-prod-products/index/byCategory dynamodb:index:ReadCapacityUnits",
        "table/ddb-blueprint-prod-products/index/byCategory dynamodb:index:WriteCapacityUnits",
    ]
    for target in targets.values():
        assert products["urn"] in target["options"]["dependsOn"]
    assert len([r for r in plan["resources"] if r["type"] == "aws:appautoscaling/policy:Policy" and "region" not in r["inputs"]]) == 4


def test_on_demand_tables_ignore_no_changes_and_carry_their_ceilings(plans):
    carts = resource(plans["prod"], TABLE, "carts")
    assert carts["options"]["ignoreChanges"] == []
    products = resource(plans["staging"], TABLE, "products")["inputs"]
    assert products["onDemandThroughput"] == {"maxReadRequestUnits": 1000, "maxWriteRequestUnits": 500}


def test_contributor_insights_only_where_configured(plans):
    insights = [r for r in plans["prod"]["resources"] if r["type"] == "aws:dynamodb/contributorInsights:ContributorInsights"]
    home = [r for r in insights if "region" not in r["inputs"]]
    assert sorted(r["name"] for r in home) == ["products-byCategory-insights", "products-insights"]
    # and in each replica region of the table (T16: the replica block has no insights setting)
    assert sorted((r["inputs"]["region"], r["name"]) for r in insights if r not in home) == [
        ("eu-west-1", "products-eu-west-1-byCategory-insights"), ("eu-west-1", "products-eu-west-1-insights"),
        ("us-west-2", "products-us-west-2-byCategory-insights"), ("us-west-2", "products-us-west-2-insights"),
    ]
    assert not [r for r in plans["dev"]["resources"] if r["type"].endswith("ContributorInsights")]


def test_children_live_under_their_component(plans):
    plan = plans["prod"]
    component = resource(plan, "ddb-blueprint:index:Table", "products")
    assert resource(plan, TABLE, "products")["parent"] == component["urn"]
    assert component["urn"] == "urn:pulumi:prod::ddb-blueprint::ddb-blueprint:index:Table::products"


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_give_app_teams_names_arns_and_streams(plans, stack):
    outputs = plans[stack]["outputs"]
    assert outputs["tables"]["carts"]["name"] == f"ddb-blueprint-{stack}-carts"
    assert outputs["tables"]["products"]["streamArn"] == UNKNOWN  # known after apply, not invented
    assert outputs["tables"]["sessions"]["streamArn"] is None
    assert outputs["kmsKeys"][outputs["region"]]["alias"] == f"alias/ddb-blueprint/{stack}/tables"


def test_plan_is_deterministic(reference_preview, tmp_path):
    first = reference_preview("prod").plan_path.read_text()  # an earlier run in this process
    second = preview(REPO, "prod", tmp_path / "b").plan_path.read_text()
    assert first == second


def test_plan_records_the_options_later_tools_rely_on(plans):
    for r in plans["dev"]["resources"]:
        assert {"protect", "retainOnDelete", "ignoreChanges", "dependsOn"} <= set(r["options"]), r["urn"]
        assert {"urn", "type", "name", "parent", "inputs", "options", "dependencies"} <= set(r)
