"""DAX settings mistakes in a stack file: one located error each (D1, D7, D10)."""

from __future__ import annotations

import pytest

from stacks.config.errors import ConfigError
from stacks.config.loader import load_config
from stacks.config.sources import cli_config, read_project, read_stack

NETWORK = {"create": {"cidr": "10.42.0.0/16", "availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1c"]}}
GOOD = {"enabled": True, "clusterName": "shop-test", "nodeType": "dax.t3.small", "nodes": 1, "tables": ["products"], "network": NETWORK}


def problems(scratch, dax: dict) -> list:
    scratch.write_stack("test", {"aws:region": "us-east-1", "ddb-blueprint:dax": dax})
    try:
        project = read_project(scratch.root, "test")
        stack = read_stack(scratch.root, "test")
        load_config(cli_config(project, stack), project, "test", stack)
    except ConfigError as exc:
        return exc.problems
    return []


def only(found, path: str, *fragments: str):
    assert len(found) == 1, [p.render() for p in found]
    problem = found[0]
    assert (problem.file, problem.path) == ("Pulumi.test.yaml", f"ddb-blueprint:dax.{path}" if path else "ddb-blueprint:dax"), problem.render()
    assert problem.line is not None
    for fragment in fragments:
        assert fragment in problem.message, problem.render()


def test_a_valid_single_node_cluster_in_a_created_vpc_loads(scratch):
    assert problems(scratch, GOOD) == []


def test_disabled_dax_needs_nothing_else(scratch):
    assert problems(scratch, {"enabled": False}) == []


@pytest.mark.parametrize("name, fragment", [
    ("shop-production-catalogue", "at most 20"),
    ("Shop-prod", "lowercase"),
    ("1shop", "start with a lowercase letter"),
    ("shop-", "end with a hyphen"),
    ("shop--prod", "two hyphens"),
    ("", "is required"),
])
def test_cluster_names_dax_refuses_are_config_errors(scratch, name, fragment):
    only(problems(scratch, {**GOOD, "clusterName": name}), "clusterName", fragment)


def test_unknown_node_type_lists_the_allowed_ones(scratch):
    only(problems(scratch, {**GOOD, "nodeType": "cache.t3.small"}), "nodeType", "not a DAX node type", "dax.t3.small")


@pytest.mark.parametrize("nodes", [0, 2, 11])
def test_node_counts_other_than_one_or_three_to_ten_are_refused(scratch, nodes):
    only(problems(scratch, {**GOOD, "nodes": nodes}), "nodes", "1 node, or 3 to 10")


@pytest.mark.parametrize("key, value", [("itemTtlMillis", 0), ("queryTtlMillis", 999), ("queryTtlMillis", 86_400_001)])
def test_ttls_outside_one_second_to_one_day_are_refused(scratch, key, value):
    only(problems(scratch, {**GOOD, key: value}), key, "one second to one day")


@pytest.mark.parametrize("window, fragment", [
    ("sunday 05:00-06:00", "ddd:hh24:mi-ddd:hh24:mi"),
    ("sun:25:00-sun:26:00", "ddd:hh24:mi-ddd:hh24:mi"),
    ("sun:05:00-sun:05:30", "at least 60"),
])
def test_maintenance_windows_dax_refuses(scratch, window, fragment):
    only(problems(scratch, {**GOOD, "maintenanceWindow": window}), "maintenanceWindow", fragment)


def test_a_window_over_the_week_boundary_is_valid(scratch):
    assert problems(scratch, {**GOOD, "maintenanceWindow": "sat:23:30-sun:00:30"}) == []


def test_caching_an_unknown_table_is_refused(scratch):
    only(problems(scratch, {**GOOD, "tables": ["product"]}), "tables", "no table 'product'")


def test_enabled_without_tables_is_refused(scratch):
    only(problems(scratch, {**GOOD, "tables": []}), "tables", "list the tables")


def test_dax_without_a_network_is_refused(scratch):
    only(problems(scratch, {k: v for k, v in GOOD.items() if k != "network"}), "network", "only in a VPC")


def test_created_and_existing_network_together_is_refused(scratch):
    network = {**NETWORK, "existing": {"vpcId": "vpc-0123456789abcdef0", "subnets": {"subnet-0123456789abcdef0": "us-east-1a"}}}
    only(problems(scratch, {**GOOD, "network": network}), "network", "either create or existing")


def test_created_vpc_needs_three_distinct_zones_of_the_region(scratch):
    two = {"create": {"availabilityZones": ["us-east-1a", "us-east-1a", "us-east-1b"]}}
    only(problems(scratch, {**GOOD, "network": two}), "network.create.availabilityZones", "3 different")
    other_region = {"create": {"availabilityZones": ["us-east-1a", "us-east-1b", "us-west-2c"]}}
    only(problems(scratch, {**GOOD, "network": other_region}), "network.create.availabilityZones", "not an availability zone", "us-east-1")


@pytest.mark.parametrize("cidr", ["8.8.0.0/16", "10.0.0.0/8", "not-a-cidr"])
def test_created_vpc_range_must_be_private_between_16_and_24(scratch, cidr):
    network = {"create": {**NETWORK["create"], "cidr": cidr}}
    only(problems(scratch, {**GOOD, "network": network}), "network.create.cidr", cidr)


def test_existing_vpc_ids_are_checked(scratch):
    network = {"existing": {"vpcId": "vpc-0123456789abcdef0", "subnets": {"subnet-12": "us-east-1a"}}}
    only(problems(scratch, {**GOOD, "network": network}), "network.existing.subnets.subnet-12", "not a subnet id")


def test_unknown_key_names_the_allowed_ones(scratch):
    found = problems(scratch, {**GOOD, "nodeCount": 3})
    only(found, "nodeCount", "unknown key", "nodes")
