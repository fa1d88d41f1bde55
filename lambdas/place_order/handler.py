"""POST /orders: turns the caller's cart into one order, in one DynamoDB transaction.

API Gateway REST, Lambda proxy integration, Cognito user-pool authorizer. The caller is the
authorizer's `sub` claim, never anything in the request.

Flow (each step a small typed function below; `lambda_handler` only maps outcomes to responses):

1. `caller_id`, `parse_request`, `idempotency_key`: who asks, the optional body `{"note": str}`,
   the optional `Idempotency-Key` header. Anything malformed is a 400 before any read.
2. `read_cart`: the caller's whole cart (Query, every page, consistent read; lines whose TTL has
   passed are ignored, as DynamoDB deletes expired items only eventually), every line re-validated
   with the API's own bounds (`line_problems`, CART_LINE_SCHEMA): 400 naming a line it would refuse.
3. `read_products`: price and currency of every product in the cart (BatchGetItem, retrying
   UnprocessedKeys with backoff).
4. `price_order`: one currency, exact Decimal total, the order item.
5. `write_order`: ONE TransactWriteItems: per line `stock = stock - q` if `stock >= q`; the
   order Put if `attribute_not_exists(orderId)`; per line the cart row Delete if its quantity is
   still the one read. All or nothing: a short product, a concurrent cart change or a conflict
   cancels every part, and `cancellation_response` says which.

Why a thin handler and not `APIGatewayRestResolver`: the function serves one route; a router
would add routing we do not need, and its default JSON serializer writes Decimal as a string while
this contract promises numbers. Powertools' `APIGatewayProxyEvent` still gives typed,
case-insensitive access to the event.

Idempotency (GOTCHAS L5): with an `Idempotency-Key` header the placement runs under Powertools'
`idempotent_function`, keyed on (caller sub, key) and validated against the request body. Only a
placed order (201) is recorded, for 24 hours: a retry gets the same 201 and places nothing. Every
other outcome raises `Rejected` inside the idempotent function, so Powertools deletes the
in-progress record: those outcomes changed no data (the transaction is all or nothing), and
replaying a stale 409/429 would stop a client from retrying a transient failure with its key.
The same key with a different body is a 422; while the first request with a key is still
running, a second one gets 409 (the IETF httpapi Idempotency-Key draft's statuses). Even a
second execution (say, after an idempotency-store failure) cannot order the same lines twice: the
first transaction deleted those cart rows, and the Deletes are conditioned on them.

Responses (Lambda proxy, `Content-Type: application/json`, body `{"message": ...}` unless noted):
  201  the order: userId, orderId, status PLACED, createdAt, currency, total, items[{productId,
       quantity, price}], note (if given); numbers are JSON numbers
  400  malformed JSON / body not an object / unknown field / note not a string or > 200 chars /
       bad or repeated Idempotency-Key / "the cart is empty" / more than MAX_LINES lines (`maxLines`)
       / mixed currencies (`currencies`)
  401  no Cognito claims in the request context (a wiring error: the authorizer always sets them)
  400  a cart line the API would not have written (`invalidLines`, `problems` per line: quantity
       outside the API's bounds, no expiresAt, an over-long note...; bounds from CART_LINE_SCHEMA)
  409  product no longer exists (`unknownProducts`) / has no price (`unpricedProducts`) / "out of stock" (`outOfStock`: exactly the short
       lines) / "the cart changed; review it and try again" / concurrent conflict (retry) /
       Idempotency-Key in progress (Retry-After)
  422  Idempotency-Key reused with a different body
  429  DynamoDB throttling (Retry-After: 1)
  503  idempotency store unavailable; 500 anything unexpected (logged), never a gateway 502

Environment (set by the stack): CARTS_TABLE, ORDERS_TABLE, PRODUCTS_TABLE, IDEMPOTENCY_TABLE
(partition key `id` S, TTL attribute `expiration`), CART_LINE_SCHEMA (JSON generated from the API
route that creates cart lines: the same bounds, one declaration), ROUTE_BODY_SCHEMA (this route's
body fields as declared: the note's maximum), POWERTOOLS_SERVICE_NAME, LOG_LEVEL.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, DecimalException
from typing import Any, Iterator, Mapping, Optional, Sequence

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

# --------------------------------------------------------------------------------------------------
# Configuration and clients (module scope: created once per execution environment, GOTCHAS L5)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    carts: str
    orders: str
    products: str
    idempotency: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Tables":
        names = {"carts": "CARTS_TABLE", "orders": "ORDERS_TABLE", "products": "PRODUCTS_TABLE", "idempotency": "IDEMPOTENCY_TABLE"}
        missing = [variable for variable in names.values() if not environ.get(variable)]
        if missing:
            raise RuntimeError(f"place_order: environment variable(s) not set: {', '.join(missing)}")
        return cls(**{field: environ[variable] for field, variable in names.items()})


TABLES = Tables.from_environment(os.environ)


def cart_line_schema(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """CART_LINE_SCHEMA: the bounds the API enforces on the cart lines it creates (generated by the stack
    from the PUT /cart/items route: attribute -> {type, required, minimum, maximum, minLength, maxLength,
    pattern, maxSecondsFromNow}). The numbers live in the API model only."""
    text = environ.get("CART_LINE_SCHEMA")
    if not text:
        raise RuntimeError("place_order: environment variable CART_LINE_SCHEMA not set (itemSchema.<route> in the stack)")
    schema = json.loads(text)
    if not isinstance(schema, dict) or "quantity" not in schema or not all(isinstance(r, dict) for r in schema.values()):
        raise RuntimeError("place_order: CART_LINE_SCHEMA is not a map of attribute rules with quantity")
    return schema


CART_LINE = cart_line_schema(os.environ)

logger = Logger()  # service from POWERTOOLS_SERVICE_NAME, level from LOG_LEVEL
tracer = Tracer()
dynamodb = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3}))

IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60
idempotency_store = DynamoDBPersistenceLayer(table_name=TABLES.idempotency, boto3_client=dynamodb)
idempotency_config = IdempotencyConfig(
    event_key_jmespath="[userId, idempotencyKey]",  # a key is the caller's own: users never share records
    payload_validation_jmespath="request",  # same key, different body -> IdempotencyValidationError (422)
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    hash_function="sha256",
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# --------------------------------------------------------------------------------------------------
# Limits and constants
# --------------------------------------------------------------------------------------------------

TRANSACTION_ITEM_LIMIT = 100  # TransactWriteItems
MAX_LINES = (TRANSACTION_ITEM_LIMIT - 1) // 2  # a stock Update and a cart Delete per line, plus the order Put
def route_body_schema(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """ROUTE_BODY_SCHEMA: the POST /orders body fields and bounds the stack declares (the API's request
    model checks them first; this is the second check, with the same numbers)."""
    try:
        schema = json.loads(environ.get("ROUTE_BODY_SCHEMA") or "")
    except ValueError:
        schema = None
    if not isinstance(schema, dict) or not isinstance(schema.get("note"), dict) or "maxLength" not in schema["note"]:
        raise RuntimeError("place_order: ROUTE_BODY_SCHEMA must declare the body field note with maxLength (set by the stack)")
    return schema


ORDER_BODY = route_body_schema(os.environ)
NOTE_MAX_CHARS = int(ORDER_BODY["note"]["maxLength"])
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch: "$" would let a trailing newline in
BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 6
STATUS_PLACED = "PLACED"
THROTTLING_ERRORS = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
THROTTLING_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
RETRYABLE_ERRORS = frozenset({"TransactionConflictException", "TransactionInProgressException"})

MESSAGE_EMPTY_CART = "the cart is empty"
MESSAGE_OUT_OF_STOCK = "out of stock"
MESSAGE_CART_CHANGED = "the cart changed; review it and try again"
MESSAGE_CONFLICT = "another request changed the same items at the same time; retry"
MESSAGE_THROTTLED = "too many requests; retry shortly"

# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRequest:
    note: Optional[str] = None

    def payload(self) -> dict[str, Any]:
        """What the idempotency record validates: a retry must send the same request."""
        return {"note": self.note}


@dataclass(frozen=True)
class CartLine:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class Product:
    product_id: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class Order:
    user_id: str
    order_id: str
    created_at: str
    currency: str
    total: Decimal
    lines: tuple[tuple[CartLine, Decimal], ...]  # (line, unit price)
    note: Optional[str] = None

    def item(self) -> dict[str, Any]:
        """The order as stored in the orders table (and returned in the 201 body)."""
        item: dict[str, Any] = {
            "userId": self.user_id,
            "orderId": self.order_id,
            "status": STATUS_PLACED,
            "createdAt": self.created_at,
            "currency": self.currency,
            "total": self.total,
            "items": [{"productId": line.product_id, "quantity": line.quantity, "price": price} for line, price in self.lines],
        }
        if self.note is not None:
            item["note"] = self.note
        return item


class Rejected(Exception):
    """The order cannot be placed; `response` says why. Nothing was written."""

    def __init__(self, response: dict[str, Any]):
        super().__init__(f"{response['statusCode']}: {response['body']}")
        self.response = response


def reject(status: int, body: Mapping[str, Any], headers: Optional[Mapping[str, str]] = None) -> Rejected:
    return Rejected(respond(status, body, headers))


# --------------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------------


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        # DynamoDB numbers arrive as Decimal. JSON numbers: integers as integers, others as the
        # shortest double that reads back as the same digits (29.97 stays 29.97).
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def respond(status: int, body: Mapping[str, Any], headers: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """An API Gateway Lambda-proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, default=_json_number, ensure_ascii=False, separators=(",", ":")),
    }


