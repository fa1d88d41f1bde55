"""One user cannot reach another user's rows: every row-scoped grant, every stack, evaluated on the
policy the plan records (what `pulumi up` would attach to the role)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stacks.access.policies import ArnContext
from stacks.replication.spec import stack_table_regions
from stacks.config.loader import load_for_stack
from stacks.access.evaluator import Request, evaluate
from stacks.access.isolation import OTHER, OWNER, grant_scenarios
from stacks.config.sources import cli_config, read_project, read_stack

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")


def load(stack: str, plan: dict):
    config = load_for_stack(REPO, stack, cli_config(read_project(REPO), read_stack(REPO, stack)))
    policies = {r["name"].removesuffix("-role-access"): json.loads(r["inputs"]["policy"])
                for r in plan["resources"] if r["type"] == "aws:iam/rolePolicy:RolePolicy" and r["name"].endswith("-role-access")}
    ctx = ArnContext("aws", "123456789012", config.settings.region, "ddb-blueprint", stack,
                     table_regions=stack_table_regions(config.tables, config.settings))
    return config, policies, ctx


@pytest.fixture(scope="module", params=STACKS)
def stack(request, reference_preview):
    return load(request.param, reference_preview(request.param).plan)


def all_scenarios(config, ctx):
    return [s for name, g in sorted(config.access.grants.items())
            for s in grant_scenarios(name, g, config.access, config.tables, ctx)]


def test_every_row_scoped_grant_behaves_as_declared(stack):  # I1-I5
    config, policies, ctx = stack
    scenarios = all_scenarios(config, ctx)
    assert scenarios, "the reference model has row-scoped grants"
    for scenario in scenarios:
        policy = policies[config.access.grants[scenario.grant].principal]
        assert scenario.outcome([policy]) == scenario.expected, f"{scenario.grant}: {scenario.description}"


def test_the_proof_covers_every_promise_of_the_issue(stack):
    config, _, ctx = stack
    descriptions = {s.grant: [] for s in all_scenarios(config, ctx)}
    for s in all_scenarios(config, ctx):
        descriptions[s.grant].append((s.description, s.expected))
    for grant, rows in descriptions.items():
        text = " | ".join(d for d, _ in rows)
        for promise in ("own partition", "another user's partition", "Scan", "undeclared index", "undeclared dynamodb:", "never granted"):
            assert promise in text, f"{grant} lacks a '{promise}' scenario"
        declared = [a for a in config.access.grants[grant].model_dump()["actions"]]
        for action in declared:
            assert (f"{action} on the caller's own partition", "allow") in rows


def test_crafted_requests_for_another_users_partition_are_denied(stack):
    config, policies, ctx = stack
    shopper = policies["shopper"]
    carts = ctx.table_arn("carts")
    for keys in ([OTHER], [OWNER, OTHER], [OWNER.upper()], [OWNER + " "], ["*"], [""]):
        request = {"action": "dynamodb:Query", "resource": carts,
                   "context": {"aws:PrincipalTag/userSub": OWNER, "dynamodb:LeadingKeys": keys}}
        assert evaluate([shopper], Request(**request)) != "allow", keys


def test_the_null_guard_denies_requests_without_leading_keys_even_if_scan_were_added(stack):  # I3
    config, policies, ctx = stack
    widened = copy.deepcopy(policies["shopper"])
    cart = next(s for s in widened["Statement"] if s["Sid"] == "ShopperCartItems")
    cart["Action"].append("dynamodb:Scan")
    unguarded = copy.deepcopy(widened)
    next(s for s in unguarded["Statement"] if s["Sid"] == "ShopperCartItems")["Condition"].pop("Null")
    scan = next(s for s in all_scenarios(config, ctx) if s.grant == "shopperCart" and s.description.startswith("Scan"))
    assert scan.outcome([unguarded]) == "allow"  # ForAllValues alone is true when the key is absent
    assert scan.outcome([widened]) == "deny"


def test_the_proof_catches_a_wrong_owner_variable(stack):
    config, policies, ctx = stack
    broken = json.loads(json.dumps(policies["shopper"]).replace("${aws:PrincipalTag/userSub}", "${aws:username}"))
    own = next(s for s in all_scenarios(config, ctx) if s.grant == "shopperCart" and "GetItem on the caller's own" in s.description)
    assert own.outcome([broken]) == "deny"


def test_app_users_cannot_write_their_cart_directly(stack):
    """Shoppers change carts only through the API (issue 8 item 5): the role the identity pool hands
    out has no write action on any table, and a crafted PutItem on the caller's own partition is denied."""
    config, policies, ctx = stack
    shopper = policies["shopper"]
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
              "dynamodb:ConditionCheckItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"}
    granted = {a for s in shopper["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not granted & writes, granted & writes
    assert not any(a.startswith("kms:") and a != "kms:Decrypt" for a in granted)  # no key use for writing either
    for action in sorted(writes):
        request = Request(action=action, resource=ctx.table_arn("carts"),
                          context={"aws:PrincipalTag/userSub": OWNER, "dynamodb:LeadingKeys": [OWNER]})
        assert evaluate([shopper], request) != "allow", action
