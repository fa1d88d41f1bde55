"""products stream -> productChanges topic: catalogue change events for other services.

Entry point `handler.lambda_handler`, invoked by the event source mapping on the `products` table's
stream (NEW_AND_OLD_IMAGES) with `ReportBatchItemFailures` (GOTCHAS L1).

Configuration (environment, set by the stack; a missing variable fails the cold start):
    TOPIC_ARN                the productChanges topic
    IDEMPOTENCY_TABLE        Powertools idempotency table (partition key `id` S, TTL `expiration`)
    RELEVANT_ATTRIBUTES      comma-separated attributes whose changes are published
    POWERTOOLS_SERVICE_NAME  Logger/Tracer service name
    LOG_LEVEL                Logger level

What is published, per stream record
    INSERT  -> ProductCreated, `changes` = every relevant attribute the new item has ({"old": null, "new": v})
    MODIFY  -> ProductChanged, `changes` = only the relevant attributes whose value differs between the
               old and the new image (an attribute added or removed has null on the missing side);
               no relevant difference -> nothing is published (e.g. an `unitsSold` ADD by order_stats)
    REMOVE  -> ProductRemoved, `changes` = every relevant attribute the old item had ({"old": v, "new": null})
    A product's creation and removal are always published (its existence is itself the change), even
    when the item has none of the relevant attributes.

    Body (JSON): {"type", "productId", "changes": {attr: {"old", "new"}}, "sequenceNumber", "eventId",
    "approximateCreationTime"} and the message attribute `eventType` (= type) for subscription filters.
    `approximateCreationTime` is ISO 8601 UTC. Images are read with boto3's TypeDeserializer.
    Numbers are JSON numbers, as the API serves them (price: number, stock: integer): integral values
    exactly as integers (any size), others as the nearest double, which is exact up to 15 significant
    digits (prices are 2-decimal amounts); sets become sorted lists, binary values base64 strings.

Delivery: SNS PublishBatch, up to 10 entries and 256 KiB per call, entry `Id` = the record's eventID
made safe ([A-Za-z0-9_-], at most 80 characters). A failed entry (listed in `Failed`, or every entry
of a call that raised) fails exactly its own record (batchItemFailures); the others succeed. A
message that can never fit SNS's 256 KiB limit (a huge description) fails its record every time and
ends in the mapping's failure queue for a person to handle. When every record of a batch fails,
Powertools raises instead of answering (BatchProcessingError): a function error, which Lambda
retries like a full failure (and bisects) and which shows in the Errors metric.

Idempotency (GOTCHAS L5) and what "exactly once" means here
    Powertools idempotency, DynamoDBPersistenceLayer(IDEMPOTENCY_TABLE), one record per stream record,
    keyed on its `eventID` (id = "product-events#<md5(eventID)>"), kept 25 hours: longer than the
    stream keeps records (24 h), so every possible redelivery (Lambda retries, bisected batches,
    replays of the failure queue's ranges, a re-read from TRIM_HORIZON) finds it.
    The `@idempotent_function` decorator wraps one call per key; one PublishBatch covers ten keys, so
    the handler drives the same persistence layer through the decorator's own steps:
        claim    save_inprogress: INPROGRESS, expiring with this invocation (remaining time). Already
                 COMPLETED -> published before: nothing to do, the record succeeds. INPROGRESS and
                 not expired -> another invocation holds it: the record fails and is retried.
        publish  PublishBatch of the claimed entries.
        settle   accepted -> save_success (COMPLETED, with the MessageId);
                 failed   -> delete_record: nothing stays COMPLETED for a message that was not
                             accepted, so the retry publishes it.
    Claims are taken chunk by chunk, right before the chunk's PublishBatch, so a crash leaves at most
    one chunk INPROGRESS; it becomes claimable again when the crashed invocation's time is up.
    Powertools' local cache keeps COMPLETED records in the execution environment too: a redelivery
    to a warm environment skips them without reading the table; the table stays the authority for
    cold environments, failure-queue replays and re-reads of the stream.
    "Exactly once" therefore means: each relevant change is accepted by SNS once per acknowledged
    publish, and no redelivery publishes an acknowledged change again. Two windows remain where a
    change is published twice, both with an unknown outcome and resolved towards at-least-once
    (a change is never lost for a duplicate's sake): SNS accepted the batch but the response was
    lost (timeout after sending), or the function died between PublishBatch and save_success.
    And SNS itself delivers at-least-once to subscribers (standard topic, no ordering): subscribers
    deduplicate on `eventId` (stable across redeliveries) and order a product's changes by
    `sequenceNumber` (compare as integers; later changes of an item have higher numbers).

Event source mapping filter (FILTER_PATTERNS, the value the stack declares in Pulumi.yaml)
    Only INSERT/MODIFY/REMOVE records of items with a string `productId` key invoke the function.
    What a filter cannot express: it matches one record's fields against constants; it cannot
    compare OldImage with NewImage, so "a MODIFY that changed none of RELEVANT_ATTRIBUTES" (every
    `unitsSold` ADD of order_stats, for instance) still invokes the function, which discards it
    without publishing. Values of N attributes are strings in DynamoDB JSON ({"N": "4.5"}), so a
    pattern compares a number's text, not its value. A mapping takes up to 5 patterns by default
    (OR'ed; quota raisable to 10); the fields of one pattern AND. Lambda discards a record no pattern
    matches: it is never retried and never reaches the failure destination. Keys.productId always
    exists on this table: the pattern also keeps the function from publishing anything if it were
    ever mapped to a stream of another table by mistake.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Optional

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import Binary, TypeDeserializer


def _required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the stack sets it)")
    return value


KEY_ATTRIBUTE = "productId"
TOPIC_ARN = _required_env("TOPIC_ARN")
IDEMPOTENCY_TABLE = _required_env("IDEMPOTENCY_TABLE")
RELEVANT_ATTRIBUTES: tuple[str, ...] = tuple(
    dict.fromkeys(a.strip() for a in _required_env("RELEVANT_ATTRIBUTES").split(",") if a.strip())
)

# Lambda event filter patterns (filter criteria syntax) of this function's event source mapping.
# The stack declares the same value (Pulumi.yaml, functions.productEvents.stream.filters); a test
# keeps the two equal.
FILTER_PATTERNS: list[dict[str, Any]] = [
    {"eventName": ["INSERT", "MODIFY", "REMOVE"], "dynamodb": {"Keys": {KEY_ATTRIBUTE: {"S": [{"exists": True}]}}}},
]

EVENT_TYPES = {"INSERT": "ProductCreated", "MODIFY": "ProductChanged", "REMOVE": "ProductRemoved"}
MAX_BATCH_ENTRIES = 10  # PublishBatch
MAX_PAYLOAD_BYTES = 262_144  # SNS: one message, and all messages of one PublishBatch together
IDEMPOTENCY_KEY_PREFIX = "product-events"
IDEMPOTENCY_TTL_SECONDS = 25 * 3600  # > the stream's 24 h retention: every redelivery finds the record
LOCAL_CACHE_ITEMS = 4096  # published records remembered per execution environment
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")

logger = Logger()
tracer = Tracer()
sns = boto3.client("sns")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
idempotency_config = IdempotencyConfig(
    event_key_jmespath="eventID",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    # COMPLETED records are also kept in this environment: Lambda's redelivery of a partly failed
    # batch (usually to the same warm environment) skips the published records without a read.
    use_local_cache=True,
    local_cache_max_items=LOCAL_CACHE_ITEMS,
)
persistence = DynamoDBPersistenceLayer(table_name=IDEMPOTENCY_TABLE)
persistence.configure(idempotency_config, key_prefix=IDEMPOTENCY_KEY_PREFIX)
_deserializer = TypeDeserializer()


# --------------------------------------------------------------------------------------------------
# What changed
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductEvent:
    type: str
    product_id: str
    changes: dict[str, dict[str, Any]]
    sequence_number: str
    event_id: str
    approximate_creation_time: Optional[str]

    def body(self) -> str:
        return json.dumps(
            {
                "type": self.type,
                "productId": self.product_id,
                "changes": self.changes,
                "sequenceNumber": self.sequence_number,
                "eventId": self.event_id,
                "approximateCreationTime": self.approximate_creation_time,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )


def json_value(value: Any) -> Any:
    """A deserialized DynamoDB value as JSON data (see the module docstring for numbers)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (Binary, bytes, bytearray)):
        raw = value.value if isinstance(value, Binary) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return [json_value(v) for v in sorted(value, key=lambda v: v.value if isinstance(v, Binary) else v)]
    if isinstance(value, list):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def image(attributes: Optional[dict[str, Any]]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in (attributes or {}).items()}


