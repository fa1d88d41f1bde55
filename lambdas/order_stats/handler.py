"""orders stream -> pre-computed sales counters (`unitsSold` per product in productSales), exactly once.

Entry point `handler.lambda_handler`, invoked by the event source mapping on the `orders` table's
stream with `ReportBatchItemFailures` (GOTCHAS L1).

Configuration (environment, set by the stack; a missing variable fails the cold start):
    PRODUCTS_TABLE           products table (partition key productId): only condition-checked, never written
    SALES_TABLE              productSales table (partition key productId): `unitsSold` is ADDed there
    IDEMPOTENCY_TABLE        idempotency table (partition key `id` S, TTL `expiration`): markers
    POWERTOOLS_SERVICE_NAME  Logger/Tracer service name
    LOG_LEVEL                Logger level

What is counted
    Only INSERT: an order's lines are sold when the order is placed (placeOrder writes it once, in the
    transaction that takes the stock). MODIFY changes an existing order (status: paid, shipped,
    cancelled), not what was sold then: counting it would count the order again. REMOVE deletes an
    order record; it does not un-sell it. Returns and cancellations, if they should be counted,
    are counters of their own kept from a status change, not an undo of this one.
    Each line {productId S, quantity N, price N} of NEW_IMAGE.items adds quantity to the product's
    `unitsSold` item in productSales (ADD, atomic). Lines of the same product are summed first: a transaction may not
    touch one item twice. A quantity that is not a whole number >= 1 fails the record (poison: after
    the mapping's retries it lands in the failure queue).

Exactly once under redelivery (GOTCHAS L5)
    One TransactWriteItems per record: the marker Put {"id": "order-stats#<eventID>", "expiration":
    now + 7 days} with `attribute_not_exists(id)`, and the record's ADDs. Either all of it happens or
    none. A redelivered record (Lambda retry, bisected batch, failure-queue replay, TRIM_HORIZON
    re-read) finds its marker: the cancellation reason of the marker is ConditionalCheckFailed,
    meaning "already counted" -> success, nothing to do. This holds also when the first attempt's
    response was lost after it committed. Markers outlive the stream's 24 h retention (7 days), so
    no redelivery can miss one. Any other failure (throttling, conflicts, timeouts) fails the record;
    it is retried and counted once.
    An execution environment also remembers the records it has seen counted (bounded, in memory):
    Lambda's redelivery of a partly failed batch, usually to the same warm environment, skips them
    without a transaction (a cancelled 100-item transaction still costs its capacity and latency).
    Only records whose marker is known to exist are remembered, so skipping them is always right;
    the markers stay the authority for cold environments and replays.
    Each ADD comes with a ConditionCheck `attribute_exists(productId)` on the product in the catalogue,
    so no product that is gone gets a counter. An order line whose product no longer exists (deleted
    after the order was placed) is left out and logged (cancellation reason ConditionalCheckFailed on
    its ConditionCheck): the transaction is retried without it, with the same marker, and the other
    lines are counted.

Why a table of their own (issue 14)
    The counters used to live on the product items. Every ADD then changed a product, which put a
    record on the products stream and invoked productEvents, which published nothing for it (a
    stream filter cannot compare old and new images). productSales has no stream: counting wakes
    nothing. A ConditionCheck writes nothing, so the products stream does not see it either.
    (bench/counter_invocations_bench.py measures productEvents invocations per 1,000 orders.)

More than 49 products in one order (a transaction takes at most 100 items: the marker, and per
product its ConditionCheck and its Update)
    The order's distinct products, sorted by productId, are split into parts of at most 49; part i
    of n has its own marker "order-stats#<eventID>#<i>/<n>" and its own transaction. The split is a
    function of the record alone, so every redelivery produces the same parts and markers: parts
    already counted are skipped, the others counted, each exactly once. While parts are pending,
    a reader may see part of an order counted; after the record succeeds, all of it is.

Event source mapping filter (FILTER_PATTERNS, the value the stack declares in Pulumi.yaml): only
INSERT invokes the function. MODIFY/REMOVE are also ignored here, should a filter ever let one through.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError


def _required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the stack sets it)")
    return value


PRODUCTS_TABLE = _required_env("PRODUCTS_TABLE")
SALES_TABLE = _required_env("SALES_TABLE")
IDEMPOTENCY_TABLE = _required_env("IDEMPOTENCY_TABLE")

# Lambda event filter patterns of this function's event source mapping (the stack declares the same
# value in Pulumi.yaml, functions.orderStats.stream.filters; a test keeps the two equal).
FILTER_PATTERNS: list[dict[str, Any]] = [{"eventName": ["INSERT"]}]

MARKER_PREFIX = "order-stats#"
MARKER_TTL_SECONDS = 7 * 24 * 3600
MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems
MAX_PRODUCTS_PER_TRANSACTION = (MAX_TRANSACTION_ITEMS - 1) // 2  # the marker, then a check and an ADD per product
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"
REMEMBERED_RECORDS = 10_000  # counted eventIDs kept per execution environment

logger = Logger()
tracer = Tracer()
dynamodb = boto3.client("dynamodb")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
_deserializer = TypeDeserializer()


class _Remembered:
    """Bounded set of the eventIDs this environment saw counted (least recently seen dropped first)."""

    def __init__(self, limit: int):
        self.limit, self._ids = limit, OrderedDict()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)


counted_here = _Remembered(REMEMBERED_RECORDS)


@dataclass(frozen=True)
class Part:
    marker_id: str
    units: tuple[tuple[str, int], ...]  # (productId, quantity), sorted by productId


def units_by_product(new_image: dict[str, Any]) -> dict[str, int]:
    """Quantity sold per product in an order's NEW_IMAGE (DynamoDB JSON), lines of one product summed."""
    items = _deserializer.deserialize(new_image["items"]) if "items" in new_image else []
    if not isinstance(items, list):
        raise ValueError("order attribute `items` is not a list")
    units: dict[str, int] = {}
    for position, line in enumerate(items):
        product_id = line.get("productId") if isinstance(line, dict) else None
        quantity = line.get("quantity") if isinstance(line, dict) else None
        if not isinstance(product_id, str) or not product_id:
            raise ValueError(f"order line {position}: no productId")
        if not isinstance(quantity, Decimal) or quantity != quantity.to_integral_value() or quantity < 1:
            raise ValueError(f"order line {position} ({product_id}): quantity {quantity!r} is not a whole number >= 1")
        units[product_id] = units.get(product_id, 0) + int(quantity)
    return units


