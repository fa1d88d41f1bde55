"""Fixtures of the stream consumers' tests (product_events, order_stats), against moto in-process.

- `shop` fixture: `mock_aws` with the tables built from Pulumi.yaml's data model the way the stack
  builds them (key schema, GSIs, streams, TTL; physical names from stacks.naming), the productChanges
  topic with an SQS queue subscribed (raw message delivery) to observe what was published, and the
  environment (dummy credentials, region, `AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`, GOTCHAS P4).
- `load_handler`: lambdas/<function>/handler.py loaded by path under a unique module name (never the
  bare `handler`, which every function has), with its environment set first: each load is a fresh
  execution environment whose module-scope clients are bound to the mock.
- `read_stream`: moto's own stream through `dynamodbstreams` (DescribeStream, GetShardIterator,
  GetRecords), each record wrapped as Lambda delivers it (eventSourceARN, epoch-seconds time).
- `passes_filters`: a small matcher for the subset of Lambda's filter syntax FILTER_PATTERNS use
  (nested objects; lists of exact values, OR'ed; `{"exists": bool}`). Anything else raises.
- `EventSourceMapping`: Lambda's stream poller as far as retry semantics go (GOTCHAS L1, L2).
- `FakeLambdaContext`: the attributes Powertools reads.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Optional

import boto3
import pytest
import yaml
from moto import mock_aws

from handlers import fresh_handler
from stacks.tables.model import TableModel
from stacks.naming import physical_table_name

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"  # moto's stream records always say us-east-1
ACCOUNT = "123456789012"
PROJECT, STACK = "ddb-blueprint", "test"
TABLES = {name: physical_table_name(PROJECT, STACK, name) for name in ("products", "orders", "idempotency", "productSales")}
RELEVANT_ATTRIBUTES = "name,category,price,currency,stock,description"
# Never inherited from the developer's shell: they would send calls elsewhere or change behaviour.
CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SNS",
           "POWERTOOLS_IDEMPOTENCY_DISABLED", "POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_LOG_LEVEL",
           "AWS_LAMBDA_LOG_LEVEL", "LAMBDA_TASK_ROOT")


@functools.lru_cache(maxsize=2)
def _parsed(text: str) -> Any:
    # Parsing Pulumi.yaml takes ~0.1 s and callers ask for it many times; keyed by the text, so an
    # edited file is parsed again.
    return yaml.safe_load(text)


def project_config(key: str) -> Any:
    """A model key of Pulumi.yaml as it is now, the caller's own copy."""
    project = _parsed((REPO / "Pulumi.yaml").read_text())
    return copy.deepcopy(project["config"][f"ddb-blueprint:{key}"]["value"])


def declared_filters(function: str) -> list[dict[str, Any]]:
    """The filter patterns the stack gives a function's event source mapping (Pulumi.yaml)."""
    return project_config("functions")["functions"][function]["stream"]["filters"]


def create_table_request(name: str, model: TableModel) -> dict[str, Any]:
    """CreateTable for one table of the model, as stacks.table_spec.table_args declares it."""
    def schema(hash_keys: list[str], range_keys: list[str]) -> list[dict[str, str]]:
        return [{"AttributeName": a, "KeyType": "HASH"} for a in hash_keys] + [
            {"AttributeName": a, "KeyType": "RANGE"} for a in range_keys]

    request: dict[str, Any] = {
        "TableName": TABLES.get(name, physical_table_name(PROJECT, STACK, name)),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in sorted(model.attributes.items())],
        "KeySchema": schema([model.partitionKey], [model.sortKey] if model.sortKey else []),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if model.globalIndexes:
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": index, "KeySchema": schema(g.partition_attributes, g.sort_attributes),
             "Projection": {"ProjectionType": g.projection, **({"NonKeyAttributes": g.nonKeyAttributes} if g.projection == "INCLUDE" else {})}}
            for index, g in sorted(model.globalIndexes.items())
        ]
    if model.localIndexes:
        request["LocalSecondaryIndexes"] = [
            {"IndexName": index, "KeySchema": schema([model.partitionKey], [lsi.sortKey]), "Projection": {"ProjectionType": lsi.projection}}
            for index, lsi in sorted(model.localIndexes.items())
        ]
    if model.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": model.stream}
    return request