def bad_request(message: str, **details: Any) -> Rejected:
    return reject(400, {"message": message, **details})


# --------------------------------------------------------------------------------------------------
# Request parsing (pure)
# --------------------------------------------------------------------------------------------------


def caller_id(event: Mapping[str, Any]) -> Optional[str]:
    """The Cognito user-pool `sub` the authorizer put in the request context (never from the body)."""
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("claims")) or {}
    sub = claims.get("sub") if isinstance(claims, Mapping) else None
    return sub if isinstance(sub, str) and sub else None


def parse_request(body: Optional[str], is_base64_encoded: bool = False) -> OrderRequest:
    """The optional body: nothing, or a JSON object whose only field is `note` (a string ≤ 200)."""
    if body is None:
        return OrderRequest()
    if is_base64_encoded:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise bad_request("the body is not valid base64-encoded UTF-8") from None
    if not body.strip():
        return OrderRequest()
    try:
        document = json.loads(body)
    except ValueError:
        raise bad_request('the body is not valid JSON; send nothing or {"note": "..."}') from None
    if not isinstance(document, dict):
        raise bad_request('the body must be a JSON object, e.g. {"note": "..."}')
    unknown = sorted(set(document) - {"note"})
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(unknown)}; the body accepts only note")
    if "note" not in document:
        return OrderRequest()
    note = document["note"]
    if not isinstance(note, str):
        raise bad_request("note must be a string")
    if len(note) > NOTE_MAX_CHARS:
        raise bad_request(f"note is at most {NOTE_MAX_CHARS} characters (got {len(note)})")
    return OrderRequest(note=note)


