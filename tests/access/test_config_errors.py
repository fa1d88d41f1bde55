"""Broken grants are config errors before any policy is written (GOTCHAS I1-I5)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tests.config.test_config_errors import BASE, only, problems

REPO = Path(__file__).resolve().parents[2]
ACCESS = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:access"]["value"]


def access_problems(scratch, change, stack_config=None):
    access = copy.deepcopy(ACCESS)
    change(access)
    scratch.set_model("access", access)
    scratch.set_model("api", {})  # these tests are about the access model alone
    functions = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:functions"]["value"]
    scratch.set_model("functions", {"topics": functions["topics"], "functions": {}})
    return problems(scratch, stack_config or BASE)


def test_reference_access_model_is_valid(scratch):
    assert access_problems(scratch, lambda a: None) == []


def test_scan_in_a_row_scoped_grant_is_rejected(scratch):  # I3
    def change(a):
        a["grants"]["shopperCart"]["actions"] = ["dynamodb:Scan"]
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCart.rowScope",
         "dynamodb:Scan", "whole table", file="Pulumi.yaml")


def test_partiql_in_a_row_scoped_grant_is_rejected(scratch):  # I3
    def change(a):
        a["grants"]["shopperCart"]["actions"] = ["dynamodb:PartiQLSelect"]
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCart.rowScope", "PartiQLSelect",
         file="Pulumi.yaml")


def test_row_scoped_index_must_be_partitioned_by_the_owner(scratch):  # I4
    def change(a):
        a["grants"]["shopperCatalogue"]["rowScope"] = "owner"
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCatalogue.indexes",
         "index 'byCategory' is partitioned by category", "GOTCHAS I4", file="Pulumi.yaml")


def test_stream_grant_cannot_be_row_scoped(scratch):  # I2
    def change(a):
        a["grants"]["shopperOrders"]["access"] = ["read", "stream"]
        a["grants"]["shopperOrders"]["attributes"] = []
    found = access_problems(scratch, change)
    assert any("stream actions ignore dynamodb:LeadingKeys" in p.message for p in found), found


def test_service_principal_cannot_be_row_scoped(scratch):
    def change(a):
        a["grants"]["orderPlacementCart"]["rowScope"] = "owner"
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.orderPlacementCart.rowScope",
         "service principals have no per-caller identity", file="Pulumi.yaml")


def test_attribute_scoped_grant_cannot_write_whole_items(scratch):  # I5
    def change(a):
        a["grants"]["shopperOrders"]["access"] = ["read", "write"]
        a["grants"]["shopperOrders"]["directWrites"] = True  # declared: only the I5 rule remains
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperOrders.attributes",
         "BatchWriteItem, dynamodb:DeleteItem, dynamodb:PutItem", file="Pulumi.yaml")


def test_grant_to_an_unknown_principal_or_table(scratch):
    def change(a):
        a["grants"]["shopperCart"]["principal"] = "shoper"
        a["grants"]["shopperOrders"]["table"] = "order"
    found = access_problems(scratch, change)
    paths = {p.path: p.message for p in found}
    assert "no principal 'shoper'" in paths["ddb-blueprint:access.grants.shopperCart.principal"]
    assert "no table 'order'" in paths["ddb-blueprint:access.grants.shopperOrders.table"]


def test_undeclared_index_is_rejected(scratch):
    def change(a):
        a["grants"]["shopperCart"]["indexes"] = ["byPrice"]
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCart.indexes", "no index 'byPrice'",
         file="Pulumi.yaml")


def test_stream_access_needs_a_table_stream(scratch):
    def change(a):
        a["grants"]["productEventsStream"]["table"] = "sessions"
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.productEventsStream.access",
         "has no stream", file="Pulumi.yaml")


def test_wildcard_or_unknown_actions_are_rejected(scratch):
    def change(a):
        a["grants"]["orderPlacementOrder"]["actions"] = ["dynamodb:*"]
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.orderPlacementOrder.actions",
         "not a DynamoDB item action", file="Pulumi.yaml")


def test_a_grant_needs_a_reason(scratch):
    def change(a):
        del a["grants"]["shopperCart"]["reason"]
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCart.reason", "is required",
         file="Pulumi.yaml")


def test_only_one_cognito_user_principal(scratch):
    def change(a):
        a["principals"]["admin"] = {"kind": "cognitoUser"}
        a["grants"]["adminCatalogue"] = {"principal": "admin", "table": "products", "access": ["read"], "reason": "r"}
    only(access_problems(scratch, change), "ddb-blueprint:access.principals", "at most one cognitoUser",
         file="Pulumi.yaml")


def test_principal_without_grants_is_rejected(scratch):
    def change(a):
        a["principals"]["auditor"] = {"kind": "service", "service": "lambda.amazonaws.com"}
    only(access_problems(scratch, change), "ddb-blueprint:access.principals.auditor", "has no grant", file="Pulumi.yaml")


def test_unsupported_service_is_rejected(scratch):
    def change(a):
        a["principals"]["productEvents"]["service"] = "lambda.amazonaws.com.evil"
    only(access_problems(scratch, change), "ddb-blueprint:access.principals.productEvents.service", "must be one of",
         file="Pulumi.yaml")


def test_tenant_role_needs_a_tag_and_trusted_principals(scratch):
    def change(a):
        a["principals"]["partner"] = {"kind": "tenantRole"}
        a["grants"]["partnerSessions"] = {"principal": "partner", "table": "sessions", "access": ["read"],
                                          "rowScope": "owner", "reason": "r"}
    found = access_problems(scratch, change)
    assert {p.path for p in found} == {"ddb-blueprint:access.principals.partner.tagKey",
                                        "ddb-blueprint:access.principals.partner",
                                        # without a tag there is no identity to scope rows by
                                        "ddb-blueprint:access.grants.partnerSessions.rowScope"}


def test_tenant_role_with_tag_and_trust_is_valid(scratch):
    def change(a):
        a["principals"]["partner"] = {"kind": "tenantRole", "tagKey": "tenantId"}
        a["grants"]["partnerSessions"] = {"principal": "partner", "table": "sessions", "access": ["read"],
                                          "rowScope": "owner", "reason": "r"}
    trust = {**BASE, "ddb-blueprint:principalTrust": {"partner": ["arn:aws:iam::123456789012:role/PartnerGateway"]}}
    assert access_problems(scratch, change, trust) == []


def test_principal_trust_for_a_non_tenant_principal_is_rejected(scratch):
    found = access_problems(scratch, lambda a: None,
                            {**BASE, "ddb-blueprint:principalTrust": {"shopper": ["arn:aws:iam::123456789012:role/X"]}})
    only(found, "ddb-blueprint:principalTrust.shopper", "tenantRole principals")


def test_existing_user_pool_ids_are_checked(scratch):
    found = problems(scratch, {**BASE, "ddb-blueprint:existingUserPool": {"userPoolId": "not a pool"}})
    paths = {p.path for p in found}
    assert paths == {"ddb-blueprint:existingUserPool.userPoolId", "ddb-blueprint:existingUserPool.userPoolClientId"}


def test_stack_file_may_not_redefine_access(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:access": ACCESS}), "ddb-blueprint:access", "declared once")


def test_a_policy_too_large_for_iam_is_a_config_error(scratch):
    def change(a):
        for i in range(60):
            a["grants"][f"catalogue{i}"] = {"principal": "shopper", "table": "products", "access": ["read"],
                                            "indexes": ["byCategory"], "reason": "r"}
    only(access_problems(scratch, change), "ddb-blueprint:access.principals.shopper", "IAM allows 10240",
         file="Pulumi.yaml")


def test_app_user_writes_need_an_explicit_direct_writes(scratch):
    def change(a):
        a["grants"]["shopperCart"]["access"] = ["read", "write"]
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCart",
         "bypasses the API's validation", "directWrites: true", file="Pulumi.yaml")


def test_an_explicit_write_action_for_app_users_also_needs_direct_writes(scratch):
    def change(a):
        a["grants"]["shopperCart"]["actions"] = ["dynamodb:UpdateItem"]
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCart", "dynamodb:UpdateItem",
         "directWrites", file="Pulumi.yaml")


def test_declared_direct_writes_are_accepted(scratch):
    def change(a):
        a["grants"]["shopperCart"]["access"] = ["read", "write"]
        a["grants"]["shopperCart"]["directWrites"] = True
    assert access_problems(scratch, change) == []


def test_direct_writes_without_a_write_is_rejected(scratch):
    def change(a):
        a["grants"]["shopperCart"]["directWrites"] = True
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.shopperCart.directWrites", "no write action",
         file="Pulumi.yaml")


def test_direct_writes_on_a_service_grant_is_rejected(scratch):
    def change(a):
        a["grants"]["orderPlacementOrder"]["directWrites"] = True
    only(access_problems(scratch, change), "ddb-blueprint:access.grants.orderPlacementOrder.directWrites",
         "cognitoUser principal only", file="Pulumi.yaml")