# --------------------------------------------------------------------------------------------------
# The mocked account
# --------------------------------------------------------------------------------------------------


@dataclass
class Shop:
    ddb: Any
    streams: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    stream_arns: dict[str, str]
    published: list[dict[str, Any]] = field(default_factory=list)  # every message received so far

    def table(self, name: str) -> str:
        return TABLES[name]

    def drain(self) -> list[dict[str, Any]]:
        """Messages published since the last drain: {"body": parsed JSON, "attributes": {name: value}}."""
        new: list[dict[str, Any]] = []
        while True:
            received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                MessageAttributeNames=["All"], WaitTimeSeconds=0)
            messages = received.get("Messages", [])
            if not messages:
                break
            for m in messages:
                new.append({"body": json.loads(m["Body"]),
                            "attributes": {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}})
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        for message in new:  # every message any test sees keeps the event contract
            assert_event_contract(message)
        self.published.extend(new)
        return new

    def idempotency_items(self) -> list[dict[str, Any]]:
        pages = self.ddb.get_paginator("scan").paginate(TableName=TABLES["idempotency"], ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]


def model_table_request(name: str, table_name: str) -> dict[str, Any]:
    """CreateTable for table `name` of the project's data model (keys, indexes, stream), named `table_name`."""
    return {**create_table_request(name, TableModel(**project_config("tables")[name])), "TableName": table_name}


@pytest.fixture
def aws_environment(monkeypatch) -> None:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",  # GOTCHAS P4
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def shop(aws_environment) -> Iterator[Shop]:
    with mocked_shop() as created:
        yield created


@contextlib.contextmanager
def mocked_shop() -> Iterator[Shop]:
    """The stack's tables (keys, streams, TTL as the model declares), the topic and an observer
    queue in moto's in-process mock; for the tests (`shop`) and bench/counter_invocations_bench.py."""
    models = {name: TableModel(**spec) for name, spec in project_config("tables").items()}
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        stream_arns = {}
        for name in TABLES:
            description = ddb.create_table(**create_table_request(name, models[name]))["TableDescription"]
            if models[name].ttlAttribute:
                ddb.update_time_to_live(TableName=TABLES[name], TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": models[name].ttlAttribute})
            if "LatestStreamArn" in description:
                stream_arns[name] = description["LatestStreamArn"]
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name=f"{PROJECT}-{STACK}-productChanges")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="product-changes-observer")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        yield Shop(ddb=ddb, streams=boto3.client("dynamodbstreams", region_name=REGION), sns=sns, sqs=sqs,
                   topic_arn=topic_arn, queue_url=queue_url, stream_arns=stream_arns)


def function_environment(function: str, shop: Shop) -> dict[str, str]:
    """What the stack sets (stacks/components/functions.py `_environment`), with the mock's names."""
    name = {"product_events": "productEvents", "order_stats": "orderStats"}[function]
    common = {"POWERTOOLS_SERVICE_NAME": name, "LOG_LEVEL": "INFO",
              "AWS_LAMBDA_FUNCTION_NAME": f"{PROJECT}-{STACK}-{name}"}
    if function == "product_events":
        return {**common, "TOPIC_ARN": shop.topic_arn, "IDEMPOTENCY_TABLE": TABLES["idempotency"],
                "RELEVANT_ATTRIBUTES": RELEVANT_ATTRIBUTES}
    return {**common, "PRODUCTS_TABLE": TABLES["products"], "SALES_TABLE": TABLES["productSales"],
            "IDEMPOTENCY_TABLE": TABLES["idempotency"]}


