"""Replication mistakes in stack files and the data model: one located error each (facts T1, T10, T13).

Same path as `pulumi up`: the CLI-shaped config of a scratch copy of the project, validated by
load_config before anything is registered.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from stacks.config.errors import ConfigError
from stacks.config.loader import load_config
from stacks.config.sources import cli_config, read_project, read_stack
from tests.config.test_config_errors import only

REPO = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
MODEL = PROJECT["ddb-blueprint:tables"]["value"]


def problems(scratch, config: dict, tables: dict | None = None, stack: str = "test"):
    if tables is not None:
        scratch.set_tables(tables)
    scratch.write_stack(stack, config)
    project = read_project(scratch.root, stack)
    stack_file = read_stack(scratch.root, stack)
    try:
        load_config(cli_config(project, stack_file), project, stack, stack_file, REPO)
    except ConfigError as exc:
        return exc.problems
    return []


def stack(**keys) -> dict:
    return {"aws:region": "us-east-1", **{f"ddb-blueprint:{k}": v for k, v in keys.items()}}


def strong_ready_model() -> dict:
    """The reference model with every table MRSC can hold: no TTL, no LSIs; transactional ones regional."""
    tables = copy.deepcopy(MODEL)
    for name in ("carts", "orders", "products", "sessions", "idempotency"):
        tables[name]["global"] = False
    return tables


def test_prod_and_staging_replica_settings_are_valid(scratch):
    assert problems(scratch, stack(replicaRegions=["us-west-2", "eu-west-1"])) == []
    assert problems(scratch, stack(replicaRegions=["us-west-2"])) == []


def test_replica_in_the_home_region_is_located_at_its_list_entry(scratch):
    found = problems(scratch, stack(replicaRegions=["us-west-2", "us-east-1"]))
    problem = only(found, "ddb-blueprint:replicaRegions[1]", "home region", "OTHER regions")
    assert problem.line is not None


def test_a_region_listed_twice_is_an_error(scratch):
    only(problems(scratch, stack(replicaRegions=["us-west-2", "us-west-2"])), "ddb-blueprint:replicaRegions[1]", "listed twice")


def test_unknown_replica_region_suggests_the_closest(scratch):
    only(problems(scratch, stack(replicaRegions=["us-west-3x"])), "ddb-blueprint:replicaRegions[0]", "unknown region", "did you mean")


def test_replica_in_another_partition_is_an_error(scratch):
    only(problems(scratch, stack(replicaRegions=["cn-north-1"])), "ddb-blueprint:replicaRegions[0]", "partition")


def test_unknown_consistency_mode_lists_the_allowed_values(scratch):
    only(problems(scratch, stack(replicaConsistency="STRONGEST")), "ddb-blueprint:replicaConsistency", "EVENTUAL", "STRONG")


def test_witness_without_strong_is_an_error(scratch):
    only(problems(scratch, stack(replicaRegions=["us-west-2"], witnessRegion="us-east-2")),
         "ddb-blueprint:witnessRegion", "STRONG")


def test_strong_with_two_regions_and_no_witness_is_an_invalid_topology(scratch):
    found = problems(scratch, stack(replicaRegions=["us-west-2"], replicaConsistency="STRONG"), strong_ready_model())
    only(found, "ddb-blueprint:replicaRegions", "exactly 3 regions", "T10")


def test_strong_with_three_regions_plus_a_witness_is_an_invalid_topology(scratch):
    found = problems(scratch, stack(replicaRegions=["us-west-2", "us-east-2"], replicaConsistency="STRONG",
                                    witnessRegion="us-west-1"), strong_ready_model())
    only(found, "ddb-blueprint:replicaRegions", "plus a witness")


def test_strong_across_region_sets_is_an_error(scratch):
    found = problems(scratch, stack(replicaRegions=["us-west-2", "eu-west-1"], replicaConsistency="STRONG"), strong_ready_model())
    only(found, "ddb-blueprint:replicaRegions", "one region set", "eu-west-1 (EU)")


def test_strong_outside_every_region_set_is_an_error(scratch):
    found = problems(scratch, stack(replicaRegions=["us-west-1", "us-east-2"], replicaConsistency="STRONG"), strong_ready_model())
    only(found, "ddb-blueprint:replicaRegions", "region sets only", "us-west-1")


def test_witness_in_a_replica_region_is_an_error(scratch):
    found = problems(scratch, stack(replicaRegions=["us-east-2"], replicaConsistency="STRONG", witnessRegion="us-east-2"),
                     strong_ready_model())
    assert any(p.path == "ddb-blueprint:witnessRegion" and "already holds a replica" in p.message for p in found), found


def test_strong_three_regions_and_two_plus_witness_are_valid(scratch):
    model = strong_ready_model()
    assert problems(scratch, stack(replicaRegions=["us-east-2", "us-west-2"], replicaConsistency="STRONG"), model) == []
    assert problems(scratch, stack(replicaRegions=["us-east-2"], replicaConsistency="STRONG", witnessRegion="us-west-2"),
                    model) == []


def test_strong_rejects_ttl_on_a_global_table(scratch):
    model = strong_ready_model()
    model["sessions"]["global"] = True  # sessions expire by TTL
    found = problems(scratch, stack(replicaRegions=["us-east-2", "us-west-2"], replicaConsistency="STRONG"), model)
    only(found, "ddb-blueprint:tables.sessions.ttlAttribute", "TTL", "T13", file="Pulumi.yaml")


def test_strong_rejects_local_indexes_on_a_global_table(scratch):
    model = strong_ready_model()
    model["carts"]["global"] = True
    model["carts"].pop("ttlAttribute")
    found = problems(scratch, stack(replicaRegions=["us-east-2", "us-west-2"], replicaConsistency="STRONG"), model)
    by_path = {p.path: p.message for p in found}
    assert sorted(by_path) == ["ddb-blueprint:tables.carts", "ddb-blueprint:tables.carts.localIndexes"], found
    assert "local secondary indexes" in by_path["ddb-blueprint:tables.carts.localIndexes"]
    assert "placeOrder" in by_path["ddb-blueprint:tables.carts"] and "transactions" in by_path["ddb-blueprint:tables.carts"]


def test_strong_rejects_a_table_written_by_a_transactional_function(scratch):
    """orders is written by placeOrder's TransactWriteItems (derived from functions + access)."""
    model = strong_ready_model()
    model["orders"]["global"] = True
    found = problems(scratch, stack(replicaRegions=["us-east-2", "us-west-2"], replicaConsistency="STRONG"), model)
    problem = only(found, "ddb-blueprint:tables.orders", "transactions", "placeOrder", file="Pulumi.yaml")
    assert "orderStats" not in problem.message  # orderStats only reads the orders stream


