"""product_events: what PublishBatch buys over one Publish per record, and what the handler costs at cold start.

One run of this script measures, against moto in-process (`mock_aws`):

1. Throughput: the same stream records (moto's own, read with dynamodbstreams; every record a
   relevant change) through the real handler (`lambdas/product_events/handler.py`, PublishBatch of
   up to 10) and through a naive publisher written here only: Powertools' `@idempotent_function`
   around one SNS `publish` per record, the idiom of the Powertools docs. Both use the same change
   computation (the handler's `product_event`), the same Powertools idempotency table and batches of
   100 records; best of --runs, each run with a fresh idempotency table. Reported: records/second and
   SNS / DynamoDB API calls per 1,000 records (counted with botocore `before-call` events). The topic
   has no subscriber, so moto's SQS delivery (a mock cost, the same per message) does not blur the
   comparison. Absolute numbers are moto's, not AWS's: on AWS every call is a network round trip
   (~5-20 ms), so the ratio of SNS calls is what carries over.
2. Cold import: `import handler` in fresh subprocesses, best of --runs, as a ratio to a bare
   `import boto3`, for the handler packaged the way the stack packages it (stacks.packaging:
   handler.py plus `__pycache__/handler.cpython-XY.pyc`, unchecked-hash) and for the source alone
   (`PYTHONDONTWRITEBYTECODE=1`: compiled at every start). `LAMBDA_TASK_ROOT` is set so that the
   Tracer patches botocore as it does in Lambda. Dependencies come from the venv with their own
   bytecode, as the runtime's boto3 and the Powertools layer do (GOTCHAS L6).

Run: .venv/bin/python bench/stream_publisher_bench.py [--records 1000] [--runs 3]
     .venv/bin/python bench/stream_publisher_bench.py --small   (20 records, one run each: a smoke test in seconds; CI runs it)
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "lambdas" / "product_events"
REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",  # GOTCHAS P4
}
RELEVANT = "name,category,price,currency,stock,description"
BATCH = 100
SMALL_RECORDS = 20  # two PublishBatch calls of 10: the handler's batching still runs


class Context:
    function_name = "ddb-blueprint-bench-productEvents"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def load(path: Path, environment: dict[str, str]) -> ModuleType:
    os.environ.update(environment)
    name = f"bench_{path.parent.name}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def count_calls(client: Any, counter: Counter, service: str) -> None:
    client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.*",
                                lambda model, **_: counter.update([f"{service}:{model.name}"]))


def naive_publisher(handler: ModuleType, table: str, topic_arn: str) -> tuple[Callable, list[Any]]:
    """One SNS Publish per record, each wrapped in Powertools' @idempotent_function (bench only)."""
    import boto3
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

    sns = boto3.client("sns")
    persistence = DynamoDBPersistenceLayer(table_name=table)
    config = IdempotencyConfig(event_key_jmespath="eventID", expires_after_seconds=handler.IDEMPOTENCY_TTL_SECONDS)
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    @idempotent_function(data_keyword_argument="record", config=config, persistence_store=persistence)
    def publish_one(record: dict) -> dict:
        event = handler.product_event(record)
        if event is None:
            return {"published": False}
        response = sns.publish(TopicArn=topic_arn, Message=event.body(),
                               MessageAttributes={"eventType": {"DataType": "String", "StringValue": event.type}})
        return {"messageId": response["MessageId"]}

    def lambda_handler(event: dict, context: Any) -> dict:
        config.register_lambda_context(context)
        return process_partial_response(event=event, record_handler=lambda record: publish_one(record=record.raw_event),
                                        processor=processor, context=context)

    return lambda_handler, [sns, persistence.client]


