"""Policy builders of the access model (pure)."""

from __future__ import annotations

from stacks.access.policies import (
    ArnContext,
    grant_actions,
    grant_statements,
    owner_variable,
    pascal,
    permission_policy,
    trust_policy,
)
from stacks.access.model import AccessModel, Grant, Principal
from stacks.tables.model import TableModel

CTX = ArnContext("aws", "111122223333", "eu-west-1", "proj", "qa")
TABLE = TableModel.model_validate({
    "attributes": {"tenantId": "S", "docId": "S", "kind": "S"},
    "partitionKey": "tenantId", "sortKey": "docId",
    "globalIndexes": {"byKind": {"partitionKey": "kind"}},
    "stream": "NEW_IMAGE",
})
TENANT = Principal(kind="tenantRole", tagKey="tenantId")
SERVICE = Principal(kind="service", service="lambda.amazonaws.com")


def grant(**fields) -> Grant:
    return Grant.model_validate({"principal": "p", "table": "docs", "reason": "because", **fields})


def test_access_levels_expand_to_exact_actions_without_scan():
    assert grant_actions(grant(access=["read"])) == ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"]
    write = grant_actions(grant(access=["write"]))
    assert "dynamodb:ConditionCheckItem" in write and "dynamodb:Scan" not in write  # transactions need it (I2)
    assert grant_actions(grant(access=["stream"])) == [
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]


def test_explicit_actions_are_granted_as_listed():
    assert grant_actions(grant(actions=["dynamodb:UpdateItem"])) == ["dynamodb:UpdateItem"]


def test_tenant_role_rows_are_scoped_by_its_session_tag():  # I1, I3
    [items, key] = grant_statements("tenantDocs", grant(access=["read"], rowScope="owner"), TENANT, TABLE, CTX)
    assert items["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/tenantId}"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    assert items["Resource"] == ["arn:aws:dynamodb:eu-west-1:111122223333:table/proj-qa-docs"]
    assert key["Sid"] == "TenantDocsTableKey" and key["Action"] == ["kms:Decrypt"]


def test_index_resources_only_for_declared_indexes():
    [items, _] = grant_statements("g", grant(access=["read"], indexes=["byKind"]), SERVICE, TABLE, CTX)
    assert items["Resource"][1] == "arn:aws:dynamodb:eu-west-1:111122223333:table/proj-qa-docs/index/byKind"
    [items, _] = grant_statements("g", grant(access=["read"]), SERVICE, TABLE, CTX)
    assert len(items["Resource"]) == 1


def test_attribute_scope_adds_keys_select_and_return_values():  # I5
    [items, _] = grant_statements("g", grant(actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], attributes=["title"]),
                                  SERVICE, TABLE, CTX)
    assert items["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"] == ["docId", "tenantId", "title"]
    assert items["Condition"]["StringEqualsIfExists"] == {
        "dynamodb:Select": "SPECIFIC_ATTRIBUTES", "dynamodb:ReturnValues": ["NONE", "UPDATED_NEW", "UPDATED_OLD"]}


def test_writes_may_encrypt_reads_only_decrypt():  # K7
    [_, key] = grant_statements("g", grant(access=["write"]), SERVICE, TABLE, CTX)
    assert key["Action"] == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    assert key["Condition"]["StringEquals"] == {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}
    assert key["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": ["alias/proj/qa/tables"]}


def test_cognito_owner_identity_choices():  # I7
    assert owner_variable(Principal(kind="cognitoUser")) == "${aws:PrincipalTag/userSub}"
    assert owner_variable(Principal(kind="cognitoUser", ownerIdentity="identityId")) == "${cognito-identity.amazonaws.com:sub}"
    assert owner_variable(SERVICE) is None


def test_cognito_trust_requires_pool_and_authenticated_amr_and_tags_only_when_mapped():  # I7
    trust = trust_policy("app", Principal(kind="cognitoUser", ownerIdentity="identityId"), CTX, "eu-west-1:pool")
    [s] = trust["Statement"]
    assert s["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert s["Condition"]["StringEquals"] == {"cognito-identity.amazonaws.com:aud": "eu-west-1:pool"}
    assert s["Condition"]["ForAnyValue:StringLike"] == {"cognito-identity.amazonaws.com:amr": "authenticated"}
    [tagged] = trust_policy("app", Principal(kind="cognitoUser"), CTX, "eu-west-1:pool")["Statement"]
    assert tagged["Action"] == ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]


def test_service_trust_adds_source_account_only_where_the_service_supports_it():  # I8, L10
    [lam] = trust_policy("f", SERVICE, CTX)["Statement"]
    assert lam["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert lam["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    [ecs] = trust_policy("t", Principal(kind="service", service="ecs-tasks.amazonaws.com"), CTX)["Statement"]
    assert ecs["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    # API Gateway documents no such keys for integration credentials: a condition it never sends would
    # deny every route, so none is added (I8); the review says why.
    [apigw] = trust_policy("a", Principal(kind="service", service="apigateway.amazonaws.com"), CTX)["Statement"]
    assert "Condition" not in apigw


def test_every_trusted_service_has_a_confused_deputy_note_for_the_review():  # I8
    from stacks.access.policies import SERVICES, TRUST_CONDITION_NOTES
    assert set(TRUST_CONDITION_NOTES) == set(SERVICES)


def test_tenant_trust_requires_exactly_the_tenant_session_tag():
    [s] = trust_policy("t", TENANT, CTX, trusted=["arn:aws:iam::111122223333:role/Gateway"])["Statement"]
    assert s["Principal"] == {"AWS": ["arn:aws:iam::111122223333:role/Gateway"]}
    assert s["Condition"] == {"StringLike": {"aws:RequestTag/tenantId": "?*"},
                              "ForAllValues:StringEquals": {"aws:TagKeys": ["tenantId"]}}


def test_policy_collects_every_grant_of_the_principal_only():
    access = AccessModel.model_validate({
        "principals": {"p": {"kind": "service", "service": "lambda.amazonaws.com"},
                       "q": {"kind": "service", "service": "lambda.amazonaws.com"}},
        "grants": {"pRead": {"principal": "p", "table": "docs", "access": ["read"], "reason": "r"},
                   "pStream": {"principal": "p", "table": "docs", "access": ["stream"], "reason": "r"},
                   "qWrite": {"principal": "q", "table": "docs", "access": ["write"], "reason": "r"}}})
    policy = permission_policy("p", access, {"docs": TABLE}, CTX)
    assert policy["Version"] == "2012-10-17"  # I6
    assert [s["Sid"] for s in policy["Statement"]] == [
        "PReadItems", "PReadTableKey", "PStreamStream", "PStreamListStreams", "PStreamTableKey"]


def test_sids_are_alphanumeric_pascal_case():
    assert pascal("shopper-cart_v2") == "ShopperCartV2"
