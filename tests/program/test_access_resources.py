"""Roles, policies and Cognito in each stack's plan: what the access model asks for, nothing more."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stacks.offline.mockrun import UNKNOWN
from stacks.offline.preview import preview

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def plans(reference_preview) -> dict[str, dict]:
    return {stack: copy.deepcopy(reference_preview(stack).plan) for stack in STACKS}


def of_type(plan: dict, type_: str) -> dict[str, dict]:
    return {r["name"]: r for r in plan["resources"] if r["type"] == type_}


def permissions(plan: dict, principal: str) -> dict:
    return json.loads(of_type(plan, "aws:iam/rolePolicy:RolePolicy")[f"{principal}-role-access"]["inputs"]["policy"])


@pytest.mark.parametrize("stack", STACKS)
def test_one_role_per_principal_with_a_deterministic_name(plans, stack):
    # DAX's own roles (service, flow logs) are not principals: they are checked in test_dax_resources.
    roles = {n: r for n, r in of_type(plans[stack], "aws:iam/role:Role").items() if not n.startswith("dax-")}
    # Stacks with DAX add one principal per product read route served through it (stacks/dax/reader.py).
    readers = [] if stack == "dev" else ["getProductViaDax-role", "listProductsViaDax-role"]
    assert sorted(roles) == sorted(["api-integration-role", "orderPlacement-role", "orderStats-role", "productEvents-role",
                                    "shopper-role", *readers])
    assert roles["shopper-role"]["inputs"]["name"] == f"ddb-blueprint-{stack}-shopper"


@pytest.mark.parametrize("stack", STACKS)
def test_permission_policies_are_complete_at_preview_time(plans, stack):
    # Table, index and stream ARNs are built from names; the key is named by its alias.
    # (The separate invoke-iam-routes policy names the API, whose id AWS assigns: known after apply.)
    for name, policy in of_type(plans[stack], "aws:iam/rolePolicy:RolePolicy").items():
        if name.endswith("-role-access"):
            assert UNKNOWN not in policy["inputs"]["policy"], policy["urn"]


def test_every_statement_has_a_sid_naming_its_grant(plans):
    for principal in ("shopper", "orderPlacement", "productEvents", "orderStats"):
        for statement in permissions(plans["dev"], principal)["Statement"]:
            assert statement["Sid"].startswith(principal[0].upper() + principal[1:]), statement["Sid"]


def test_row_scoped_cart_statement_uses_leading_keys_and_the_null_guard(plans):  # I1, I3
    cart = next(s for s in permissions(plans["prod"], "shopper")["Statement"] if s["Sid"] == "ShopperCartItems")
    assert cart["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/userSub}"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    # carts is a global table: the same statement covers each region's copy (T9)
    assert cart["Resource"] == [
        f"arn:aws:dynamodb:{region}:123456789012:table/ddb-blueprint-prod-carts{suffix}"
        for region in ("us-east-1", "us-west-2", "eu-west-1") for suffix in ("", "/index/byAddedAt")
    ]
    assert "dynamodb:Scan" not in cart["Action"]


def test_attribute_scope_includes_key_attributes_and_limits_select(plans):  # I5
    orders = next(s for s in permissions(plans["prod"], "shopper")["Statement"] if s["Sid"] == "ShopperOrdersItems")
    attributes = orders["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert {"userId", "orderId"} <= set(attributes) and "paymentToken" not in attributes
    assert orders["Condition"]["StringEqualsIfExists"] == {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    assert set(orders["Action"]) == {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"}


def test_stream_consumer_gets_stream_actions_list_streams_and_decrypt_only(plans):  # L3, K7
    statements = {s["Sid"]: s for s in permissions(plans["prod"], "productEvents")["Statement"]}
    assert [r.split(":")[3] for r in statements["ProductEventsStreamStream"]["Resource"]] == ["us-east-1", "us-west-2", "eu-west-1"]
    assert all(r.endswith("table/ddb-blueprint-prod-products/stream/*") for r in statements["ProductEventsStreamStream"]["Resource"])
    assert statements["ProductEventsStreamListStreams"] == {
        "Sid": "ProductEventsStreamListStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"}
    assert statements["ProductEventsStreamTableKey"]["Action"] == ["kms:Decrypt"]
    assert {s for s in statements if s.startswith("ProductEventsStream")} == {
        "ProductEventsStreamStream", "ProductEventsStreamListStreams", "ProductEventsStreamTableKey"}
    publish = statements["ProductEventsPublishPublish"]
    assert publish["Action"] == ["sns:Publish"] and publish["Resource"].endswith(":ddb-blueprint-prod-productChanges")
    assert statements["ProductEventsPublishTopicKey"]["Condition"]["StringEquals"] == {"kms:ViaService": "sns.us-east-1.amazonaws.com"}


def test_key_use_is_only_through_dynamodb_on_the_stack_alias(plans):  # K7
    key = next(s for s in permissions(plans["dev"], "orderPlacement")["Statement"] if s["Sid"] == "OrderPlacementOrderTableKey")
    assert key["Resource"] == "arn:aws:kms:us-east-1:123456789012:key/*"
    assert key["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/ddb-blueprint/dev/tables"]},
        "StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"},
    }
    # staging's orders are global: the key of each region, each only through DynamoDB there (K1)
    key = next(s for s in permissions(plans["staging"], "orderPlacement")["Statement"] if s["Sid"] == "OrderPlacementOrderTableKey")
    assert key["Resource"] == ["arn:aws:kms:us-east-2:123456789012:key/*", "arn:aws:kms:us-west-2:123456789012:key/*"]
    assert key["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/ddb-blueprint/staging/tables"]},
        "StringEquals": {"kms:ViaService": ["dynamodb.us-east-2.amazonaws.com", "dynamodb.us-west-2.amazonaws.com"]},
    }


def test_service_roles_trust_exactly_one_service(plans):  # I8
    role = of_type(plans["dev"], "aws:iam/role:Role")["orderStats-role"]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"} and statement["Action"] == "sts:AssumeRole"


def test_cognito_role_trusts_authenticated_identities_of_this_pool_only(plans):  # I7
    component = of_type(plans["dev"], "ddb-blueprint:index:AccessRole")["shopper-role"]
    [statement] = component["outputs"]["trustPolicy"]["Statement"]
    assert statement["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"cognito-identity.amazonaws.com:aud": UNKNOWN},  # the pool id, known after apply
        "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
    }
    role = of_type(plans["dev"], "aws:iam/role:Role")["shopper-role"]
    assert set(role["propertyDependencies"]["assumeRolePolicy"]) >= {
        r["urn"] for r in plans["dev"]["resources"] if r["type"] == "aws:cognito/identityPool:IdentityPool"}


def test_identity_pool_refuses_unauthenticated_identities_and_attaches_only_the_authenticated_role(plans):  # I7
    pool = of_type(plans["prod"], "aws:cognito/identityPool:IdentityPool")["app-identity-identities"]["inputs"]
    assert pool["allowUnauthenticatedIdentities"] is False and pool["allowClassicFlow"] is False
    assert pool["cognitoIdentityProviders"][0]["serverSideTokenCheck"] is True
    attachment = of_type(plans["prod"], "aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment")["app-identity-roles"]
    assert list(attachment["inputs"]["roles"]) == ["authenticated"]


def test_user_sub_session_tag_is_mapped_from_the_token(plans):
    tag = of_type(plans["dev"], "aws:cognito/identityPoolProviderPrincipalTag:IdentityPoolProviderPrincipalTag")
    assert tag["app-identity-user-sub-tag"]["inputs"]["principalTags"] == {"userSub": "sub"}


def test_user_pool_is_protected_like_the_tables_outside_dev(plans):
    for stack, protected in (("dev", False), ("prod", True)):
        pool = of_type(plans[stack], "aws:cognito/userPool:UserPool")["app-identity-users"]
        assert pool["options"]["protect"] is protected
        assert pool["inputs"]["deletionProtection"] == ("ACTIVE" if protected else "INACTIVE")


def test_outputs_give_app_teams_roles_and_cognito_ids(plans):
    outputs = plans["prod"]["outputs"]
    assert sorted(outputs["roles"]) == ["getProductViaDax", "listProductsViaDax", "orderPlacement", "orderStats", "productEvents", "shopper"]
    assert set(outputs["cognito"]) == {"userPoolId", "userPoolClientId", "identityPoolId"}


def test_existing_user_pool_is_used_instead_of_creating_one(scratch, tmp_path):
    scratch.write_stack("qa", {"aws:region": "eu-west-1", "ddb-blueprint:existingUserPool": {
        "userPoolId": "eu-west-1_AbCdEf123", "userPoolClientId": "1a2b3c4d5e6f7g8h9i0j"}})
    plan = preview(scratch.root, "qa", tmp_path).plan
    assert not of_type(plan, "aws:cognito/userPool:UserPool")
    pool = of_type(plan, "aws:cognito/identityPool:IdentityPool")["app-identity-identities"]["inputs"]
    assert pool["cognitoIdentityProviders"][0] == {
        "clientId": "1a2b3c4d5e6f7g8h9i0j",
        "providerName": "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
        "serverSideTokenCheck": True,
    }
    assert plan["outputs"]["cognito"]["userPoolId"] == "eu-west-1_AbCdEf123"
