"""Global tables in the previews: replicas with in-region keys, PITR, protection, per-region scaling
and outputs (facts K1, K2, T1, T3, T9, T10, T16). dev has none."""

from __future__ import annotations

import json

import pytest


TABLE = "aws:dynamodb/table:Table"
KEY = "aws:kms/key:Key"
REPLICAS = {"dev": [], "staging": ["us-west-2"], "prod": ["us-west-2", "eu-west-1"]}
HOME = {"dev": "us-east-1", "staging": "us-east-2", "prod": "us-east-1"}
GLOBAL_TABLES = ["carts", "orders", "products"]


@pytest.fixture(scope="module")
def plans(reference_preview) -> dict[str, dict]:
    return {stack: reference_preview(stack).plan for stack in REPLICAS}


def by_urn(plan: dict) -> dict[str, dict]:
    return {r["urn"]: r for r in plan["resources"]}


def tables(plan: dict) -> dict[str, dict]:
    return {r["name"]: r for r in plan["resources"] if r["type"] == TABLE}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_global_tables_have_a_replica_in_every_replica_region(plans, stack):  # T10, T16
    for name, table in tables(plans[stack]).items():
        replicas = table["inputs"].get("replicas", [])
        if name in GLOBAL_TABLES:
            assert [r["regionName"] for r in replicas] == REPLICAS[stack], name
            assert HOME[stack] not in [r["regionName"] for r in replicas]  # replica blocks list only the OTHER regions
        else:  # sessions and idempotency are declared global: false
            assert replicas == [], name


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_replica_has_pitr_deletion_protection_tags_and_eventual_mode(plans, stack):
    for name in GLOBAL_TABLES:
        for replica in tables(plans[stack])[name]["inputs"]["replicas"]:
            assert replica["pointInTimeRecovery"] is True
            assert replica["deletionProtectionEnabled"] is True
            assert replica["propagateTags"] is True
            assert replica["consistencyMode"] == "EVENTUAL"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_replica_is_encrypted_with_this_stacks_key_in_its_region(plans, stack):  # K1, K2
    plan = plans[stack]
    resources = by_urn(plan)
    keys = {r["inputs"].get("region"): r for r in plan["resources"] if r["type"] == KEY and "tables-key" in r["name"]}
    assert sorted(k for k in keys if k) == sorted(REPLICAS[stack])
    assert keys[None]["name"] == f"tables-key-{HOME[stack]}"  # the home key keeps its name (and URN)
    for name in GLOBAL_TABLES:
        table = tables(plan)[name]
        key_urns = table["propertyDependencies"]["replicas"]
        regions = sorted(resources[u]["inputs"].get("region") for u in key_urns)
        assert regions == sorted(REPLICAS[stack]), name
    for region in REPLICAS[stack]:
        policy = json.loads(keys[region]["inputs"]["policy"])
        via = [s["Condition"]["StringEquals"]["kms:ViaService"] for s in policy["Statement"]
               if s["Sid"] == "UseOnlyThroughDynamoDBInThisAccountAndRegion"]
        assert via == [f"dynamodb.{region}.amazonaws.com"]  # the same policy, rendered for its region
        assert not any(s["Effect"] == "Deny" for s in policy["Statement"])  # never blocks the replication role (K6)
        assert keys[region]["options"]["protect"] and keys[region]["options"]["retainOnDelete"]
        alias = next(r for r in plan["resources"] if r["name"] == f"tables-key-{region}-alias")
        assert alias["inputs"]["region"] == region


def test_dev_has_no_replicas_and_no_replica_keys(plans):
    plan = plans["dev"]
    assert all("replicas" not in t["inputs"] for t in tables(plan).values())
    assert [r["name"] for r in plan["resources"] if r["type"] == KEY and "tables-key" in r["name"]] == ["tables-key-us-east-1"]
    assert list(plan["outputs"]["kmsKeys"]) == ["us-east-1"]


def test_provisioned_global_table_scales_in_every_replica_region_with_read_overrides(plans):  # T3
    plan = plans["prod"]
    products = tables(plan)["products"]
    targets = [r for r in plan["resources"] if r["type"] == "aws:appautoscaling/target:Target"]
    for region in ["us-west-2", "eu-west-1"]:
        mine = {r["inputs"]["scalableDimension"]: r for r in targets if r["inputs"].get("region") == region}
        assert sorted(mine) == ["dynamodb:index:ReadCapacityUnits", "dynamodb:index:WriteCapacityUnits",
                                "dynamodb:table:ReadCapacityUnits", "dynamodb:table:WriteCapacityUnits"]
        for target in mine.values():
            assert products["urn"] in target["options"]["dependsOn"]
            assert target["inputs"]["resourceId"].startswith("table/ddb-blueprint-prod-products")
        read = mine["dynamodb:table:ReadCapacityUnits"]["inputs"]
        expected = (5, 200) if region == "eu-west-1" else (10, 500)  # Pulumi.prod.yaml replicaReadCapacity
        assert (read["minCapacity"], read["maxCapacity"]) == expected
        write = mine["dynamodb:table:WriteCapacityUnits"]["inputs"]
        assert (write["minCapacity"], write["maxCapacity"]) == (5, 100)
    policies = [r for r in plan["resources"] if r["type"] == "aws:appautoscaling/policy:Policy"]
    assert sorted(r["inputs"].get("region", "home") for r in policies).count("eu-west-1") == 4


def test_eventual_global_tables_stream_new_and_old_images(plans):  # T1
    for name in GLOBAL_TABLES:
        inputs = tables(plans["prod"])[name]["inputs"]
        assert (inputs["streamEnabled"], inputs["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES"), name


def test_no_legacy_global_table_resource(plans):  # T8
    for plan in plans.values():
        assert not [r for r in plan["resources"] if r["type"] == "aws:dynamodb/globalTable:GlobalTable"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_outputs_name_every_regions_copy_and_key(plans, stack):  # T9
    outputs = plans[stack]["outputs"]
    assert sorted(outputs["kmsKeys"]) == sorted([HOME[stack], *REPLICAS[stack]])
    for name in GLOBAL_TABLES:
        regions = outputs["tables"][name]["regions"]
        assert sorted(regions) == sorted([HOME[stack], *REPLICAS[stack]])
        for copy in regions.values():
            assert copy["name"] == f"ddb-blueprint-{stack}-{name}"
        assert outputs["tables"][name]["consistency"] == "EVENTUAL"
    assert list(outputs["tables"]["sessions"]["regions"]) == [HOME[stack]]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_stream_functions_consume_the_home_regions_stream_only(plans, stack):  # T15
    plan = plans[stack]
    resources = by_urn(plan)
    mappings = [r for r in plan["resources"] if r["type"] == "aws:lambda/eventSourceMapping:EventSourceMapping"]
    assert mappings
    for mapping in mappings:
        assert "region" not in mapping["inputs"]  # the provider's (home) region
        (source,) = mapping["propertyDependencies"]["eventSourceArn"]
        assert resources[source]["type"] == TABLE  # the table's own streamArn: the home copy's stream
