"""Access follows the data: a grant on a global table reaches every replica (table, index, stream,
key in that region) and nothing else; isolation holds in every region (facts K1, K6, T9, I1-I3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.access.evaluator import Request, evaluate
from stacks.access.isolation import OTHER, OWNER, grant_scenarios
from stacks.access.policies import ArnContext, permission_policy
from stacks.config.loader import load_for_stack
from stacks.config.sources import cli_config, read_project, read_stack
from stacks.keys.policy import table_key_policy
from stacks.replication.spec import stack_table_regions

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
PROD_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


@pytest.fixture(scope="module")
def prod():
    config = load_for_stack(REPO, "prod", cli_config(read_project(REPO), read_stack(REPO, "prod")))
    ctx = ArnContext("aws", ACCOUNT, "us-east-1", "ddb-blueprint", "prod", table_regions=stack_table_regions(config.tables, config.settings))
    return config, ctx


def policy(prod, principal: str) -> dict:
    config, ctx = prod
    return permission_policy(principal, config.access, config.tables, ctx)


def arn(region: str, table: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/ddb-blueprint-prod-{table}"


def test_a_grant_on_a_global_table_lists_every_regions_table_and_index(prod):
    statement = next(s for s in policy(prod, "shopper")["Statement"] if s["Sid"] == "ShopperCartItems")
    assert statement["Resource"] == [r for region in PROD_REGIONS for r in (arn(region, "carts"), f"{arn(region, 'carts')}/index/byAddedAt")]


def test_a_stream_grant_covers_every_replicas_stream(prod):
    statement = next(s for s in policy(prod, "orderStats")["Statement"] if s["Sid"] == "OrderStatsStreamStream")
    assert statement["Resource"] == [f"{arn(r, 'orders')}/stream/*" for r in PROD_REGIONS]


def test_the_key_statement_names_each_regions_key_by_alias_through_dynamodb_there(prod):  # K1, K9
    statement = next(s for s in policy(prod, "shopper")["Statement"] if s["Sid"] == "ShopperCartTableKey")
    assert statement["Resource"] == [f"arn:aws:kms:{r}:{ACCOUNT}:key/*" for r in PROD_REGIONS]
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == [f"dynamodb.{r}.amazonaws.com" for r in PROD_REGIONS]
    assert statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"] == ["alias/ddb-blueprint/prod/tables"]


def test_a_regional_table_stays_in_the_home_region(prod):
    doc = policy(prod, "orderStats")
    markers = next(s for s in doc["Statement"] if s["Sid"] == "OrderStatsMarkersItems")
    assert markers["Resource"] == [arn("us-east-1", "idempotency")]  # global: false
    request = Request("dynamodb:PutItem", arn("us-west-2", "idempotency"), {})
    assert evaluate([doc], request) != "allow"


def test_writes_reach_the_key_in_every_replica_region_only_through_dynamodb(prod):
    doc = policy(prod, "orderStats")
    for region in PROD_REGIONS:
        via = {"kms:ViaService": f"dynamodb.{region}.amazonaws.com", "kms:ResourceAliases": ["alias/ddb-blueprint/prod/tables"]}
        key = f"arn:aws:kms:{region}:{ACCOUNT}:key/1234abcd-0000-0000-0000-000000000000"
        assert evaluate([doc], Request("kms:GenerateDataKey", key, via)) == "allow", region
        direct = {"kms:ResourceAliases": ["alias/ddb-blueprint/prod/tables"]}
        assert evaluate([doc], Request("kms:GenerateDataKey", key, direct)) != "allow", region
    outside = {"kms:ViaService": "dynamodb.ap-south-1.amazonaws.com", "kms:ResourceAliases": ["alias/ddb-blueprint/prod/tables"]}
    assert evaluate([doc], Request("kms:GenerateDataKey", f"arn:aws:kms:ap-south-1:{ACCOUNT}:key/x", outside)) != "allow"


def test_isolation_holds_in_every_replica_region_and_nowhere_else(prod):
    config, ctx = prod
    doc = policy(prod, "shopper")
    grant = config.access.grants["shopperCart"]
    scenarios = grant_scenarios("shopperCart", grant, config.access, config.tables, ctx)
    for region in PROD_REGIONS[1:]:
        own = [s for s in scenarios if s.description == f"dynamodb:GetItem on the caller's own partition in replica region {region}"]
        other = [s for s in scenarios if s.description == f"dynamodb:GetItem on another user's partition in replica region {region}"]
        assert len(own) == len(other) == 1
        assert (own[0].expected, own[0].outcome([doc])) == ("allow", "allow")
        assert (other[0].expected, other[0].outcome([doc])) == ("deny", "deny")
    nowhere = [s for s in scenarios if "no copy of the table there" in s.description]
    assert nowhere and all(s.expected == "deny" == s.outcome([doc]) for s in nowhere)
    assert all(s.outcome([doc]) == s.expected for s in scenarios)


def test_row_scope_applies_to_replicas_too(prod):
    doc = policy(prod, "shopper")
    context = {"aws:PrincipalTag/userSub": OWNER, "dynamodb:LeadingKeys": [OTHER]}
    for region in PROD_REGIONS:
        assert evaluate([doc], Request("dynamodb:GetItem", arn(region, "carts"), context)) != "allow", region
    context["dynamodb:LeadingKeys"] = [OWNER]
    for region in PROD_REGIONS:
        assert evaluate([doc], Request("dynamodb:GetItem", arn(region, "carts"), context)) == "allow", region


@pytest.mark.parametrize("region", PROD_REGIONS)
def test_no_key_policy_denies_anything_so_the_replication_role_is_never_blocked(region):  # K6
    doc = table_key_policy("aws", ACCOUNT, region, [])
    assert all(s["Effect"] == "Allow" for s in doc["Statement"])