def load_handler(function: str, monkeypatch, environment: dict[str, str]) -> ModuleType:
    """A fresh load of lambdas/<function>/handler.py (a new execution environment)."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return fresh_handler(function)


@dataclass
class FakeLambdaContext:
    function_name: str = f"{PROJECT}-{STACK}-function"
    memory_limit_in_mb: int = 256
    timeout_ms: int = 30_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


# --------------------------------------------------------------------------------------------------
# Stream reading, Lambda's record format, filters
# --------------------------------------------------------------------------------------------------


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it: eventSourceARN added, the creation time in epoch seconds."""
    out = copy.deepcopy(record)
    created = out["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        out["dynamodb"]["ApproximateCreationDateTime"] = created.timestamp()
    out["eventSourceARN"] = stream_arn
    return out


def read_stream(shop: Shop, table: str, *, iterator_type: str = "TRIM_HORIZON", start: Optional[str] = None,
                end: Optional[str] = None) -> list[dict[str, Any]]:
    """Every record of the table's stream from the given position (up to `end` inclusive), in Lambda's format."""
    arn = shop.stream_arns[table]
    records: list[dict[str, Any]] = []
    for shard in shop.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        kwargs = {"SequenceNumber": start} if start is not None else {}
        iterator = shop.streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                                   ShardIteratorType=iterator_type, **kwargs)["ShardIterator"]
        limit = 1000 if start is None or end is None else max(1, min(1000, int(end) - int(start) + 1))
        while iterator:
            page = shop.streams.get_records(ShardIterator=iterator, Limit=limit)
            if not page["Records"]:
                break
            for record in page["Records"]:
                if end is not None and int(record["dynamodb"]["SequenceNumber"]) > int(end):
                    return records
                records.append(lambda_record(record, arn))
            iterator = page.get("NextShardIterator")
    return records


def shard_of(shop: Shop, table: str) -> str:
    shards = shop.streams.describe_stream(StreamArn=shop.stream_arns[table])["StreamDescription"]["Shards"]
    assert len(shards) == 1, "moto keeps one shard per stream"
    return shards[0]["ShardId"]


def matches(pattern: dict[str, Any], data: Any) -> bool:
    """Lambda event filtering, for the subset FILTER_PATTERNS use: nested objects; a list of exact
    values (any of them) or of {"exists": true|false}. Other operators raise NotImplementedError."""
    for key, rule in pattern.items():
        present = isinstance(data, dict) and key in data
        value = data[key] if present else None
        if isinstance(rule, dict):
            if not matches(rule, value if isinstance(value, dict) else {}):
                return False
        elif isinstance(rule, list):
            if not any(_matches_one(option, present, value) for option in rule):
                return False
        else:
            raise ValueError(f"filter pattern leaf {key!r} must be a list or an object, not {rule!r}")
    return True


def _matches_one(option: Any, present: bool, value: Any) -> bool:
    if isinstance(option, dict):
        if set(option) == {"exists"}:
            return present == bool(option["exists"]) and not isinstance(value, dict)
        raise NotImplementedError(f"filter operator {option!r} is outside the subset this matcher implements")
    if not present:
        return False
    return option in value if isinstance(value, list) else value == option


