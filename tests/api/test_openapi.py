"""The OpenAPI document of the reference API: valid 3.0, complete, and faithful to the routes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from stacks.api.model import ApiModel, Route, path_parameters
from stacks.config.loader import load_config
from stacks.api.openapi import body_schema, error_statuses, openapi_document, openapi_json
from stacks.config.sources import cli_config, read_project, read_stack

REPO = Path(__file__).resolve().parents[2]
SERVER = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"
ORIGIN = "https://shop.example.com"


@pytest.fixture(scope="module")
def config():
    # Exactly as the program gets it: project values under the dev stack file, through the CLI's strings.
    project = read_project(REPO, "dev")
    stack = read_stack(REPO, "dev")
    return load_config(cli_config(project, stack), project, "dev", stack)


def make(config, **overrides) -> dict[str, Any]:
    args = {"title": "shop", "version": "1.0.0", "server_url": SERVER, "cors_origins": ()}
    args.update(overrides)
    return openapi_document(config.api, config.tables, **args)


@pytest.fixture(scope="module")
def doc(config) -> dict[str, Any]:
    return make(config)


def operation(doc: dict, config, route_id: str) -> dict:
    route = config.api.routes[route_id]
    return doc["paths"][route.path][route.method.lower()]


def resolve(doc: dict, node: Any) -> Any:
    """Inline every local $ref (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(doc, target)
        return {k: resolve(doc, v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(doc, v) for v in node]
    return node


def params(op: dict) -> dict[str, dict]:
    return {(p["in"], p["name"]): p for p in op.get("parameters", [])}


def success_schema(doc: dict, op: dict) -> dict:
    code = next(c for c in op["responses"] if c.startswith("2"))
    return resolve(doc, op["responses"][code]["content"]["application/json"]["schema"])


# --------------------------------------------------------------------------------------------
# Validity and completeness
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("server_url, origins", [(SERVER, ()), (None, ()), (SERVER, (ORIGIN,))])
def test_document_is_valid_openapi_3_0(config, server_url, origins):
    document = make(config, server_url=server_url, cors_origins=origins)
    assert document["openapi"] == "3.0.3"
    validate(document)  # openapi-spec-validator picks the 3.0 validator from `openapi`
    if server_url:
        assert document["servers"] == [{"url": server_url}]
    else:
        assert "servers" not in document


def test_info_comes_from_the_api(doc, config):
    assert doc["info"]["title"] == "shop"
    assert doc["info"]["version"] == "1.0.0"
    assert doc["info"]["description"].startswith(config.api.description)


def test_every_route_is_one_operation_with_its_method_path_and_id(doc, config):
    found = {
        op["operationId"]: (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert found == {rid: (r.method, r.path) for rid, r in config.api.routes.items()}
    assert len(found) == 9


def test_operations_are_tagged_by_table(doc, config):
    for route_id, route in config.api.routes.items():
        assert operation(doc, config, route_id)["tags"] == [route.table]
    assert [t["name"] for t in doc["tags"]] == ["carts", "orders", "productSales", "products"]
    assert doc["tags"][0]["description"] == config.tables["carts"].description


def test_path_parameters_are_declared_and_required(doc, config):
    for route_id, route in config.api.routes.items():
        declared = {name: p for (where, name), p in params(operation(doc, config, route_id)).items() if where == "path"}
        assert sorted(declared) == sorted(path_parameters(route.path)), route_id
        # API Gateway refuses a blank required parameter (A17): the document says so with minLength 1
        assert all(p["required"] is True and p["schema"] == {"minLength": 1, "type": "string"} for p in declared.values())


def test_list_products_query_parameters(doc, config):
    p = params(operation(doc, config, "listProducts"))
    assert p[("query", "category")]["required"] is True
    assert p[("query", "limit")]["required"] is False
    assert p[("query", "limit")]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert p[("query", "nextToken")]["required"] is False
    assert p[("query", "nextToken")]["schema"]["type"] == "string"
    # The other list routes have their own page sizes and take the partition key from identity.
    orders = params(operation(doc, config, "listOrders"))
    assert orders[("query", "limit")]["schema"]["maximum"] == 50
    assert set(orders) == {("query", "limit"), ("query", "nextToken")}


def test_identity_keys_never_appear_as_parameters(doc, config):
    for route_id, route in config.api.routes.items():
        names = {name for _, name in params(operation(doc, config, route_id))}
        for attribute, source in route.key.items():
            if source == "identity":
                assert attribute not in names, route_id


# --------------------------------------------------------------------------------------------
# Request bodies: one schema for the document and the API Gateway model
# --------------------------------------------------------------------------------------------


def test_put_cart_item_request_schema(doc, config):
    op = operation(doc, config, "putCartItem")
    assert op["requestBody"]["required"] is True
    schema = resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
    assert schema == body_schema(config.api.routes["putCartItem"])
    assert schema["type"] == "object"
    assert schema["required"] == ["quantity"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["quantity"] == {"type": "integer", "minimum": 1, "maximum": 99}
    assert schema["properties"]["note"]["type"] == "string"
    assert schema["properties"]["note"]["maxLength"] == 200


def test_routes_without_a_body_have_no_request_body(doc, config):
    for route_id, route in config.api.routes.items():
        assert ("requestBody" in operation(doc, config, route_id)) == bool(route.body), route_id


@pytest.mark.parametrize("route_id", ["putCartItem", "patchCartItem"])
def test_body_schemas_are_valid_draft_4(config, route_id):
    schema = body_schema(config.api.routes[route_id])
    Draft4Validator.check_schema(schema)
    assert "$schema" not in schema and "nullable" not in str(schema)


@pytest.mark.parametrize(
    "body, ok",
    [
        ({"quantity": 3, "note": "gift wrap"}, True),
        ({"quantity": 1}, True),
        ({"quantity": 99, "note": "x" * 200}, True),
        ({"quantity": 3, "price": 0}, False),  # extra field
        ({"quantity": "3"}, False),  # wrong type
        ({"quantity": True}, False),  # a boolean is not an integer
        ({"quantity": 2.5}, False),
        ({"note": "no quantity"}, False),  # missing required field
        ({"quantity": 0}, False),  # below minimum
        ({"quantity": 100}, False),  # above maximum
        ({"quantity": 1, "note": "x" * 201}, False),  # too long
        ({"quantity": 1, "note": None}, False),
        ([{"quantity": 1}], False),
    ],
)
def test_body_schema_accepts_and_rejects_like_api_gateway(config, body, ok):
    errors = list(Draft4Validator(body_schema(config.api.routes["putCartItem"])).iter_errors(body))
    assert (not errors) == ok, errors


def test_body_schema_carries_every_constraint_kind():
    route = Route.model_validate({
        "method": "POST", "path": "/things", "table": "t", "operation": "PutItem", "key": {"id": "body.id"},
        "body": {
            "id": {"type": "string", "required": True, "minLength": 3, "maxLength": 8, "pattern": "^[a-z]+$",
                   "description": "Lowercase id."},
            "weight": {"type": "number", "minimum": 0, "maximum": 10},
            "fragile": {"type": "boolean"},
        },
    })
    schema = body_schema(route)
    Draft4Validator.check_schema(schema)
    assert schema["properties"]["id"] == {
        "type": "string", "minLength": 3, "maxLength": 8, "pattern": "^[a-z]+$", "description": "Lowercase id.",
    }
    check = Draft4Validator(schema)
    assert check.is_valid({"id": "abc", "weight": 2.5, "fragile": False})
    assert not check.is_valid({"id": "ABC"})
    assert not check.is_valid({"id": "ab"})
    assert not check.is_valid({"id": "abc", "weight": 11})
    assert not check.is_valid({"id": "abc", "fragile": "yes"})


def test_a_body_without_required_fields_has_no_empty_required_list():
    route = Route.model_validate({
        "method": "PATCH", "path": "/x/{id}", "table": "t", "operation": "UpdateItem", "key": {"id": "path.id"},
        "body": {"n": {"type": "integer"}}, "add": {"n": "body.n"},
    })
    schema = body_schema(route)
    assert "required" not in schema  # draft 4 and OpenAPI 3.0 refuse required: []
    Draft4Validator.check_schema(schema)


# --------------------------------------------------------------------------------------------
# Security
# --------------------------------------------------------------------------------------------


def test_security_schemes(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["cognito"]["type"] == "apiKey"
    assert schemes["cognito"]["in"] == "header" and schemes["cognito"]["name"] == "Authorization"
    assert schemes["cognito"]["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert schemes["sigv4"]["type"] == "apiKey"
    assert schemes["sigv4"]["in"] == "header" and schemes["sigv4"]["name"] == "Authorization"
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_each_operation_uses_its_routes_auth(doc, config):
    for route_id in config.api.routes:
        expected = "sigv4" if route_id in ("listOrders", "getOrder") else "cognito"
        assert operation(doc, config, route_id)["security"] == [{expected: []}], route_id
    assert "security" not in doc  # no global default: each operation says which it uses


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


def test_get_order_response_has_its_lines_as_an_array_of_objects(doc, config):
    schema = success_schema(doc, operation(doc, config, "getOrder"))
    items = schema["properties"]["items"]
    assert items["type"] == "array"
    assert items["items"]["type"] == "object"
    assert items["items"]["properties"] == {
        "price": {"type": "number", "nullable": True},
        "productId": {"type": "string", "nullable": True},
        "quantity": {"type": "integer", "nullable": True},
    }
    assert schema["properties"]["total"] == {"type": "number", "nullable": True}


def test_success_statuses_and_shapes(doc, config):
    codes = {rid: sorted(c for c in operation(doc, config, rid)["responses"] if c.startswith("2"))
             for rid in config.api.routes}
    assert codes == {
        "getProduct": ["200"], "getProductSales": ["200"], "listProducts": ["200"], "getCart": ["200"], "putCartItem": ["201"],
        "patchCartItem": ["200"], "deleteCartItem": ["204"], "listOrders": ["200"], "getOrder": ["200"],
    }
    assert "content" not in operation(doc, config, "deleteCartItem")["responses"]["204"]
    created = success_schema(doc, operation(doc, config, "putCartItem"))
    # The stored line (UpdateItem create-only, ReturnValues ALL_NEW), nothing echoed from the request (A10).
    assert set(created["properties"]) == {"productId", "quantity", "addedAt", "note"}
    assert created["required"] == ["addedAt", "note", "productId", "quantity"]
    page = success_schema(doc, operation(doc, config, "listProducts"))
    assert page["required"] == ["items"]
    assert page["properties"]["nextToken"]["type"] == "string"
    assert set(page["properties"]["items"]["items"]["properties"]) == set(config.api.routes["listProducts"].response)


def test_example_answers_validate_against_the_response_schemas(doc, config):
    # What the templates write: every field present, null when the item lacks the attribute.
    examples = {
        "getProduct": {"productId": "p1", "name": "Mug", "category": "kitchen", "price": 12.5,
                       "currency": "EUR", "stock": 3, "description": None},
        "getProductSales": {"productId": "p1", "unitsSold": 7},
        "listProducts": {"items": [{"productId": "p1", "name": "Mug", "category": "kitchen", "price": 12.5,
                                    "currency": None}], "nextToken": "bXVn.cDE="},
        "getCart": {"items": []},
        "putCartItem": {"productId": "p1", "quantity": 2, "addedAt": 1767225600, "note": None},
        "patchCartItem": {"productId": "p1", "quantity": 2, "addedAt": 1767225600},
        "getOrder": {"orderId": "o1", "status": "PAID", "total": 25, "currency": "EUR", "createdAt": None,
                     "items": [{"productId": "p1", "quantity": 2, "price": 12.5}]},
    }
    for route_id, example in examples.items():
        schema = success_schema(doc, operation(doc, config, route_id))
        OAS30Validator(schema).validate(example)
    wrong = copy.deepcopy(examples["getOrder"])
    wrong["items"] = None  # a list is always an array, never null
    assert not OAS30Validator(success_schema(doc, operation(doc, config, "getOrder"))).is_valid(wrong)
    error = resolve(doc, {"$ref": "#/components/schemas/Error"})
    OAS30Validator(error).validate({"message": "not found"})


EXPECTED_ERRORS = {
    "getProduct": {"404"},
    "getProductSales": {"404"},
    "listProducts": set(),
    "getCart": set(),
    "putCartItem": {"409", "415"},
    "patchCartItem": {"404", "409", "415"},
    "deleteCartItem": {"404"},
    "listOrders": set(),
    "getOrder": {"404"},
}


def test_documented_errors_are_those_each_route_can_produce(doc, config):
    for route_id in config.api.routes:
        op = operation(doc, config, route_id)
        errors = {c for c in op["responses"] if not c.startswith("2")}
        signed_in = {"401"} if config.api.routes[route_id].auth == "cognito" else set()  # iam: 403, never 401
        assert errors == {"400", "403", "429", "500"} | signed_in | EXPECTED_ERRORS[route_id], route_id
        for code in errors:
            body = resolve(doc, op["responses"][code])
            assert body["content"]["application/json"]["schema"] == resolve(doc, {"$ref": "#/components/schemas/Error"})
            assert body["description"]


def test_conflicts_say_why(doc, config):
    put = operation(doc, config, "putCartItem")["responses"]["409"]["description"]
    patch = operation(doc, config, "patchCartItem")["responses"]["409"]["description"]
    assert "already exists" in put
    assert "`quantity` at least 1" in patch


def test_documented_statuses_match_the_method_responses_the_program_declares(config):
    # The statuses API Gateway's method responses allow (stacks/api_spec.py) are all documented;
    # the document adds only the ones API Gateway answers by itself (401, 415).
    from stacks.api.spec import route_specs

    for spec in route_specs(config):
        documented = set(error_statuses(spec.route)) | {str(spec.templates.success_status)}
        assert set(spec.method_statuses) <= documented, spec.route_id
        assert documented - set(spec.method_statuses) <= {"401", "415"}, spec.route_id


def test_common_errors_are_shared_components(doc):
    responses = doc["components"]["responses"]
    assert {"BadRequest", "Unauthorized", "Forbidden", "NotFound", "TooManyRequests", "InternalError"} <= set(responses)
    assert doc["components"]["schemas"]["Error"] == {
        "type": "object", "required": ["message"],
        "properties": {"message": {"type": "string", "description": "What went wrong, for people."}},
    }


def test_cors_origins_are_documented_as_a_response_header(config):
    document = make(config, cors_origins=[ORIGIN, ORIGIN])
    header = document["components"]["headers"]["AccessControlAllowOrigin"]
    assert header["schema"]["enum"] == [ORIGIN]
    for item in document["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                assert "Access-Control-Allow-Origin" in resolve(document, response)["headers"]
    assert "headers" not in make(config)["components"]


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------


def test_document_is_byte_identical_across_calls(config):
    assert openapi_json(make(config)) == openapi_json(make(config))


def test_declaration_order_does_not_change_the_document(config):
    api = config.api
    reversed_routes = {}
    for route_id in reversed(list(api.routes)):
        route = api.routes[route_id]
        reversed_routes[route_id] = route.model_copy(update={
            "response": dict(reversed(list(route.response.items()))),
            "body": dict(reversed(list(route.body.items()))),
        })
    shuffled = ApiModel(name=api.name, description=api.description, routes=reversed_routes)
    tables = dict(reversed(list(config.tables.items())))
    first = openapi_json(make(config, cors_origins=["https://b.example.com", "https://a.example.com"]))
    second = openapi_json(openapi_document(shuffled, tables, title="shop", version="1.0.0", server_url=SERVER,
                                           cors_origins=["https://a.example.com", "https://b.example.com"]))
    assert first == second


def test_returned_documents_share_nothing(config):
    first = make(config)
    first["components"]["securitySchemes"]["cognito"]["description"] = "changed"
    assert make(config)["components"]["securitySchemes"]["cognito"]["description"] != "changed"


def test_a_route_on_an_unknown_table_is_refused(config):
    with pytest.raises(ValueError, match="not in the data model"):
        openapi_document(config.api, {}, title="t", version="1", server_url=None)