def idempotency_key(event: Mapping[str, Any]) -> Optional[str]:
    """The `Idempotency-Key` header (any case), or None. Malformed or repeated -> 400."""
    values = [v for name, vs in (event.get("multiValueHeaders") or {}).items()
              if name.lower() == "idempotency-key" for v in (vs or [])]
    if not values:
        values = [v for name, v in (event.get("headers") or {}).items() if name.lower() == "idempotency-key"]
    if not values:
        return None
    if len(values) > 1:
        raise bad_request("send one Idempotency-Key header")
    key = values[0]
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
        raise bad_request("Idempotency-Key must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'")
    return key


# --------------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------------


def _throttled() -> Rejected:
    return reject(429, {"message": MESSAGE_THROTTLED}, {"Retry-After": "1"})


def _raise_for_client_error(error: ClientError) -> None:
    code = error.response.get("Error", {}).get("Code", "")
    if code in THROTTLING_ERRORS:
        raise _throttled() from error
    if code in RETRYABLE_ERRORS:
        raise reject(409, {"message": MESSAGE_CONFLICT}) from error
    raise error


CLOCK_SKEW_SECONDS = 300  # API Gateway's clock wrote server times; this function's may differ slightly


def line_problems(row: Mapping[str, Any], schema: Mapping[str, Mapping[str, Any]], now_seconds: int) -> list[str]:
    """What makes a stored cart line one the API would not have written (empty: a valid line).

    Lines reach the table only through the API, but nothing in DynamoDB enforces its bounds: this is
    the second check, with the same numbers. Values are never echoed whole (a note may be 400 KB)."""
    problems: list[str] = []
    for name, rule in schema.items():
        value = row.get(name)
        if value is None:
            if rule.get("required"):
                problems.append(f"{name} is missing")
            continue
        kind = rule.get("type")
        if kind in ("integer", "number"):
            if not (isinstance(value, Decimal) and value.is_finite()) or (
                    kind == "integer" and value != value.to_integral_value()):
                problems.append(f"{name} must be {'a whole number' if kind == 'integer' else 'a number'}")
                continue
            shown = str(value) if len(str(value)) <= 40 else str(value)[:40] + "..."
            if "minimum" in rule and value < rule["minimum"]:
                problems.append(f"{name} must be at least {rule['minimum']} (got {shown})")
            if "maximum" in rule and value > rule["maximum"]:
                problems.append(f"{name} must be at most {rule['maximum']} (got {shown})")
            if "maxSecondsFromNow" in rule and value > now_seconds + rule["maxSecondsFromNow"] + CLOCK_SKEW_SECONDS:
                problems.append(f"{name} is more than {rule['maxSecondsFromNow']} seconds in the future")
        elif kind == "string":
            if not isinstance(value, str):
                problems.append(f"{name} must be a string")
                continue
            if "maxLength" in rule and len(value) > rule["maxLength"]:
                problems.append(f"{name} is {len(value)} characters long; at most {rule['maxLength']}")
            if "minLength" in rule and len(value) < rule["minLength"]:
                problems.append(f"{name} is {len(value)} characters long; at least {rule['minLength']}")
            if "pattern" in rule and not re.search(rule["pattern"], value):
                problems.append(f"{name} does not match {rule['pattern']}")
        elif kind == "boolean" and not isinstance(value, bool):
            problems.append(f"{name} must be true or false")
    return problems


