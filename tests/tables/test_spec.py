"""From model + settings to table arguments: pure, no Pulumi."""

from __future__ import annotations

import pytest

from pathlib import Path

from stacks.config.loader import project_defaults
from stacks.config.settings import StackSettings
from stacks.tables.model import TableModel
from stacks.config.sources import read_project
from stacks.tables.spec import capacity_ignore_changes, resolve_table, scaling_targets, table_args

# The project's own defaults (Pulumi.yaml is their only source), plus what these tests set.
SETTINGS = {**project_defaults(read_project(Path(__file__).resolve().parents[2])), "region": "us-east-1", "tags": {"team": "data"}}
CATALOGUE = TableModel.model_validate({
    "attributes": {"id": "S", "category": "S", "name": "S", "price": "N"},
    "partitionKey": "id",
    "globalIndexes": {
        "byCategory": {"partitionKey": "category", "sortKey": "name"},
        "byCategoryPrice": {"partitionKey": ["category", "name"], "sortKey": "price", "projection": "INCLUDE", "nonKeyAttributes": ["stock"]},
    },
    "stream": "NEW_IMAGE",
})
PROVISIONED = {"billingMode": "PROVISIONED", "capacity": {
    "read": {"min": 5, "max": 50}, "write": {"min": 2, "max": 20}, "targetUtilization": 60,
    "indexes": {"byCategory": {"read": {"min": 3, "max": 30}, "write": {"min": 1, "max": 10}}}}}


def spec(overrides=None, **settings):
    merged = StackSettings.model_validate({**SETTINGS, **settings, "tableOverrides": overrides or {}})
    return resolve_table("proj", "qa", "catalogue", CATALOGUE, merged)


def test_billing_mode_is_always_set_even_for_the_provider_default():  # T4
    assert table_args(spec(), "arn:key")["billing_mode"] == "PAY_PER_REQUEST"
    assert table_args(spec({"catalogue": PROVISIONED}), "arn:key")["billing_mode"] == "PROVISIONED"


def test_encryption_uses_the_given_customer_managed_key():  # K4
    assert table_args(spec(), "arn:aws:kms:us-east-1:1:key/k")["server_side_encryption"] == {
        "enabled": True, "kms_key_arn": "arn:aws:kms:us-east-1:1:key/k"}


def test_multi_attribute_gsi_keys_use_key_schemas_in_order():  # T11
    gsi = next(g for g in table_args(spec(), "k")["global_secondary_indexes"] if g["name"] == "byCategoryPrice")
    assert gsi["key_schemas"] == [
        {"attribute_name": "category", "key_type": "HASH"},
        {"attribute_name": "name", "key_type": "HASH"},
        {"attribute_name": "price", "key_type": "RANGE"},
    ]
    assert "hash_key" not in gsi and gsi["non_key_attributes"] == ["stock"]


def test_on_demand_table_has_no_capacity_and_nothing_to_ignore():
    args = table_args(spec(), "k")
    assert "read_capacity" not in args and all("read_capacity" not in g for g in args["global_secondary_indexes"])
    assert capacity_ignore_changes(spec()) == [] and scaling_targets(spec()) == []


def test_provisioned_starts_at_min_capacity_with_index_specific_ranges():
    args = table_args(spec({"catalogue": PROVISIONED}), "k")
    assert (args["read_capacity"], args["write_capacity"]) == (5, 2)
    by_name = {g["name"]: g for g in args["global_secondary_indexes"]}
    assert (by_name["byCategory"]["read_capacity"], by_name["byCategory"]["write_capacity"]) == (3, 1)
    assert (by_name["byCategoryPrice"]["read_capacity"], by_name["byCategoryPrice"]["write_capacity"]) == (5, 2)


def test_provisioned_ignores_capacity_drift_on_table_and_whole_indexes():  # T7: no per-field ignore in a set
    assert capacity_ignore_changes(spec({"catalogue": PROVISIONED})) == [
        "readCapacity", "writeCapacity", "globalSecondaryIndexes"]


