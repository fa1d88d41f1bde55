"""Grants through DAX (`via: dax`): dax: actions on the cluster, never per-caller scope (D3, D4)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.access.model import AccessModel
from stacks.access.policies import ArnContext, permission_policy
from stacks.config.errors import ConfigError
from stacks.config.loader import load_config
from stacks.config.sources import cli_config, read_project, read_stack
from stacks.tables.model import Tables

REPO = Path(__file__).resolve().parents[2]
PROJECT = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
ACCESS = PROJECT["ddb-blueprint:access"]["value"]
DAX = {"enabled": True, "clusterName": "shop-test", "nodes": 1, "tables": ["products"],
       "network": {"create": {"availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1c"]}}}
READER = {"kind": "service", "service": "lambda.amazonaws.com", "description": "Reads the catalogue through DAX."}
GRANT = {"principal": "catalogueReader", "table": "products", "access": ["read"], "indexes": ["byCategory"],
         "via": "dax", "reason": "Catalogue reads through the cache."}


def problems(scratch, grant: dict, dax: dict | None = DAX, principal: dict = READER) -> list:
    access = copy.deepcopy(ACCESS)
    access["principals"]["catalogueReader"] = principal
    access["grants"]["catalogueViaDax"] = grant
    scratch.set_model("access", access)
    config = {"aws:region": "us-east-1"} | ({"ddb-blueprint:dax": dax} if dax else {})
    scratch.write_stack("test", config)
    try:
        project = read_project(scratch.root, "test")
        stack = read_stack(scratch.root, "test")
        load_config(cli_config(project, stack), project, "test", stack)
    except ConfigError as exc:
        return [p for p in exc.problems]
    return []


def only(found, path: str, *fragments: str):
    assert len(found) == 1, [p.render() for p in found]
    assert found[0].path == f"ddb-blueprint:access.{path}", found[0].render()
    assert found[0].file == "Pulumi.yaml" and found[0].line
    for fragment in fragments:
        assert fragment in found[0].message, found[0].render()


def test_a_service_reading_a_cached_table_through_dax_is_valid(scratch):
    assert problems(scratch, GRANT) == []


def test_row_scoped_grant_through_dax_is_a_config_error(scratch):  # D3
    # The shopper's own cart, row-scoped, through a cluster that caches carts.
    found = problems(scratch, {**GRANT, "principal": "shopper", "table": "carts", "indexes": [], "rowScope": "owner"},
                     dax={**DAX, "tables": ["products", "carts"]})
    scoped = [p for p in found if p.path.endswith("catalogueViaDax.rowScope")]
    assert len(scoped) == 1 and "does not enforce per-user conditions" in scoped[0].message


def test_attribute_scoped_grant_through_dax_is_a_config_error(scratch):  # D3
    only(problems(scratch, {**GRANT, "attributes": ["name", "price"]}), "grants.catalogueViaDax.attributes",
         "does not enforce dynamodb:Attributes")


def test_grant_through_dax_on_a_table_the_cluster_does_not_cache_is_refused(scratch):
    only(problems(scratch, {**GRANT, "table": "sessions", "indexes": []}), "grants.catalogueViaDax.via",
         "does not cache 'sessions'")


def test_grant_through_dax_in_a_stack_without_dax_is_refused(scratch):
    only(problems(scratch, GRANT, dax=None), "grants.catalogueViaDax.via", "DAX is off in this stack")


def test_app_users_cannot_use_dax(scratch):
    found = [p for p in problems(scratch, {**GRANT, "principal": "shopper"}) if "has no grant" not in p.message]
    only(found, "grants.catalogueViaDax.via", "cognitoUser principals cannot use DAX")


def test_via_dax_grant_becomes_dax_actions_on_the_cluster_arn_only():  # D4
    access = AccessModel.model_validate({"principals": {"catalogueReader": READER}, "grants": {"catalogueViaDax": GRANT}})
    tables = Tables.model_validate({"tables": PROJECT["ddb-blueprint:tables"]["value"]}).tables
    ctx = ArnContext("aws", "123456789012", "us-east-1", "ddb-blueprint", "prod", "shop-prod-catalogue")
    [statement] = permission_policy("catalogueReader", access, tables, ctx)["Statement"]
    assert statement["Resource"] == "arn:aws:dax:us-east-1:123456789012:cache/shop-prod-catalogue"
    assert statement["Action"] == sorted([
        "dax:BatchGetItem", "dax:GetItem", "dax:Query",
        "dax:DefineAttributeList", "dax:DefineAttributeListId", "dax:DefineKeySchema", "dax:Endpoints"])
    assert "Condition" not in statement  # nothing DAX would ignore


def test_a_grant_without_via_still_reads_dynamodb_directly():
    direct = {k: v for k, v in GRANT.items() if k != "via"}
    access = AccessModel.model_validate({"principals": {"catalogueReader": READER}, "grants": {"catalogueDirect": direct}})
    tables = Tables.model_validate({"tables": PROJECT["ddb-blueprint:tables"]["value"]}).tables
    ctx = ArnContext("aws", "123456789012", "us-east-1", "ddb-blueprint", "prod")
    actions = {a for s in permission_policy("catalogueReader", access, tables, ctx)["Statement"] for a in s["Action"]}
    assert "dynamodb:GetItem" in actions and not any(a.startswith("dax:") for a in actions)