def passes_filters(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """A record invokes the function when it matches any pattern (no patterns: every record)."""
    return not patterns or any(matches(p, record) for p in patterns)


# --------------------------------------------------------------------------------------------------
# Lambda's event source mapping, simulated
# --------------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    invocations: int = 0
    retries: int = 0
    delivered: int = 0  # records handed to the function, retries included
    failures: list[dict[str, Any]] = field(default_factory=list)  # what the on-failure destination receives
    read: list[dict[str, Any]] = field(default_factory=list, repr=False)  # every record read, filtered out or not


class EventSourceMapping:
    """Lambda polling one stream shard, as far as retries go (GOTCHAS L1, L2):

    - records the filter patterns reject never reach the function (checkpointed as processed);
    - batches of up to `batch_size` matching records, in shard order;
    - with ReportBatchItemFailures, Lambda checkpoints before the failed record with the lowest
      sequence number and retries from there: that record and those after it in the batch are
      redelivered; a function error (exception) or an unknown identifier fails the whole batch;
    - after `maximum_retry_attempts` retries of a batch, the on-failure destination receives the
      invocation record Lambda sends: metadata only (DDBStreamBatchInfo: shard, first and last
      sequence numbers, batch size, stream ARN), never the records; the mapping moves on.
    """

    def __init__(self, shop: Shop, table: str, handler: Callable[[dict, Any], Any], filters: list[dict[str, Any]], *,
                 batch_size: int = 100, maximum_retry_attempts: int = 2, timeout_ms: int = 30_000,
                 after_invocation: Optional[Callable[[], Any]] = None):
        self.shop, self.table, self.handler, self.filters = shop, table, handler, filters
        self.after_invocation = after_invocation  # e.g. shop.drain: moto's SQS slows down as messages pile up
        self.batch_size, self.maximum_retry_attempts, self.timeout_ms = batch_size, maximum_retry_attempts, timeout_ms

    def poll(self, *, iterator_type: str = "TRIM_HORIZON", start: Optional[str] = None, end: Optional[str] = None) -> DeliveryReport:
        report = DeliveryReport()
        shard = shard_of(self.shop, self.table)
        report.read = read_stream(self.shop, self.table, iterator_type=iterator_type, start=start, end=end)
        records = [r for r in report.read if passes_filters(self.filters, r)]
        for i in range(0, len(records), self.batch_size):
            self._deliver(shard, records[i : i + self.batch_size], report)
        return report

    def replay(self, failure: dict[str, Any]) -> DeliveryReport:
        """What an operator does with a failure-queue message: re-read its range and invoke again."""
        info = failure["DDBStreamBatchInfo"]
        return self.poll(iterator_type="AT_SEQUENCE_NUMBER", start=info["startSequenceNumber"], end=info["endSequenceNumber"])

    def _deliver(self, shard: str, batch: list[dict[str, Any]], report: DeliveryReport) -> None:
        pending, retries = batch, 0
        while True:
            report.invocations += 1
            report.delivered += len(pending)
            failed_at = self._invoke(pending)
            if failed_at is None:
                return
            pending = pending[failed_at:]
            if retries == self.maximum_retry_attempts:
                report.failures.append(self._failure_record(shard, pending, retries + 1))
                return
            retries += 1
            report.retries += 1

    def _invoke(self, records: list[dict[str, Any]]) -> Optional[int]:
        """Position of the first record to redeliver, or None when the batch succeeded."""
        context = FakeLambdaContext(timeout_ms=self.timeout_ms)
        try:
            response = self.handler({"Records": copy.deepcopy(records)}, context)
        except Exception:
            return 0
        finally:
            if self.after_invocation is not None:
                self.after_invocation()
        failures = (response or {}).get("batchItemFailures") or []
        if not failures:
            return None
        positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
        identifiers = [f.get("itemIdentifier") for f in failures]
        if any(i not in positions for i in identifiers):
            return 0
        return min(positions[i] for i in identifiers)

    def _failure_record(self, shard: str, records: list[dict[str, Any]], invocations: int) -> dict[str, Any]:
        def iso(epoch: float) -> str:
            return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")

        return {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f",
                               "condition": "RetryAttemptsExhausted", "approximateInvokeCount": invocations},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
            "version": "1.0",
            "timestamp": iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(records[0]["dynamodb"]["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": iso(records[-1]["dynamodb"]["ApproximateCreationDateTime"]),
                "batchSize": len(records),
                "streamArn": self.shop.stream_arns[self.table],
            },
        }


EVENT_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "contracts" / "product-events.schema.json").read_text())


def assert_event_contract(message: dict[str, Any]) -> None:
    """A received message (raw delivery) keeps contracts/product-events.schema.json: its body, its
    message attributes (the ones subscription filter policies use), and eventType == type."""
    import jsonschema

    jsonschema.Draft202012Validator(EVENT_SCHEMA).validate(message["body"])
    attributes_schema = {**EVENT_SCHEMA["$defs"]["messageAttributes"], "$defs": EVENT_SCHEMA["$defs"]}
    jsonschema.Draft202012Validator(attributes_schema).validate(message["attributes"])
    assert message["attributes"]["eventType"] == message["body"]["type"]
