"""Pure DAX rules: window arithmetic and the AZ each node lands in (D10)."""

from stacks.dax.model import DaxSettings
from stacks.dax.rules import node_zones, window_minutes


def settings(nodes: int, network: dict) -> DaxSettings:
    return DaxSettings.model_validate({"enabled": True, "clusterName": "c", "nodes": nodes, "tables": ["t"], "network": network})


def test_window_length_wraps_over_the_week():
    assert window_minutes("sun:05:00-sun:06:00") == 60
    assert window_minutes("sat:23:00-sun:01:00") == 120
    assert window_minutes("mon:5:00-mon:06:00") is None


def test_three_nodes_land_in_three_zones():
    created = {"create": {"availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1c"]}}
    assert node_zones(settings(3, created)) == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_more_nodes_than_zones_go_round_robin_and_one_node_gets_one_zone():
    created = {"create": {"availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1c"]}}
    assert node_zones(settings(5, created)) == ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a", "us-east-1b"]
    assert node_zones(settings(1, created)) == ["us-east-1a"]


def test_existing_subnets_give_their_distinct_zones():
    existing = {"existing": {"vpcId": "vpc-0123456789abcdef0",
                             "subnets": {"subnet-aaaaaaaa": "us-east-1b", "subnet-bbbbbbbb": "us-east-1a", "subnet-cccccccc": "us-east-1b"}}}
    assert node_zones(settings(3, existing)) == ["us-east-1a", "us-east-1b", "us-east-1a"]


def test_interface_endpoints_only_for_services_in_vpc_functions_reference():  # D6
    from stacks.dax.spec import interface_endpoint_services

    assert interface_endpoint_services([{"TABLE_NAME": "table.products", "ROUTE": "{}"}]) == []  # DynamoDB: gateway
    assert interface_endpoint_services([{"TOPIC_ARN": "topic.productChanges"}, {"X": "literal"}]) == ["sns"]


def test_subnet_ranges_split_the_vpc_range():
    from stacks.dax.spec import subnet_cidrs

    assert subnet_cidrs("10.40.0.0/16") == ["10.40.0.0/18", "10.40.64.0/18", "10.40.128.0/18"]
    assert subnet_cidrs("10.1.2.0/24") == ["10.1.2.0/26", "10.1.2.64/26", "10.1.2.128/26"]