def test_regional_tables_are_not_checked_against_strong(scratch):
    model = strong_ready_model()
    assert all(not t["global"] for t in model.values())
    assert problems(scratch, stack(replicaRegions=["us-east-2", "us-west-2"], replicaConsistency="STRONG"), model) == []


def test_eventual_global_table_with_a_narrow_stream_view_is_an_error(scratch):
    model = copy.deepcopy(MODEL)
    model["products"]["stream"] = "KEYS_ONLY"
    found = problems(scratch, stack(replicaRegions=["us-west-2"]), model)
    only(found, "ddb-blueprint:tables.products.stream", "NEW_AND_OLD_IMAGES", "T1", file="Pulumi.yaml")


def test_narrow_stream_is_fine_without_replicas(scratch):
    model = copy.deepcopy(MODEL)
    model["products"]["stream"] = "KEYS_ONLY"
    found = problems(scratch, stack(), model)
    assert [p for p in found if "stream" in p.path and "tables" in p.path] == []


def test_replica_read_capacity_for_a_region_without_replica_is_an_error(scratch):
    overrides = {"products": {"billingMode": "PROVISIONED", "capacity": {"read": {"min": 1, "max": 5}, "write": {"min": 1, "max": 5}},
                              "replicaReadCapacity": {"eu-west-1": {"min": 1, "max": 5}}}}
    found = problems(scratch, stack(replicaRegions=["us-west-2"], tableOverrides=overrides))
    only(found, "ddb-blueprint:tableOverrides.products.replicaReadCapacity.eu-west-1", "not one of replicaRegions")


def test_replica_read_capacity_on_an_on_demand_table_is_an_error(scratch):
    overrides = {"orders": {"replicaReadCapacity": {"us-west-2": {"min": 1, "max": 5}}}}
    found = problems(scratch, stack(replicaRegions=["us-west-2"], tableOverrides=overrides))
    only(found, "ddb-blueprint:tableOverrides.orders.replicaReadCapacity", "PROVISIONED")


def test_global_is_a_boolean_in_the_data_model(scratch):
    model = copy.deepcopy(MODEL)
    model["sessions"]["global"] = "no"
    found = problems(scratch, stack(), model)
    only(found, "ddb-blueprint:tables.sessions.global", "boolean", file="Pulumi.yaml")


def test_transactional_declaration_must_match_the_code(scratch):
    """placeOrder calls transact_write_items: declaring it non-transactional would hide it from the STRONG rule."""
    functions = copy.deepcopy(PROJECT["ddb-blueprint:functions"]["value"])
    functions["functions"]["placeOrder"]["transactional"] = False
    scratch.set_model("functions", functions)
    found = problems(scratch, stack())
    only(found, "ddb-blueprint:functions.functions.placeOrder.transactional", "calls TransactWriteItems", file="Pulumi.yaml")