def test_apply_index_changes_lets_one_deploy_change_the_indexes():  # T7
    assert capacity_ignore_changes(spec({"catalogue": {**PROVISIONED, "applyIndexChanges": True}})) == [
        "readCapacity", "writeCapacity"]


def test_a_provisioned_table_without_global_indexes_ignores_only_its_capacity():
    plain = TableModel.model_validate({"attributes": {"id": "S"}, "partitionKey": "id"})
    merged = StackSettings.model_validate({**SETTINGS, "tableOverrides": {"catalogue": PROVISIONED | {"capacity": {
        "read": {"min": 5, "max": 50}, "write": {"min": 2, "max": 20}}}}})
    assert capacity_ignore_changes(resolve_table("proj", "qa", "catalogue", plain, merged)) == ["readCapacity", "writeCapacity"]


def test_scaling_targets_cover_table_and_every_gsi_in_both_directions():  # T3, T7
    targets = scaling_targets(spec({"catalogue": PROVISIONED}))
    assert [(t.resource_id, t.dimension, t.min_capacity, t.max_capacity) for t in targets] == [
        ("table/proj-qa-catalogue", "dynamodb:table:ReadCapacityUnits", 5, 50),
        ("table/proj-qa-catalogue", "dynamodb:table:WriteCapacityUnits", 2, 20),
        ("table/proj-qa-catalogue/index/byCategory", "dynamodb:index:ReadCapacityUnits", 3, 30),
        ("table/proj-qa-catalogue/index/byCategory", "dynamodb:index:WriteCapacityUnits", 1, 10),
        ("table/proj-qa-catalogue/index/byCategoryPrice", "dynamodb:index:ReadCapacityUnits", 5, 50),
        ("table/proj-qa-catalogue/index/byCategoryPrice", "dynamodb:index:WriteCapacityUnits", 2, 20),
    ]
    assert {t.metric for t in targets} == {"DynamoDBReadCapacityUtilization", "DynamoDBWriteCapacityUtilization"}
    assert {t.target_utilization for t in targets} == {60}
    assert len({t.suffix for t in targets}) == len(targets)  # resource names stay unique


def test_on_demand_ceilings_only_include_what_is_set():
    args = table_args(spec({"catalogue": {"maxThroughput": {"write": 40}}}), "k")
    assert args["on_demand_throughput"] == {"max_write_request_units": 40}


def test_pitr_off_drops_the_window():
    args = table_args(spec(pointInTimeRecovery=False), "k")
    assert args["point_in_time_recovery"] == {"enabled": False}


def test_table_overrides_win_over_stack_defaults():
    resolved = spec({"catalogue": {"tableClass": "STANDARD_INFREQUENT_ACCESS", "contributorInsights": True}})
    assert (resolved.table_class, resolved.contributor_insights) == ("STANDARD_INFREQUENT_ACCESS", True)
    assert (spec().table_class, spec().contributor_insights) == ("STANDARD", False)


def test_tags_carry_user_tags_and_the_blueprint_tags():
    assert table_args(spec(), "k")["tags"] == {
        "managed-by": "pulumi", "project": "proj", "stack": "qa", "table": "catalogue", "team": "data"}


def test_stream_and_ttl_follow_the_model():
    args = table_args(spec(), "k")
    assert (args["stream_enabled"], args["stream_view_type"]) == (True, "NEW_IMAGE")
    assert "ttl" not in args


@pytest.mark.parametrize("protect", [True, False])
def test_protection_settings_pass_through(protect):
    resolved = spec(protect=protect, retainOnDelete=protect, deletionProtection=protect)
    assert (resolved.protect, resolved.retain_on_delete) == (protect, protect)
    assert table_args(resolved, "k")["deletion_protection_enabled"] is protect


def test_apply_index_changes_on_an_on_demand_table_is_a_located_error(scratch):  # T7
    from tests.config.test_config_errors import BASE, only, problems

    only(problems(scratch, {**BASE, "ddb-blueprint:tableOverrides": {"products": {"applyIndexChanges": True}}}),
         "ddb-blueprint:tableOverrides.products.applyIndexChanges", "PROVISIONED tables with global indexes")