def _iso_time(epoch_seconds: Any) -> Optional[str]:
    if epoch_seconds is None:
        return None
    moment = datetime.fromtimestamp(float(epoch_seconds), tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def product_event(record: dict[str, Any], relevant: tuple[str, ...] = RELEVANT_ATTRIBUTES) -> Optional[ProductEvent]:
    """The event to publish for one stream record (Lambda's record format), or None if nothing relevant changed."""
    name = record.get("eventName")
    if name not in EVENT_TYPES:
        raise ValueError(f"record {record.get('eventID')}: unexpected eventName {name!r}")
    stream = record["dynamodb"]
    product_id = image(stream.get("Keys")).get(KEY_ATTRIBUTE)
    if not isinstance(product_id, str):
        raise ValueError(f"record {record.get('eventID')}: no string {KEY_ATTRIBUTE} in Keys (not the products stream?)")
    needs = {"INSERT": ("NewImage",), "MODIFY": ("OldImage", "NewImage"), "REMOVE": ("OldImage",)}[name]
    missing = [n for n in needs if n not in stream]
    if missing:
        raise ValueError(
            f"record {record.get('eventID')}: {name} without {' and '.join(missing)}; the products stream must be NEW_AND_OLD_IMAGES"
        )
    old, new = image(stream.get("OldImage")), image(stream.get("NewImage"))
    changes = {
        attribute: {"old": json_value(old.get(attribute)), "new": json_value(new.get(attribute))}
        for attribute in relevant
        if old.get(attribute) != new.get(attribute)
    }
    if name == "MODIFY" and not changes:
        return None
    return ProductEvent(
        type=EVENT_TYPES[name],
        product_id=product_id,
        changes=changes,
        sequence_number=stream["SequenceNumber"],
        event_id=record["eventID"],
        approximate_creation_time=_iso_time(stream.get("ApproximateCreationDateTime")),
    )


# --------------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------------


class MessageTooLarge(ValueError):
    """The event exceeds what SNS accepts in one message; retrying cannot help."""


class PublishFailed(RuntimeError):
    """SNS did not accept the entry (listed in Failed, or the whole PublishBatch call raised)."""


class RecordInProgress(RuntimeError):
    """Another invocation holds this record's idempotency claim; retried later."""


def entry_id(event_id: str) -> str:
    """PublishBatch entry Id: up to 80 of [A-Za-z0-9_-], derived from the stream record's eventID."""
    return _UNSAFE_ID.sub("_", event_id)[:80] or "_"


def batch_entry(event: ProductEvent) -> dict[str, Any]:
    entry = {
        "Id": entry_id(event.event_id),
        "Message": event.body(),
        "MessageAttributes": {"eventType": {"DataType": "String", "StringValue": event.type}},
    }
    if entry_size(entry) > MAX_PAYLOAD_BYTES:
        raise MessageTooLarge(f"{event.type} of {event.product_id} is {entry_size(entry)} bytes; SNS accepts {MAX_PAYLOAD_BYTES}")
    return entry


def entry_size(entry: dict[str, Any]) -> int:
    """Bytes SNS counts against the payload limit: the message and each attribute's name, type and value."""
    size = len(entry["Message"].encode("utf-8"))
    for name, attribute in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(attribute["DataType"].encode()) + len(attribute["StringValue"].encode())
    return size


@tracer.capture_method
def publish_batch(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One PublishBatch call: entry Id -> MessageId if accepted, else the PublishFailed for it."""
    try:
        response = sns.publish_batch(TopicArn=TOPIC_ARN, PublishBatchRequestEntries=entries)
    except Exception as error:  # the whole call failed: none of its entries is known to be accepted
        logger.warning("PublishBatch call failed", extra={"entries": len(entries)}, exc_info=True)
        return {e["Id"]: PublishFailed(f"PublishBatch call failed: {error}") for e in entries}
    results: dict[str, Any] = {s["Id"]: s["MessageId"] for s in response.get("Successful", [])}
    for failure in response.get("Failed", []):
        results[failure["Id"]] = PublishFailed(
            f"{failure.get('Code')}: {failure.get('Message', '')} (sender fault: {failure.get('SenderFault')})"
        )
    for e in entries:
        results.setdefault(e["Id"], PublishFailed("PublishBatch returned no result for this entry"))
    return results


# --------------------------------------------------------------------------------------------------
# Idempotency: claim -> publish -> settle (see the module docstring)
# --------------------------------------------------------------------------------------------------


def _remaining_millis() -> Optional[int]:
    context = idempotency_config.lambda_context
    return context.get_remaining_time_in_millis() if context is not None else None


def claim(record: dict[str, Any]) -> bool:
    """True: the record is ours to publish (INPROGRESS); False: it was published before (COMPLETED)."""
    try:
        persistence.save_inprogress(data=record, remaining_time_in_millis=_remaining_millis())
        return True
    except IdempotencyItemAlreadyExistsError as exists:
        stored = exists.old_data_record or persistence.get_record(data=record)
        if stored is not None and stored.status == STATUS_CONSTANTS["COMPLETED"]:
            return False
        raise RecordInProgress(f"record {record.get('eventID')} is claimed by another invocation") from exists


def complete(record: dict[str, Any], message_id: str) -> None:
    try:
        persistence.save_success(data=record, result={"messageId": message_id})
    except Exception:
        # Published all the same: the record succeeds. Its claim expires with this invocation, so a
        # later replay of the stream would publish it again (the at-least-once side).
        logger.exception("published, but the idempotency record could not be completed", extra={"eventId": record.get("eventID")})


def release(record: dict[str, Any], error: Exception) -> None:
    try:
        persistence.delete_record(data=record, exception=error)
    except Exception:
        # The claim stays INPROGRESS until this invocation's time is up; a retry after that publishes.
        logger.exception("could not release the idempotency record", extra={"eventId": record.get("eventID")})


@dataclass
class Outcome:
    status: str  # published | already-published | not-relevant | failed
    error: Optional[Exception] = None


@dataclass
class _Chunk:
    records: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0

    def fits(self, entry: dict[str, Any]) -> bool:
        return (
            len(self.entries) < MAX_BATCH_ENTRIES
            and self.size + entry_size(entry) <= MAX_PAYLOAD_BYTES
            and all(e["Id"] != entry["Id"] for e in self.entries)
        )

    def add(self, record: dict[str, Any], entry: dict[str, Any]) -> None:
        self.records.append(record)
        self.entries.append(entry)
        self.size += entry_size(entry)


def _flush(chunk: _Chunk, outcomes: dict[str, Outcome]) -> _Chunk:
    if chunk.entries:
        results = publish_batch(chunk.entries)
        for record, entry in zip(chunk.records, chunk.entries):
            result = results[entry["Id"]]
            if isinstance(result, Exception):
                release(record, result)
                outcomes[record["eventID"]] = Outcome("failed", result)
            else:
                complete(record, result)
                outcomes[record["eventID"]] = Outcome("published")
    return _Chunk()


@tracer.capture_method
def publish_changes(records: list[dict[str, Any]]) -> dict[str, Outcome]:
    """Publish the batch's relevant changes, ten at a time; the outcome of every record by eventID."""
    outcomes: dict[str, Outcome] = {}
    chunk = _Chunk()
    for record in records:
        event_id = record.get("eventID", "")
        try:
            event = product_event(record)
            if event is None:
                outcomes[event_id] = Outcome("not-relevant")
                continue
            entry = batch_entry(event)
            if not chunk.fits(entry):
                chunk = _flush(chunk, outcomes)
            if not claim(record):
                outcomes[event_id] = Outcome("already-published")
                continue
            chunk.add(record, entry)
        except Exception as error:
            outcomes[event_id] = Outcome("failed", error)
    _flush(chunk, outcomes)
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    logger.info("batch processed", extra={"records": len(records), **counts})
    return outcomes


def _report(record: DynamoDBRecord, outcomes: dict[str, Outcome]) -> str:
    """BatchProcessor's record handler: raise for a failed record so it becomes a batch item failure."""
    outcome = outcomes.get(record.event_id or "")
    if outcome is None:
        raise RuntimeError(f"record {record.event_id} was not processed")
    if outcome.error is not None:
        raise outcome.error
    return outcome.status


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency_config.register_lambda_context(context)
    outcomes = publish_changes(event.get("Records", []))
    return process_partial_response(
        event=event,
        record_handler=lambda record: _report(record, outcomes),
        processor=processor,
        context=context,
    )
