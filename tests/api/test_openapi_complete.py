"""The document the preview writes covers every route the API serves, direct and function-backed,
with schemas, errors, security and the stage URL, and it validates (issue 13, item 2)."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate


@pytest.fixture(scope="module")
def prod(reference_preview):
    result = reference_preview("prod")
    return result.plan, json.loads((result.plan_path.parent / "openapi.json").read_text())


def operations(document):
    return {(method.upper(), path): op for path, item in document["paths"].items() for method, op in item.items()}


def test_document_validates_and_has_every_route_of_the_plan(prod):
    plan, document = prod
    validate(document)
    methods = {(r["inputs"]["httpMethod"], r["name"]) for r in plan["resources"]
               if r["type"] == "aws:apigateway/method:Method" and r["inputs"]["httpMethod"] != "OPTIONS"}
    assert len(operations(document)) == len(methods) == 10  # 9 routes, and the sales of a product
    assert ("POST", "/orders") in operations(document)


def test_post_orders_documents_the_functions_request_responses_and_errors(prod):
    op = operations(prod[1])[("POST", "/orders")]
    assert op["security"] == [{"cognito": []}]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PlaceOrderBody"}
    assert prod[1]["components"]["schemas"]["PlaceOrderBody"]["properties"]["note"]["maxLength"] == 200
    assert set(op["responses"]) == {"201", "400", "401", "403", "409", "415", "422", "429", "500", "503"}
    assert op["responses"]["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Order"}
    assert "Retry-After" in op["responses"]["429"]["headers"]
    assert [p["name"] for p in op["parameters"]] == ["Idempotency-Key"]


def test_servers_is_the_stage_url_templated_with_the_stacks_region(prod):
    [server] = prod[1]["servers"]
    assert server["url"] == "https://{apiId}.execute-api.{region}.amazonaws.com/v1"
    assert server["variables"]["region"] == {"default": "us-east-1", "enum": ["us-east-1"], "description": "The stack's region."}
    assert "api.id" in server["variables"]["apiId"]["description"]


def test_every_operation_has_security_a_success_and_error_responses(prod):
    for key, op in operations(prod[1]).items():
        assert op["security"], key
        success = [c for c in op["responses"] if c.startswith("2")]
        assert len(success) == 1, key
        if success[0] != "204":
            assert "application/json" in op["responses"][success[0]]["content"], key
        assert {"403", "429", "500"} <= set(op["responses"]), key
        if op["security"] == [{"cognito": []}]:
            assert "401" in op["responses"], key


def test_required_string_parameters_the_api_refuses_empty_have_min_length(prod):
    for key, op in operations(prod[1]).items():
        for parameter in op.get("parameters", []):
            if parameter["required"] and parameter["schema"].get("type") == "string":
                assert parameter["schema"]["minLength"] == 1, (key, parameter["name"])
