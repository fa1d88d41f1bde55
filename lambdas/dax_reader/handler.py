"""Read routes served through DAX: GetItem and Query of a cached table, answered in the same shape
as the direct API Gateway integration they replace (items without type descriptors, the same
nextToken), so callers do not notice which path served them.

Consistency (DAX): GetItem reads the item cache (eventually consistent, refreshed by writes made
through DAX); Query reads the query cache, which writes do not invalidate: a result can be up to
the query TTL old. Strongly consistent reads would pass through to DynamoDB and are not used here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

import dax_client

LOGGER = logging.getLogger()
LOGGER.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
ROUTE = json.loads(os.environ["ROUTE"])
TABLE = os.environ["TABLE_NAME"]
_DESERIALIZER = TypeDeserializer()
_client: Any = None


def client() -> Any:
    """One client per execution environment: DAX connections are reused across invocations."""
    global _client
    if _client is None:
        _client = dax_client.make_client(os.environ["DAX_ENDPOINT"], os.environ.get("AWS_REGION"))
    return _client


class BadRequest(Exception):
    pass


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    return value


def _project(item: dict[str, Any]) -> dict[str, Any]:
    """The route's response fields, without DynamoDB type descriptors (absent fields are left out)."""
    return {name: _plain(_DESERIALIZER.deserialize(item[name])) for name in ROUTE["fields"] if name in item}


def _source_value(event: dict[str, Any], source: str) -> str:
    kind, _, name = source.partition(".")
    values = (event.get("pathParameters") if kind == "path" else event.get("queryStringParameters")) or {}
    value = values.get(name)
    if value in (None, ""):
        raise BadRequest(f"missing {kind} parameter {name}")
    return value


def _key(event: dict[str, Any]) -> dict[str, Any]:
    return {attribute: {kind: _source_value(event, source)} for attribute, (source, kind) in ROUTE["key"].items()}


def _page_limit(event: dict[str, Any]) -> int:
    raw = ((event.get("queryStringParameters") or {}).get("limit")) or str(ROUTE["pageSize"]["default"])
    if not raw.isdigit() or not 1 <= int(raw) <= ROUTE["pageSize"]["max"]:
        raise BadRequest(f"limit must be an integer from 1 to {ROUTE['pageSize']['max']}")
    return int(raw)


def _start_key(event: dict[str, Any], key: dict[str, Any]) -> dict[str, Any] | None:
    token = (event.get("queryStringParameters") or {}).get("nextToken")
    if not token:
        return None
    parts = token.split(".")
    if len(token) > 4096 or len(parts) != len(ROUTE["token"]):
        raise BadRequest("nextToken is not valid; use the nextToken of the previous page as it was returned")
    try:
        decoded = [base64.b64decode(p, validate=True).decode() for p in parts]
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest("nextToken is not valid; use the nextToken of the previous page as it was returned") from None
    return {**key, **{attribute: {kind: value} for (attribute, kind), value in zip(ROUTE["token"], decoded)}}


def _token(last_key: dict[str, Any]) -> str:
    return ".".join(base64.b64encode(str(next(iter(last_key[a].values()))).encode()).decode() for a, _ in ROUTE["token"])


def _get_item(event: dict[str, Any]) -> tuple[int, Any]:
    response = client().get_item(TableName=TABLE, Key=_key(event))
    item = response.get("Item")
    return (200, _project(item)) if item else (404, {"message": "not found"})


def _query(event: dict[str, Any]) -> tuple[int, Any]:
    key = _key(event)
    names = {f"#k{i}": attribute for i, attribute in enumerate(key)}
    values = {f":k{i}": value for i, value in enumerate(key.values())}
    request: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": " AND ".join(f"#k{i} = :k{i}" for i in range(len(key))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "Limit": _page_limit(event),
    }
    if ROUTE.get("index"):
        request["IndexName"] = ROUTE["index"]
    if ROUTE.get("newestFirst"):
        request["ScanIndexForward"] = False
    start = _start_key(event, key)
    if start:
        request["ExclusiveStartKey"] = start
    response = client().query(**request)
    body: dict[str, Any] = {"items": [_project(item) for item in response.get("Items", [])]}
    if response.get("LastEvaluatedKey"):
        body["nextToken"] = _token(response["LastEvaluatedKey"])
    return 200, body


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        status, body = (_get_item if ROUTE["operation"] == "GetItem" else _query)(event)
    except BadRequest as problem:
        status, body = 400, {"message": str(problem)}
    except Exception:  # noqa: BLE001 - the caller gets a plain 500; the details go to the log only
        LOGGER.exception("read through DAX failed")
        status, body = 500, {"message": "internal error"}
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