@tracer.capture_method(capture_response=False)
def read_cart(user_id: str, *, now_seconds: Optional[int] = None, page_size: Optional[int] = None,
              tables: Tables = TABLES, schema: Mapping[str, Mapping[str, Any]] = CART_LINE) -> list[CartLine]:
    """Every line of the caller's cart, in product order (all pages; expired lines left out).

    Every line is re-validated with the API's own bounds (`line_problems`): a line the API would not
    have written (quantity 1,000,000, no expiry, a 400 KB note) cannot be ordered: 400 naming it.
    """
    now_seconds = int(time.time()) if now_seconds is None else now_seconds
    attributes = sorted({"productId", "expiresAt", *schema})
    names = {f"#a{i}": attribute for i, attribute in enumerate(attributes)}
    request: dict[str, Any] = {
        "TableName": tables.carts,
        "KeyConditionExpression": "#user = :user",
        "ProjectionExpression": ", ".join(names),
        "ExpressionAttributeNames": {"#user": "userId", **names},
        "ExpressionAttributeValues": {":user": {"S": user_id}},
        "ConsistentRead": True,  # a line added just before checkout is part of the order
    }
    if page_size is not None:
        request["Limit"] = page_size
    lines: list[CartLine] = []
    invalid: dict[str, list[str]] = {}
    try:
        while True:
            page = dynamodb.query(**request)
            for raw in page.get("Items", []):
                row = {name: _deserializer.deserialize(value) for name, value in raw.items()}
                expires = row.get("expiresAt")
                if isinstance(expires, Decimal) and expires.is_finite() and expires <= now_seconds:
                    continue  # expired by TTL, not yet deleted by DynamoDB
                problems = line_problems(row, schema, now_seconds)
                if problems:
                    invalid[row["productId"]] = problems
                else:
                    lines.append(CartLine(row["productId"], int(row["quantity"])))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as error:
        _raise_for_client_error(error)
    if invalid:
        described = "; ".join(f"{product}: {', '.join(problems)}" for product, problems in invalid.items())
        raise bad_request(f"the cart has lines the API would not accept ({described}); remove them or change them "
                          "through the API", invalidLines=list(invalid), problems=invalid)
    return lines


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@tracer.capture_method(capture_response=False)
def read_products(product_ids: Sequence[str], *, tables: Tables = TABLES, backoff_seconds: float = 0.05) -> dict[str, dict[str, Any]]:
    """productId -> {price, currency} of the products that exist (BatchGetItem, all UnprocessedKeys)."""
    found: dict[str, dict[str, Any]] = {}
    keys = [{"productId": {"S": product_id}} for product_id in dict.fromkeys(product_ids)]
    for chunk in _chunks(keys, BATCH_GET_LIMIT):
        pending: Mapping[str, Any] = {tables.products: {
            "Keys": list(chunk),
            "ProjectionExpression": "#id, #price, #currency",
            "ExpressionAttributeNames": {"#id": "productId", "#price": "price", "#currency": "currency"},
            "ConsistentRead": True,
        }}
        for attempt in range(BATCH_GET_ATTEMPTS):
            if attempt:
                time.sleep(backoff_seconds * (2 ** (attempt - 1)) * (0.5 + secrets.randbelow(1000) / 1000))
            try:
                response = dynamodb.batch_get_item(RequestItems=pending)
            except ClientError as error:
                _raise_for_client_error(error)
            for raw in response.get("Responses", {}).get(tables.products, []):
                row = {name: _deserializer.deserialize(value) for name, value in raw.items()}
                found[row["productId"]] = row
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
        if pending:
            logger.warning("products still unprocessed after retries", extra={"attempts": BATCH_GET_ATTEMPTS})
            raise _throttled()
    return found


