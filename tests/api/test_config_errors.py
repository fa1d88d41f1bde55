"""Unsafe or inconsistent routes are config errors (GOTCHAS A3, A9)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tests.config.test_config_errors import BASE, only, problems

REPO = Path(__file__).resolve().parents[2]
API = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:api"]["value"]


def api_problems(scratch, change, stack_config=None):
    api = copy.deepcopy(API)
    change(api["routes"])
    scratch.set_model("api", api)
    return problems(scratch, stack_config or BASE)


def at(route, suffix=""):
    return f"ddb-blueprint:api.routes.{route}{suffix}"


def test_reference_api_is_valid(scratch):
    assert api_problems(scratch, lambda r: None) == []


def test_partition_key_of_a_user_owned_table_must_come_from_identity(scratch):  # A9
    def change(r):
        r["getCart"]["path"] = "/carts/{userId}"
        r["getCart"]["key"] = {"userId": "path.userId"}
    only(api_problems(scratch, change), at("getCart", ".key"), "must come from `identity`", file="Pulumi.yaml")


def test_query_needs_exactly_the_partition_key(scratch):
    def change(r):
        r["getCart"]["key"] = {"userId": "identity", "productId": "query.productId"}
    only(api_problems(scratch, change), at("getCart", ".key"), "exactly the partition key: userId", file="Pulumi.yaml")


def test_get_item_needs_the_full_primary_key(scratch):
    def change(r):
        r["getOrder"]["key"] = {"userId": "identity"}
        r["getOrder"]["path"] = "/orders/latest"
    only(api_problems(scratch, change), at("getOrder", ".key"), "full primary key: userId, orderId", file="Pulumi.yaml")


def test_unknown_sources_and_undeclared_path_parameters(scratch):
    def change(r):
        r["getProduct"]["key"] = {"productId": "path.id"}
    found = api_problems(scratch, change)
    assert {p.path for p in found} == {at("getProduct", ".key.productId"), at("getProduct", ".path")}


def test_source_syntax_is_checked(scratch):
    def change(r):
        r["putCartItem"]["set"]["addedAt"] = "server.yesterday"
    only(api_problems(scratch, change), at("putCartItem", ".set.addedAt"), "is not a source", file="Pulumi.yaml")


def test_body_fields_must_be_used(scratch):
    def change(r):
        r["putCartItem"]["body"]["coupon"] = {"type": "string", "maxLength": 20}
    only(api_problems(scratch, change), at("putCartItem", ".body.coupon"), "never stored", file="Pulumi.yaml")


def test_string_body_fields_must_be_bounded(scratch):
    def change(r):
        r["putCartItem"]["body"]["note"] = {"type": "string"}
    only(api_problems(scratch, change), at("putCartItem", ".body.note"), "maxLength", file="Pulumi.yaml")


def test_a_path_parameter_must_feed_a_key_part(scratch):
    def change(r):
        r["getCart"]["table"] = "carts"
        r["getCart"]["index"] = "byAddedAt"
        r["getCart"]["key"] = {"userId": "identity"}
        r["putCartItem"]["key"] = {"userId": "identity", "productId": "body.note"}
    found = api_problems(scratch, change)
    assert any(p.path.endswith("putCartItem.path") for p in found)  # productId path parameter now unused


def test_add_needs_a_numeric_body_field(scratch):
    def change(r):
        r["patchCartItem"]["body"]["delta"] = {"type": "string", "maxLength": 3, "required": True}
    only(api_problems(scratch, change), at("patchCartItem", ".add.quantity"), "numeric body field", file="Pulumi.yaml")


def test_iam_route_needs_a_grant_the_role_has(scratch):
    def change(r):
        r["deleteCartItem"]["auth"] = "iam"
        r["deleteCartItem"]["table"] = "orders"
        r["deleteCartItem"]["key"] = {"userId": "identity", "orderId": "path.productId"}
    only(api_problems(scratch, change), at("deleteCartItem", ".auth"), "no grant allowing dynamodb:DeleteItem",
         file="Pulumi.yaml")


def test_iam_route_response_must_stay_within_the_role_attributes(scratch):  # I5
    def change(r):
        r["getOrder"]["response"]["paymentToken"] = {"type": "string"}
    only(api_problems(scratch, change), at("getOrder", ".response.paymentToken"), "outside the attributes",
         file="Pulumi.yaml")


def test_duplicate_method_and_path(scratch):
    def change(r):
        r["getProductAgain"] = copy.deepcopy(r["getProduct"])
    found = api_problems(scratch, change)
    assert any("is also route" in p.message for p in found)


def test_reads_use_get_and_writes_carry_no_query_values(scratch):
    def change(r):
        r["getProduct"]["method"] = "POST"
    only(api_problems(scratch, change), at("getProduct", ".method"), "use GET", file="Pulumi.yaml")


def test_one_cors_origin_exact_and_no_wildcard(scratch):
    found = api_problems(scratch, lambda r: None, {**BASE, "ddb-blueprint:apiCorsOrigins": ["https://a.example", "https://b.example"]})
    only(found, "ddb-blueprint:apiCorsOrigins", "one origin per stack")
    found = api_problems(scratch, lambda r: None, {**BASE, "ddb-blueprint:apiCorsOrigins": ["https://*.example"]})
    only(found, "ddb-blueprint:apiCorsOrigins", "no wildcards")


def test_log_retention_must_be_a_cloudwatch_value(scratch):
    only(api_problems(scratch, lambda r: None, {**BASE, "ddb-blueprint:apiLogRetentionDays": 45}),
         "ddb-blueprint:apiLogRetentionDays", "retention values")


def test_waf_acl_must_be_a_regional_web_acl_arn(scratch):
    only(api_problems(scratch, lambda r: None, {**BASE, "ddb-blueprint:apiWafAclArn": "arn:aws:s3:::bucket"}),
         "ddb-blueprint:apiWafAclArn", "regional WAFv2 web ACL")


def test_put_item_cannot_promise_an_echo(scratch):  # A10: nothing in the response to echo from
    def change(r):
        route = r["putCartItem"]
        route["operation"] = "PutItem"
        route["item"] = route.pop("set")
    only(api_problems(scratch, change), at("putCartItem", ".response"), "PutItem answers 201 without a body",
         "condition: notExists", file="Pulumi.yaml")


def test_a_put_item_without_response_is_accepted(scratch):
    def change(r):
        route = r["putCartItem"]
        route["operation"] = "PutItem"
        route["item"] = route.pop("set")
        route.pop("response")
    assert api_problems(scratch, change) == []


def test_bounds_on_a_create_only_write_are_rejected(scratch):
    def change(r):
        r["patchCartItem"]["condition"] = "notExists"
    found = api_problems(scratch, change)
    assert {p.path for p in found} == {"ddb-blueprint:api.routes.patchCartItem.keepAtLeast",
                                       "ddb-blueprint:api.routes.patchCartItem.keepAtMost"}, found


def test_keep_at_most_applies_to_added_attributes_and_not_below_the_floor(scratch):
    def change(r):
        r["patchCartItem"]["keepAtMost"] = {"quantity": 0, "addedAt": 5}
    found = {p.path: p.message for p in api_problems(scratch, change)}
    assert "applies to attributes in `add`" in found["ddb-blueprint:api.routes.patchCartItem.keepAtMost.addedAt"]
    assert "below keepAtLeast (1)" in found["ddb-blueprint:api.routes.patchCartItem.keepAtMost.quantity"]


def test_an_update_needs_one_value_that_is_always_set(scratch):
    def change(r):
        r["putCartItem"]["set"] = {"note": "body.note"}
        r["putCartItem"]["body"].pop("quantity")
        r["putCartItem"]["response"] = {"productId": {"type": "string"}}
    only(api_problems(scratch, change), at("putCartItem", ".set"), "always present", file="Pulumi.yaml")
