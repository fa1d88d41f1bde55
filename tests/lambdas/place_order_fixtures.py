"""Fixtures of the place_order function's tests: the event, a fake context, the tables, the loader.

- `POST_ORDERS_EVENT`: a JSON event shaped like API Gateway's REST Lambda-proxy event for
  POST /orders behind a Cognito user-pool authorizer (claims under requestContext.authorizer.claims,
  every claim a string, as API Gateway passes them). `api_event` fills in the caller, body, headers.
- `FakeLambdaContext`: the attributes Powertools reads.
- `create_tables`: the shop's tables with the key schema declared in Pulumi.yaml (the one source of
  truth), plus the idempotency table in Powertools' layout (partition key `id`).
- `load_handler`: lambdas/place_order/handler.py loaded by path under a unique module name, so it never
  collides with other functions' `handler` modules and each load is a fresh execution environment
  (module-scope clients bound to whatever endpoint the environment names at load time).
"""

from __future__ import annotations

import copy
import functools
import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Optional

import yaml

from handlers import fresh_handler
from stacks.local.tokens import user_sub

REPO = Path(__file__).resolve().parents[2]
HANDLER_PATH = REPO / "lambdas" / "place_order" / "handler.py"
REGION = "us-east-1"

TABLE_NAMES = {
    "products": "shop-test-products",
    "carts": "shop-test-carts",
    "orders": "shop-test-orders",
    "idempotency": "shop-test-place-order-idempotency",
}



def cart_line_schema() -> str:
    """CART_LINE_SCHEMA as the stack generates it: from the route placeOrder's environment names in
    Pulumi.yaml (itemSchema.<route>), through the same generator. No copy of the bounds here."""
    from stacks.api.model import Route
    from stacks.api.spec import stored_item_schema_json

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    reference = project["ddb-blueprint:functions"]["value"]["functions"]["placeOrder"]["environment"]["CART_LINE_SCHEMA"]
    kind, route_id = reference.split(".")
    assert kind == "itemSchema", reference
    return stored_item_schema_json(Route.model_validate(project["ddb-blueprint:api"]["value"]["routes"][route_id]))


def route_body_schema() -> str:
    """ROUTE_BODY_SCHEMA as the stack generates it from placeOrder's route body in Pulumi.yaml."""
    from stacks.functions.component import route_body_schema_json
    from stacks.functions.model import Function

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    return route_body_schema_json(Function.model_validate(project["ddb-blueprint:functions"]["value"]["functions"]["placeOrder"]))


ENVIRONMENT = {
    "CART_LINE_SCHEMA": cart_line_schema(),
    "ROUTE_BODY_SCHEMA": route_body_schema(),
    "CARTS_TABLE": TABLE_NAMES["carts"],
    "ORDERS_TABLE": TABLE_NAMES["orders"],
    "PRODUCTS_TABLE": TABLE_NAMES["products"],
    "IDEMPOTENCY_TABLE": TABLE_NAMES["idempotency"],
    "POWERTOOLS_SERVICE_NAME": "place-order",
    "LOG_LEVEL": "INFO",
    "AWS_LAMBDA_FUNCTION_NAME": "ddb-blueprint-test-placeOrder",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Never inherited from the developer's shell: they would send the handler somewhere else or change it.
CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "POWERTOOLS_IDEMPOTENCY_DISABLED",
           "POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL")

POST_ORDERS_EVENT: dict[str, Any] = json.loads("""
{
  "resource": "/orders",
  "path": "/orders",
  "httpMethod": "POST",
  "headers": {
    "Accept": "application/json",
    "Authorization": "eyJraWQiOiJFWEFNUExFIiwiYWxnIjoiUlMyNTYifQ.e30.c2lnbmF0dXJl",
    "Content-Type": "application/json",
    "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "User-Agent": "shop-web/1.0",
    "X-Amzn-Trace-Id": "Root=1-65f0c0de-0123456789abcdef01234567",
    "X-Forwarded-For": "203.0.113.10",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https"
  },
  "multiValueHeaders": {
    "Accept": ["application/json"],
    "Authorization": ["eyJraWQiOiJFWEFNUExFIiwiYWxnIjoiUlMyNTYifQ.e30.c2lnbmF0dXJl"],
    "Content-Type": ["application/json"],
    "Host": ["a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"],
    "User-Agent": ["shop-web/1.0"],
    "X-Amzn-Trace-Id": ["Root=1-65f0c0de-0123456789abcdef01234567"],
    "X-Forwarded-For": ["203.0.113.10"],
    "X-Forwarded-Port": ["443"],
    "X-Forwarded-Proto": ["https"]
  },
  "queryStringParameters": null,
  "multiValueQueryStringParameters": null,
  "pathParameters": null,
  "stageVariables": null,
  "requestContext": {
    "resourceId": "x1y2z3",
    "resourcePath": "/orders",
    "httpMethod": "POST",
    "extendedRequestId": "Uq1bSEXAMPLE=",
    "requestTime": "12/Mar/2024:10:15:30 +0000",
    "path": "/v1/orders",
    "accountId": "123456789012",
    "protocol": "HTTP/1.1",
    "stage": "v1",
    "domainPrefix": "a1b2c3d4e5",
    "requestTimeEpoch": 1710238530000,
    "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "identity": {
      "cognitoIdentityPoolId": null,
      "accountId": null,
      "cognitoIdentityId": null,
      "caller": null,
      "sourceIp": "203.0.113.10",
      "principalOrgId": null,
      "accessKey": null,
      "cognitoAuthenticationType": null,
      "cognitoAuthenticationProvider": null,
      "userArn": null,
      "userAgent": "shop-web/1.0",
      "user": null
    },
    "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "apiId": "a1b2c3d4e5",
    "authorizer": {
      "claims": {
        "sub": "REPLACED",
        "cognito:username": "REPLACED",
        "email": "REPLACED",
        "email_verified": "true",
        "token_use": "id",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
        "aud": "4example0appclient0id0abcde",
        "auth_time": "1710238500",
        "iat": "1710238500",
        "exp": "Tue Mar 12 11:15:00 UTC 2024"
      }
    }
  },
  "body": null,
  "isBase64Encoded": false
}
""")


