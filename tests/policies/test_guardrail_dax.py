"""The DAX guardrails over the real prod plan, and over that plan with one mistake each (D1-D4, D10, D11).

Mutating the program's own plan keeps the shapes honest: clusters, groups, rules and roles are
joined through propertyDependencies exactly as the program registers them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from policies.guardrails import POLICIES
from policies.guardrails.dax import DAX_POLICIES
from policies.guardrails.offline import evaluate_plan

REPO = Path(__file__).resolve().parents[2]
POLICY = {p.name: p for p in POLICIES}
RULES = [p.name for p in DAX_POLICIES]


@pytest.fixture(scope="module")
def prod(reference_preview) -> dict:
    return reference_preview("prod").plan


def named(plan: dict, name: str) -> dict:
    [resource] = [r for r in plan["resources"] if r["name"] == name]
    return resource


def only_rule(config: dict | None, rules: list[str]) -> dict:
    return {k: v for k, v in (config or {}).items() if k in rules}


def results(plan: dict, rule: str, config: dict | None = None) -> list[tuple[str, str]]:
    report = evaluate_plan(plan, only_rule(config, [rule]), policies=[POLICY[rule]])
    return [(r["outcome"], r["message"]) for r in report.results if r["outcome"] == "violation"]


def violation(plan: dict, rule: str, *fragments: str, config: dict | None = None) -> str:
    found = results(plan, rule, config)
    assert len(found) == 1, found
    for fragment in fragments:
        assert fragment in found[0][1], found[0][1]
    return found[0][1]


def test_prod_plan_passes_every_dax_rule(prod):
    config = json.loads((REPO / "policies/config/prod.json").read_text())
    report = evaluate_plan(prod, only_rule(config, RULES), policies=DAX_POLICIES)
    assert [r for r in report.results if r["outcome"] == "violation"] == []
    assert {"dax-cluster-encrypted", "dax-cluster-resilience", "dax-security-group-tls-from-clients",
            "dax-service-role-scoped"} <= set(report.passed)


def test_dax_rules_are_registered_mandatory():
    assert all(name in POLICY for name in RULES)
    assert all(p.enforcement_level.value == "mandatory" for p in DAX_POLICIES)


@pytest.mark.parametrize("key, value, fragment", [
    ("serverSideEncryption", {"enabled": False}, "serverSideEncryption.enabled"),
    ("clusterEndpointEncryptionType", "NONE", "set TLS"),
])
def test_cluster_without_sse_or_tls_is_refused(prod, key, value, fragment):  # D11
    plan = copy.deepcopy(prod)
    named(plan, "dax-cluster")["inputs"][key] = value
    violation(plan, "dax-cluster-encrypted", fragment)


def test_resilience_follows_the_stack_policy_config(prod):  # D10
    plan = copy.deepcopy(prod)
    cluster = named(plan, "dax-cluster")["inputs"]
    cluster["replicationFactor"], cluster["availabilityZones"] = 1, ["us-east-1a"]
    prod_config = json.loads((REPO / "policies/config/prod.json").read_text())
    staging_config = json.loads((REPO / "policies/config/staging.json").read_text())
    found = results(plan, "dax-cluster-resilience", prod_config)
    assert len(found) == 2 and "at least 3 nodes" in found[0][1] and "requires 3" in found[1][1]
    assert results(plan, "dax-cluster-resilience", staging_config) == []
    assert len(results(plan, "dax-cluster-resilience")) == 2  # the schema default is the secure one


def test_three_nodes_in_one_zone_fail_the_spread(prod):
    plan = copy.deepcopy(prod)
    named(plan, "dax-cluster")["inputs"]["availabilityZones"] = ["us-east-1a"] * 3
    violation(plan, "dax-cluster-resilience", "1 availability zone")


@pytest.mark.parametrize("change, fragment", [
    ({"cidrIpv4": "10.0.0.0/8"}, "never an address range"),
    ({"fromPort": 8111, "toPort": 8111}, "TCP 9111"),
    ({"fromPort": 0, "toPort": 65535}, "TCP 9111"),
])
def test_cluster_group_admits_only_9111_from_the_client_group(prod, change, fragment):  # D1
    plan = copy.deepcopy(prod)
    named(plan, "dax-sg-from-clients")["inputs"].update(change)
    violation(plan, "dax-security-group-tls-from-clients", fragment)


def test_cluster_without_its_own_group_is_refused(prod):
    plan = copy.deepcopy(prod)
    cluster = named(plan, "dax-cluster")
    cluster["inputs"].pop("securityGroupIds")
    cluster["propertyDependencies"].pop("securityGroupIds")
    violation(plan, "dax-security-group-tls-from-clients", "default group")


def test_service_role_with_other_trust_or_wide_resources_is_refused(prod):  # D1, D3
    plan = copy.deepcopy(prod)
    role = named(plan, "dax-role")
    role["inputs"]["assumeRolePolicy"] = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    violation(plan, "dax-service-role-scoped", "only dax.amazonaws.com")
    plan = copy.deepcopy(prod)
    policy = named(plan, "dax-role-policy")
    document = json.loads(policy["inputs"]["policy"])
    document["Statement"][0]["Resource"] = ["arn:aws:dynamodb:us-east-1:123456789012:table/*"]
    policy["inputs"]["policy"] = json.dumps(document)
    violation(plan, "dax-service-role-scoped", "every client inherits")


def _add_dax_access(plan: dict, role_name: str, cluster: str = "shop-prod-catalogue") -> None:
    policy = named(plan, f"{role_name}-access")
    document = json.loads(policy["inputs"]["policy"])
    document["Statement"].append({"Sid": "ViaDax", "Effect": "Allow", "Action": ["dax:GetItem", "dax:Query"],
                                  "Resource": f"arn:aws:dax:us-east-1:123456789012:cache/{cluster}"})
    policy["inputs"]["policy"] = json.dumps(document)


def test_row_scoped_role_with_dax_access_to_a_cluster_caching_that_table_is_refused(prod):  # D3
    plan = copy.deepcopy(prod)
    # The shopper is row-scoped on carts; make the cluster cache carts and give the shopper DAX access.
    service = named(plan, "dax-role-policy")
    document = json.loads(service["inputs"]["policy"])
    document["Statement"][0]["Resource"].append("arn:aws:dynamodb:us-east-1:123456789012:table/ddb-blueprint-prod-carts")
    service["inputs"]["policy"] = json.dumps(document)
    _add_dax_access(plan, "shopper-role")
    message = violation(plan, "dax-no-row-scoped-clients", "ddb-blueprint-prod-carts", "shop-prod-catalogue")
    assert "DAX ignores per-user conditions" in message


def test_row_scoped_role_reaching_a_cluster_of_other_tables_passes(prod):
    plan = copy.deepcopy(prod)
    _add_dax_access(plan, "shopper-role")  # the cluster caches products; the shopper is row-scoped on carts/orders
    assert results(plan, "dax-no-row-scoped-clients") == []


def test_reader_vpc_attachment_actions_alone_may_use_any_resource(prod):  # D6
    assert results(prod, "iam-no-wildcards") == []
    plan = copy.deepcopy(prod)
    policy = named(plan, "functions-getProductViaDax-runtime")
    document = json.loads(policy["inputs"]["policy"])
    [vpc] = [s for s in document["Statement"] if s["Sid"].endswith("AttachesToTheVpc")]
    vpc["Action"].append("ec2:RunInstances")
    policy["inputs"]["policy"] = json.dumps(document)
    violation(plan, "iam-no-wildcards", "ec2:RunInstances")
