"""Broken function declarations are located config errors (paths under ddb-blueprint:functions)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tests.config.test_config_errors import BASE, only, problems

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:functions"]["value"]
WHERE = "ddb-blueprint:functions.functions.placeOrder.environment.CART_LINE_SCHEMA"


def function_problems(scratch, change):
    functions = copy.deepcopy(FUNCTIONS)
    change(functions["functions"]["placeOrder"]["environment"])
    scratch.set_model("functions", functions)
    return problems(scratch, BASE)


def test_the_reference_functions_are_valid(scratch):
    assert function_problems(scratch, lambda env: None) == []


def test_item_schema_of_an_unknown_route_is_rejected(scratch):
    def change(env):
        env["CART_LINE_SCHEMA"] = "itemSchema.putCartLine"
    only(function_problems(scratch, change), WHERE, "no route 'putCartLine'", "putCartItem", file="Pulumi.yaml")


def test_item_schema_of_a_route_that_creates_nothing_is_rejected(scratch):
    def change(env):
        env["CART_LINE_SCHEMA"] = "itemSchema.patchCartItem"  # changes lines; its bounds are not a line's
    only(function_problems(scratch, change), WHERE, "creates no items", file="Pulumi.yaml")


def test_the_plan_hands_place_order_the_api_routes_bounds(reference_preview):
    """What `pulumi up` would set: CART_LINE_SCHEMA generated from the putCartItem route (one declaration)."""
    import json

    from stacks.api.model import Route
    from stacks.api.spec import stored_item_schema_json
    plan = reference_preview("prod").plan
    [function] = [r for r in plan["resources"] if r["type"] == "aws:lambda/function:Function"
                  and r["inputs"]["name"].endswith("-placeOrder")]
    value = function["inputs"]["environment"]["variables"]["CART_LINE_SCHEMA"]
    routes = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:api"]["value"]["routes"]
    assert value == stored_item_schema_json(Route.model_validate(routes["putCartItem"]))
    assert json.loads(value)["quantity"] == {"maximum": 99, "minimum": 1, "required": True, "type": "integer"}


def test_each_function_role_may_decrypt_its_environment_only_through_lambda():  # L9
    from stacks.functions.component import runtime_policy

    policy = runtime_policy("aws", "us-east-1", "123456789012", "placeOrder", "/aws/lambda/x", None,
                            "alias/ddb-blueprint/prod/ops")
    [statement] = [s for s in policy["Statement"] if s["Sid"] == "PlaceOrderDecryptsItsEnvironment"]
    assert statement["Action"] == ["kms:Decrypt"]  # never Encrypt: the function only reads its variables
    assert statement["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/ddb-blueprint/prod/ops"]},
        "StringEquals": {"kms:ViaService": "lambda.us-east-1.amazonaws.com"}}


def test_the_ops_key_lets_lambda_encrypt_environments_for_this_account_only():  # L9
    from stacks.keys.policy import ops_key_policy

    statements = {s["Sid"]: s for s in ops_key_policy("aws", "123456789012", "us-east-1", [])["Statement"]}
    use = statements["LambdaEncryptsFunctionEnvironmentInThisAccount"]
    assert use["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}  # IAM must agree as well
    assert use["Condition"]["StringEquals"] == {"kms:ViaService": "lambda.us-east-1.amazonaws.com",
                                                "kms:CallerAccount": "123456789012"}
    grant = statements["LambdaGrantsFunctionRolesDecryption"]
    assert grant["Action"] == ["kms:CreateGrant"] and grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


def test_route_functions_get_their_body_schema_in_the_plan(reference_preview):
    import json

    plan = reference_preview("dev").plan
    functions = {r["inputs"]["name"].rsplit("-", 1)[-1]: r for r in plan["resources"]
                 if r["type"] == "aws:lambda/function:Function"}
    body = json.loads(functions["placeOrder"]["inputs"]["environment"]["variables"]["ROUTE_BODY_SCHEMA"])
    assert body == {"note": {"maxLength": FUNCTIONS["functions"]["placeOrder"]["route"]["body"]["note"]["maxLength"],
                             "required": False, "type": "string"}}
    assert "ROUTE_BODY_SCHEMA" not in functions["orderStats"]["inputs"]["environment"]["variables"]  # stream-invoked


def test_stored_item_schema_takes_every_bound_from_the_route():
    from stacks.api.model import Route
    from stacks.api.spec import creates_items, stored_item_schema

    route = Route.model_validate({
        "method": "PUT", "path": "/votes/{id}", "table": "votes", "operation": "UpdateItem",
        "key": {"userId": "identity", "id": "path.id"}, "condition": "notExists",
        "body": {"score": {"type": "integer", "required": True, "minimum": 1, "maximum": 5},
                 "tag": {"type": "string", "maxLength": 20, "pattern": "^[a-z]+$"}},
        "set": {"score": "body.score", "tag": "body.tag", "requestId": "server.requestId", "at": "server.now"}})
    assert creates_items(route)
    assert stored_item_schema(route) == {
        "at": {"maxSecondsFromNow": 0, "minimum": 0, "required": True, "type": "integer"},
        "requestId": {"required": True, "type": "string"},
        "score": {"maximum": 5, "minimum": 1, "required": True, "type": "integer"},
        "tag": {"maxLength": 20, "pattern": "^[a-z]+$", "required": False, "type": "string"},
    }
    assert not creates_items(route.model_copy(update={"condition": "exists"}))