def api_event(username: str, body: Optional[str] = None, headers: Optional[Mapping[str, str]] = None, *,
              sub: Optional[str] = None) -> dict[str, Any]:
    """POST /orders from `username` (its claims as the Cognito authorizer passes them)."""
    event = copy.deepcopy(POST_ORDERS_EVENT)
    claims = event["requestContext"]["authorizer"]["claims"]
    claims.update({"sub": sub or user_sub(username), "cognito:username": username, "email": f"{username}@example.test"})
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["body"] = body
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


@dataclass
class FakeLambdaContext:
    function_name: str = "ddb-blueprint-test-placeOrder"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:ddb-blueprint-test-placeOrder"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/ddb-blueprint-test-placeOrder"
    log_stream_name: str = "2024/03/12/[$LATEST]0123456789abcdef"
    remaining_millis: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _parsed(text: str) -> Any:
    return yaml.safe_load(text)


def _model_tables() -> dict[str, Any]:
    # Pulumi.yaml as it is now, parsed once per content: yaml's pure-Python loader took ~0.1 s per
    # call, twice per test (create_tables) before any test code ran.
    project = _parsed((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))
    return copy.deepcopy(project["config"]["ddb-blueprint:tables"]["value"])


def create_table_requests() -> list[dict[str, Any]]:
    """CreateTable for products, carts and orders from the model's keys, and the idempotency table.

    Only keys matter to the function (it uses no index), so indexes and streams are left out.
    """
    model = _model_tables()
    requests = []
    for logical in ("products", "carts", "orders"):
        table = model[logical]
        keys = [(table["partitionKey"], "HASH")] + ([(table["sortKey"], "RANGE")] if table.get("sortKey") else [])
        requests.append({
            "TableName": TABLE_NAMES[logical],
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            "AttributeDefinitions": [{"AttributeName": name, "AttributeType": table["attributes"][name]} for name, _ in keys],
        })
    requests.append({
        "TableName": TABLE_NAMES["idempotency"],
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    })
    return requests


def create_tables(client: Any) -> None:
    for request in create_table_requests():
        client.create_table(**request)
    for request in create_table_requests():
        client.get_waiter("table_exists").wait(TableName=request["TableName"], WaiterConfig={"Delay": 0.1})


# --------------------------------------------------------------------------------------------------
# The handler
# --------------------------------------------------------------------------------------------------


def load_handler() -> ModuleType:
    """A fresh copy of lambdas/place_order/handler.py (a new execution environment)."""
    return fresh_handler("place_order")


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


class Shop:
    """The tables seen through a plain boto3 client (arrange and assert, never through the handler)."""

    def __init__(self, client: Any):
        self.client = client

    def add_product(self, product_id: str, *, price: str, stock: int, currency: str = "EUR", name: str = "") -> None:
        self.client.put_item(TableName=TABLE_NAMES["products"], Item={
            "productId": {"S": product_id}, "name": {"S": name or product_id}, "price": {"N": price},
            "currency": {"S": currency}, "stock": {"N": str(stock)}, "category": {"S": "test"}})

    def add_to_cart(self, username: str, product_id: str, quantity: int, *, expires_at: Optional[int] = None,
                    note: Optional[str] = None) -> None:
        # As the API writes a line: added now, expiring 30 days later (server.expiresIn:2592000).
        now = int(time.time())
        item = {"userId": {"S": user_sub(username)}, "productId": {"S": product_id}, "quantity": {"N": str(quantity)},
                "addedAt": {"N": str(now)}, "expiresAt": {"N": str(expires_at or now + 2_592_000)}}
        if note is not None:
            item["note"] = {"S": note}
        self.client.put_item(TableName=TABLE_NAMES["carts"], Item=item)

    def stock(self, product_id: str) -> int:
        item = self.client.get_item(TableName=TABLE_NAMES["products"], Key={"productId": {"S": product_id}},
                                    ConsistentRead=True)["Item"]
        return int(item["stock"]["N"])

    def cart(self, username: str) -> dict[str, int]:
        items = self._all("query", TableName=TABLE_NAMES["carts"], KeyConditionExpression="userId = :u",
                          ExpressionAttributeValues={":u": {"S": user_sub(username)}}, ConsistentRead=True)
        return {item["productId"]["S"]: int(item["quantity"]["N"]) for item in items}

    def orders(self, username: Optional[str] = None) -> list[dict[str, Any]]:
        if username is None:
            items = self._all("scan", TableName=TABLE_NAMES["orders"], ConsistentRead=True)
        else:
            items = self._all("query", TableName=TABLE_NAMES["orders"], KeyConditionExpression="userId = :u",
                              ExpressionAttributeValues={":u": {"S": user_sub(username)}}, ConsistentRead=True)
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        return [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]

    def _all(self, operation: str, **request: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = getattr(self.client, operation)(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def body_of(response: Mapping[str, Any]) -> Any:
    """The JSON body of a proxy response, numbers with decimals read exactly."""
    return json.loads(response["body"], parse_float=Decimal)


def units_of(order: Mapping[str, Any], product_id: str) -> int:
    return sum(int(line["quantity"]) for line in order["items"] if line["productId"] == product_id)