# --------------------------------------------------------------------------------------------------
# Pricing (pure)
# --------------------------------------------------------------------------------------------------


def new_order_id(now_millis: int) -> str:
    """13-digit epoch milliseconds, '-', 12 random hex digits: sorts by time, URL-safe, unguessable."""
    return f"{now_millis:013d}-{secrets.token_hex(6)}"


def iso_utc(now_millis: int) -> str:
    return datetime.fromtimestamp(now_millis / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def price_order(user_id: str, lines: Sequence[CartLine], products: Mapping[str, Mapping[str, Any]],
                request: OrderRequest, *, now_millis: int, order_id: Optional[str] = None) -> Order:
    """The order for these lines at these prices. Exact: Decimal under DynamoDB's 38-digit context,
    which raises rather than rounds."""
    unknown = [line.product_id for line in lines if line.product_id not in products]
    if unknown:
        raise reject(409, {"message": f"product(s) no longer in the catalogue: {', '.join(unknown)}; "
                                        "remove them from the cart", "unknownProducts": unknown})
    priced: list[tuple[CartLine, Product]] = []
    unpriced: list[str] = []
    for line in lines:
        row = products[line.product_id]
        price, currency = row.get("price"), row.get("currency")
        if isinstance(price, Decimal) and price.is_finite() and price >= 0 and isinstance(currency, str) and currency:
            priced.append((line, Product(line.product_id, price, currency)))
        else:
            unpriced.append(line.product_id)
    if unpriced:
        raise reject(409, {"message": f"product(s) not for sale (no price): {', '.join(unpriced)}",
                             "unpricedProducts": unpriced})
    currencies = sorted({product.currency for _, product in priced})
    if len(currencies) > 1:
        raise bad_request(f"the cart mixes currencies ({', '.join(currencies)}); an order has one currency",
                          currencies=currencies)
    total = Decimal(0)
    try:
        for line, product in priced:
            total = DYNAMODB_CONTEXT.add(total, DYNAMODB_CONTEXT.multiply(product.price, Decimal(line.quantity)))
    except DecimalException:
        raise bad_request("the order total cannot be represented exactly") from None
    return Order(
        user_id=user_id,
        order_id=order_id or new_order_id(now_millis),
        created_at=iso_utc(now_millis),
        currency=currencies[0],
        total=total,
        lines=tuple((line, product.price) for line, product in priced),
        note=request.note,
    )


# --------------------------------------------------------------------------------------------------
# The transaction
# --------------------------------------------------------------------------------------------------


def transaction_items(order: Order, *, tables: Tables = TABLES) -> list[dict[str, Any]]:
    """Stock Updates (one per line, in line order), the order Put, cart Deletes (same order)."""
    stock = [{"Update": {
        "TableName": tables.products,
        "Key": {"productId": {"S": line.product_id}},
        "UpdateExpression": "SET #stock = #stock - :quantity",
        "ConditionExpression": "#stock >= :quantity",  # stock never goes negative
        "ExpressionAttributeNames": {"#stock": "stock"},
        "ExpressionAttributeValues": {":quantity": {"N": str(line.quantity)}},
    }} for line, _ in order.lines]
    put = {"Put": {
        "TableName": tables.orders,
        "Item": {name: _serializer.serialize(value) for name, value in order.item().items()},
        "ConditionExpression": "attribute_not_exists(#order)",  # create-only
        "ExpressionAttributeNames": {"#order": "orderId"},
    }}
    carts = [{"Delete": {
        "TableName": tables.carts,
        "Key": {"userId": {"S": order.user_id}, "productId": {"S": line.product_id}},
        "ConditionExpression": "#quantity = :quantity",  # the line is still what was priced
        "ExpressionAttributeNames": {"#quantity": "quantity"},
        "ExpressionAttributeValues": {":quantity": {"N": str(line.quantity)}},
    }} for line, _ in order.lines]
    return [*stock, put, *carts]


def cancellation_response(reasons: Sequence[Mapping[str, Any]], product_ids: Sequence[str]) -> Optional[dict[str, Any]]:
    """The response for a cancelled transaction, from its CancellationReasons (same order as the
    items of `transaction_items`), or None when the reasons are not ours to explain (a bug: 500).

    A failed condition is a fact about the data that a retry will not change, so it wins over a
    transient reason; a changed cart wins over stock, whose check used the stale quantities.
    """
    lines = len(product_ids)
    if len(reasons) != 2 * lines + 1:
        return None
    codes = [str(reason.get("Code") or "None") for reason in reasons]
    short = [product_ids[i] for i in range(lines) if codes[i] == "ConditionalCheckFailed"]
    changed = [product_ids[i] for i in range(lines) if codes[lines + 1 + i] == "ConditionalCheckFailed"]
    if changed:
        return respond(409, {"message": MESSAGE_CART_CHANGED})
    if short:
        return respond(409, {"message": MESSAGE_OUT_OF_STOCK, "outOfStock": short})
    if codes[lines] == "ConditionalCheckFailed" or "TransactionConflict" in codes:
        return respond(409, {"message": MESSAGE_CONFLICT})  # (an order id collision is retried the same way)
    if THROTTLING_REASONS.intersection(codes):
        return respond(429, {"message": MESSAGE_THROTTLED}, {"Retry-After": "1"})
    return None


@tracer.capture_method(capture_response=False)
def write_order(order: Order, *, tables: Tables = TABLES) -> None:
    """The one transaction. Raises Rejected with the mapped response when DynamoDB cancels it."""
    items = transaction_items(order, tables=tables)
    if len(items) > TRANSACTION_ITEM_LIMIT:  # guarded before: place_order checks MAX_LINES
        raise bad_request(f"an order holds at most {MAX_LINES} cart lines", maxLines=MAX_LINES)
    try:
        # The order id is the client request token: if botocore retries after a lost response, DynamoDB
        # answers the retry as the original (for 10 minutes) instead of failing its conditions.
        dynamodb.transact_write_items(TransactItems=items, ClientRequestToken=order.order_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            _raise_for_client_error(error)
        reasons = error.response.get("CancellationReasons") or []
        response = cancellation_response(reasons, [line.product_id for line, _ in order.lines])
        if response is None:
            logger.error("transaction cancelled for an unexpected reason", extra={"reasons": reasons})
            raise
        logger.info("order not placed", extra={"status": response["statusCode"],
                                                "reasons": [reason.get("Code") for reason in reasons]})
        raise Rejected(response) from error


# --------------------------------------------------------------------------------------------------
# Placing an order
# --------------------------------------------------------------------------------------------------


def place_order(user_id: str, request: OrderRequest) -> dict[str, Any]:
    """Reads, prices and writes the caller's order: the 201 response, or raises Rejected."""
    lines = read_cart(user_id)
    if not lines:
        raise bad_request(MESSAGE_EMPTY_CART)
    if len(lines) > MAX_LINES:
        raise bad_request(f"the cart has {len(lines)} lines; an order holds at most {MAX_LINES} "
                          f"(one DynamoDB transaction of {TRANSACTION_ITEM_LIMIT} items)", maxLines=MAX_LINES)
    products = read_products([line.product_id for line in lines])
    order = price_order(user_id, lines, products, request, now_millis=time.time_ns() // 1_000_000)
    write_order(order)
    logger.info("order placed", extra={"orderId": order.order_id, "lines": len(order.lines)})
    return respond(201, order.item())


@idempotent_function(data_keyword_argument="attempt", persistence_store=idempotency_store,
                     config=idempotency_config, key_prefix="place_order")
def place_order_once(*, attempt: dict[str, Any]) -> dict[str, Any]:
    """place_order under an Idempotency-Key (GOTCHAS L5): recorded only when it returns (201)."""
    return place_order(attempt["userId"], OrderRequest(**attempt["request"]))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@event_source(data_class=APIGatewayProxyEvent)
def lambda_handler(event: APIGatewayProxyEvent, context: LambdaContext) -> dict[str, Any]:
    user_id = caller_id(event.raw_event)
    if user_id is None:  # the Cognito authorizer always sets it; its absence is a wiring error
        logger.error("no Cognito sub in the request context")
        return respond(401, {"message": "unauthorized"})
    try:
        request = parse_request(event.body, bool(event.is_base64_encoded))
        key = idempotency_key(event.raw_event)
        if key is None:
            return place_order(user_id, request)
        idempotency_config.register_lambda_context(context)  # in-progress records expire with this invocation
        return place_order_once(attempt={"userId": user_id, "idempotencyKey": key, "request": request.payload()})
    except Rejected as rejected:
        return rejected.response
    except IdempotencyValidationError:
        return respond(422, {"message": "this Idempotency-Key was used with a different request body; "
                                        "use a new key for a new request"})
    except IdempotencyAlreadyInProgressError:
        return respond(409, {"message": "a request with this Idempotency-Key is in progress; retry shortly"},
                       {"Retry-After": "1"})
    except IdempotencyPersistenceLayerError:
        logger.exception("idempotency store unavailable")
        return respond(503, {"message": "the service is temporarily unavailable; retry with the same Idempotency-Key"},
                       {"Retry-After": "1"})
    except Exception:  # noqa: BLE001 - a bug or an AWS failure: logged, answered as JSON instead of a gateway 502
        logger.exception("unexpected error placing an order")
        return respond(500, {"message": "internal error"})