def transaction_parts(event_id: str, units: dict[str, int]) -> list[Part]:
    """The record's transactions: one (marker order-stats#<eventID>) unless more than 49 products."""
    lines = sorted(units.items())
    chunks = [tuple(lines[i : i + MAX_PRODUCTS_PER_TRANSACTION]) for i in range(0, len(lines), MAX_PRODUCTS_PER_TRANSACTION)]
    if len(chunks) <= 1:
        return [Part(f"{MARKER_PREFIX}{event_id}", chunks[0] if chunks else ())]
    return [Part(f"{MARKER_PREFIX}{event_id}#{i}/{len(chunks)}", chunk) for i, chunk in enumerate(chunks, start=1)]


def transact_items(part: Part, expiration: int) -> list[dict[str, Any]]:
    marker = {
        "Put": {
            "TableName": IDEMPOTENCY_TABLE,
            "Item": {"id": {"S": part.marker_id}, "expiration": {"N": str(expiration)}},
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": "id"},
        }
    }
    counters: list[dict[str, Any]] = []
    for product_id, quantity in part.units:
        counters.append({
            "ConditionCheck": {
                "TableName": PRODUCTS_TABLE,
                "Key": {"productId": {"S": product_id}},
                "ConditionExpression": "attribute_exists(#key)",
                "ExpressionAttributeNames": {"#key": "productId"},
            }
        })
        counters.append({
            "Update": {
                "TableName": SALES_TABLE,
                "Key": {"productId": {"S": product_id}},
                "UpdateExpression": "ADD #units :quantity",
                "ExpressionAttributeNames": {"#units": "unitsSold"},
                "ExpressionAttributeValues": {":quantity": {"N": str(quantity)}},
            }
        })
    # The marker first: its cancellation reason is reasons[0]; product k's check is reasons[1 + 2k].
    return [marker, *counters]


def _reason(reasons: list[dict[str, Any]], index: int) -> Optional[str]:
    code = reasons[index].get("Code") if index < len(reasons) else None
    return None if code in (None, "None") else code


@tracer.capture_method
def count_part(part: Part, now: Optional[float] = None) -> str:
    """Apply one part: "counted" or "already counted"; raises when the record must be retried."""
    expiration = int(now if now is not None else time.time()) + MARKER_TTL_SECONDS
    units = part.units
    while True:
        try:
            dynamodb.transact_write_items(TransactItems=transact_items(Part(part.marker_id, units), expiration))
            return "counted"
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            if _reason(reasons, 0) == CONDITIONAL_CHECK_FAILED:
                return "already counted"
            checks = {1 + 2 * k for k in range(len(units))}
            missing = {pid for k, (pid, _) in enumerate(units) if _reason(reasons, 1 + 2 * k) == CONDITIONAL_CHECK_FAILED}
            others = [_reason(reasons, i) for i in range(len(reasons))
                      if _reason(reasons, i) is not None and not (i in checks and _reason(reasons, i) == CONDITIONAL_CHECK_FAILED)]
            if not missing or others:
                raise
            logger.warning("products no longer exist; their units are not counted", extra={"marker": part.marker_id, "productIds": sorted(missing)})
            units = tuple(line for line in units if line[0] not in missing)


def count_order(record: dict[str, Any]) -> str:
    """Count one stream record (Lambda's format): "ignored", "nothing to count", "counted" or "already counted"."""
    if record.get("eventName") != "INSERT":
        return "ignored"
    new_image = record.get("dynamodb", {}).get("NewImage")
    if new_image is None:
        raise ValueError(f"record {record.get('eventID')}: INSERT without NewImage; the orders stream must include new images")
    event_id = record["eventID"]
    if event_id in counted_here:
        return "already counted"
    units = units_by_product(new_image)
    if not units:
        return "nothing to count"
    results = [count_part(part) for part in transaction_parts(event_id, units)]
    counted_here.add(event_id)
    return "already counted" if all(r == "already counted" for r in results) else "counted"


def record_handler(record: DynamoDBRecord) -> str:
    result = count_order(record.raw_event)
    logger.debug("order record", extra={"eventId": record.event_id, "result": result})
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