def throughput(records: int, runs: int) -> list[tuple[str, float, float, float]]:
    import boto3
    from moto import mock_aws

    os.environ.update(AWS_ENV)
    results: dict[str, list[tuple[float, Counter]]] = {"PublishBatch (handler)": [], "Publish per record (naive)": []}
    with mock_aws():
        ddb = boto3.client("dynamodb")
        products = ddb.create_table(
            TableName="bench-products", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "productId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "productId", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})["TableDescription"]
        stream_arn = products["LatestStreamArn"]
        topic_arn = boto3.client("sns").create_topic(Name="bench-productChanges")["TopicArn"]
        for i in range(records):  # half creations, half price changes: every record is relevant
            product = f"p-{i // 2:05d}"
            if i % 2 == 0:
                ddb.put_item(TableName="bench-products", Item={
                    "productId": {"S": product}, "name": {"S": f"Product {i}"}, "category": {"S": "tea"},
                    "price": {"N": "4.50"}, "currency": {"S": "EUR"}, "stock": {"N": "10"}, "description": {"S": "x" * 200}})
            else:
                ddb.update_item(TableName="bench-products", Key={"productId": {"S": product}},
                                UpdateExpression="SET price = :p", ExpressionAttributeValues={":p": {"N": "3.99"}})
        streams = boto3.client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        stream: list[dict] = []
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not page["Records"]:
                break
            for r in page["Records"]:
                r["dynamodb"]["ApproximateCreationDateTime"] = r["dynamodb"]["ApproximateCreationDateTime"].timestamp()
                r["eventSourceARN"] = stream_arn
                stream.append(r)
            iterator = page.get("NextShardIterator")
        assert len(stream) == records, len(stream)

        for run in range(runs):
            for variant in results:
                table = f"bench-idempotency-{uuid.uuid4().hex[:12]}"
                ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                 KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
                handler = load(SOURCE / "handler.py", {"TOPIC_ARN": topic_arn, "IDEMPOTENCY_TABLE": table, "RELEVANT_ATTRIBUTES": RELEVANT,
                                                       "POWERTOOLS_SERVICE_NAME": "productEvents", "LOG_LEVEL": "WARNING"})
                if variant.startswith("PublishBatch"):
                    invoke, clients = handler.lambda_handler, [handler.sns, handler.persistence.client]
                else:
                    invoke, clients = naive_publisher(handler, table, topic_arn)
                calls: Counter = Counter()
                for client, service in zip(clients, ("sns", "dynamodb")):
                    count_calls(client, calls, service)
                started = time.perf_counter()
                for i in range(0, records, BATCH):
                    response = invoke({"Records": stream[i : i + BATCH]}, Context())
                    assert response == {"batchItemFailures": []}, response
                results[variant].append((time.perf_counter() - started, calls))
    rows = []
    for variant, measurements in results.items():
        elapsed, calls = min(measurements, key=lambda m: m[0])
        sns_calls = sum(v for k, v in calls.items() if k.startswith("sns:"))
        ddb_calls = sum(v for k, v in calls.items() if k.startswith("dynamodb:"))
        rows.append((variant, records / elapsed, sns_calls * 1000 / records, ddb_calls * 1000 / records))
    return rows


def import_seconds(directory: Path, statement: str, runs: int, extra_env: dict[str, str]) -> float:
    code = f"import sys, time; sys.path.insert(0, '.'); t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}, **AWS_ENV, **extra_env}
    best = float("inf")
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=directory, env=env, check=True, capture_output=True, text=True)
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


def cold_import(runs: int) -> list[tuple[str, float]]:
    sys.path.insert(0, str(REPO))
    from stacks.functions.packaging import build_python_version, package_function

    work = Path(tempfile.mkdtemp(prefix="product-events-bench-"))
    try:
        package = package_function(SOURCE, work / "zip", build_python_version())
        with_pyc, source_only = work / "with-pyc", work / "source-only"
        with zipfile.ZipFile(package.path) as archive:
            archive.extractall(with_pyc)
        source_only.mkdir()
        shutil.copy(SOURCE / "handler.py", source_only / "handler.py")
        handler_env = {"TOPIC_ARN": f"arn:aws:sns:{REGION}:123456789012:t", "IDEMPOTENCY_TABLE": "t", "RELEVANT_ATTRIBUTES": RELEVANT,
                       "POWERTOOLS_SERVICE_NAME": "productEvents", "LOG_LEVEL": "INFO", "PYTHONDONTWRITEBYTECODE": "1",
                       "LAMBDA_TASK_ROOT": str(with_pyc), "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
        bare = import_seconds(work, "import boto3", runs, {"PYTHONDONTWRITEBYTECODE": "1"})
        packaged = import_seconds(with_pyc, "import handler", runs, handler_env)
        compiled_each_time = import_seconds(source_only, "import handler", runs, {**handler_env, "LAMBDA_TASK_ROOT": str(source_only)})
        assert (with_pyc / "__pycache__").is_dir() and not (source_only / "__pycache__").exists()
        return [("import boto3 (bare)", bare), ("import handler, packaged with __pycache__", packaged),
                ("import handler, source only (no __pycache__)", compiled_each_time)]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", action="store_true",
                        help=f"{SMALL_RECORDS} records, one run each: a smoke test in seconds (CI runs it)")
    args = parser.parse_args()
    if args.small:
        args.records, args.runs = SMALL_RECORDS, 1
        print(f"small mode: {args.records} records, one run each, no warm-up (the first publisher also pays "
              "first-call costs): the figures are noise, not measurements")
    import_runs = 1 if args.small else max(args.runs, 5)

    rows = throughput(args.records, args.runs)
    print(f"\nproduct_events publishing, {args.records} relevant stream records, batches of {BATCH}, moto in-process, best of {args.runs}")
    print(f"{'publisher':<30} {'records/s':>10} {'SNS calls/1k':>13} {'DynamoDB calls/1k':>18}")
    for variant, rate, sns_calls, ddb_calls in rows:
        print(f"{variant:<30} {rate:>10.0f} {sns_calls:>13.0f} {ddb_calls:>18.0f}")
    print(f"speed-up {rows[0][1] / rows[1][1]:.2f}x; SNS calls {rows[1][2] / rows[0][2]:.1f}x fewer")

    imports = cold_import(import_runs)
    bare = imports[0][1]
    print(f"\ncold import, fresh subprocesses, best of {import_runs} (Python {sys.version_info.major}.{sys.version_info.minor})")
    print(f"{'import':<46} {'ms':>8} {'x boto3':>8}")
    for label, seconds in imports:
        print(f"{label:<46} {seconds * 1000:>8.1f} {seconds / bare:>8.2f}")
    skip_teardown_collection()


def skip_teardown_collection() -> None:
    """All is printed. The interpreter's teardown would still walk what the runs left (moto's
    tables and streams, the handlers) for cycles: ~0.4 s of CPU for nothing. Frozen objects are not
    walked."""
    gc.freeze()


if __name__ == "__main__":
    main()
