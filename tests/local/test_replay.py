"""Replay of failed stream records (stacks/operations/replay.py) on the local runtime: orderStats
fails on purpose until every batch lands in its failure queue (metadata only, L2); the replay re-reads
the records from the stream, recovers every one, and replaying again changes nothing (L5)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from stacks.local.runtime import LocalRuntime, seed_catalogue
from stacks.operations.replay import batch_info, replay

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def runtime(tmp_path, reference_preview):
    with LocalRuntime(REPO, "dev", tmp_path, from_plan=reference_preview("dev").plan) as running:
        seed_catalogue(running)
        yield running


def order_stats(runtime):
    [mapping] = [m for m in runtime.pump.mappings if m.function.name.endswith("-orderStats")]
    return mapping


_SQS = {}


def queued(runtime, queue_url) -> int:
    sqs = _SQS.setdefault(id(runtime), runtime._aws.client("sqs"))  # one client: creating one per poll starves the pump
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def counters(runtime) -> Counter:
    items = runtime.dynamodb().scan(TableName=runtime.table_name("productSales"), ConsistentRead=True)["Items"]
    return Counter({i["productId"]["S"]: int(i["unitsSold"]["N"]) for i in items})


def place_orders(runtime, orders: list[list[tuple[str, int]]], wave: int = 0) -> Counter:
    expected = Counter()
    for n, lines in enumerate(orders):
        runtime.dynamodb().put_item(TableName=runtime.table_name("orders"), Item={
            "userId": {"S": f"u-{n % 3}"}, "orderId": {"S": f"o-{wave}-{n:03d}"}, "status": {"S": "PLACED"},
            "items": {"L": [{"M": {"productId": {"S": p}, "quantity": {"N": str(q)}, "price": {"N": "10"}}} for p, q in lines]}})
        for p, q in lines:
            expected[p] += q
    return expected


def wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_replay_recovers_every_failed_record_and_replaying_twice_changes_nothing(runtime):  # L2, L5
    mapping = order_stats(runtime)
    sqs, streams = runtime._aws.client("sqs"), runtime._aws.client("dynamodbstreams")
    working = mapping.function.handler
    # GIVEN orderStats failing on every invocation (injected), and 12 orders placed in 3 waves, so
    # several batches exhaust their retries and land in the failure queue as metadata
    mapping.function.handler = lambda event, context: (_ for _ in ()).throw(RuntimeError("injected failure"))
    expected = Counter()
    for wave in range(3):
        expected += place_orders(runtime, [[(f"b-{(wave * 4 + i) % 7 + 1:03d}", i + 1), ("g-001", 1)] for i in range(4)], wave)
        wait_for(lambda w=wave: queued(runtime, mapping.failure_queue_url) >= w + 1)
    wait_for(lambda: runtime.pump.pump_once() == 0)
    assert counters(runtime) == Counter()
    peek = sqs.receive_message(QueueUrl=mapping.failure_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    bodies = [m["Body"] for m in peek]
    assert len(bodies) >= 3 and all(batch_info(b)["streamArn"] == mapping.stream_arn for b in bodies)
    assert all("Records" not in json.loads(b) for b in bodies)  # metadata only (L2)

    # WHEN the function works again and the queue is replayed
    mapping.function.handler = working
    lines: list[str] = []
    report = replay(sqs=sqs, streams=streams, queue_url=mapping.failure_queue_url, invoke=mapping.function.invoke,
                    filters=mapping.filters, batch_size=mapping.batch_size, printer=lines.append)
    # THEN every record is recovered, every message deleted
    assert (report.messages, report.replayed, report.failed) == (len(bodies), len(bodies), []), report.render()
    assert report.records == 12
    assert counters(runtime) == expected
    assert queued(runtime, mapping.failure_queue_url) == 0

    # WHEN the same messages are replayed again (an operator runs it twice, or they were redelivered)
    for body in bodies:
        sqs.send_message(QueueUrl=mapping.failure_queue_url, MessageBody=body)
    again = replay(sqs=sqs, streams=streams, queue_url=mapping.failure_queue_url, invoke=mapping.function.invoke,
                   filters=mapping.filters, batch_size=mapping.batch_size, printer=lines.append)
    # THEN they succeed and change nothing; an empty queue replays nothing
    assert (again.replayed, again.failed) == (len(bodies), [])
    assert counters(runtime) == expected
    empty = replay(sqs=sqs, streams=streams, queue_url=mapping.failure_queue_url, invoke=mapping.function.invoke,
                   filters=mapping.filters)
    assert (empty.messages, empty.records) == (0, 0)
    assert counters(runtime) == expected


def test_what_cannot_be_replayed_is_reported_and_left_in_the_queue(runtime):
    mapping = order_stats(runtime)
    sqs, streams = runtime._aws.client("sqs"), runtime._aws.client("dynamodbstreams")
    place_orders(runtime, [[("b-001", 1)]])
    wait_for(lambda: counters(runtime) == Counter({"b-001": 1}))
    shard = streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    gone = {"DDBStreamBatchInfo": {"shardId": "shardId-00000000000000000000-gone0000", "startSequenceNumber": "100",
                                   "endSequenceNumber": "200", "batchSize": 1, "streamArn": mapping.stream_arn}}
    trimmed = {"DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": "1", "endSequenceNumber": "2",
                                      "batchSize": 2, "streamArn": mapping.stream_arn}}
    for body in (gone, trimmed, {"note": "not a batch"}):
        sqs.send_message(QueueUrl=mapping.failure_queue_url, MessageBody=json.dumps(body))
    report = replay(sqs=sqs, streams=streams, queue_url=mapping.failure_queue_url, invoke=mapping.function.invoke,
                    filters=mapping.filters, printer=lambda line: None)
    reasons = sorted(u.reason for u in report.failed)
    assert (report.messages, report.replayed, len(reasons)) == (3, 0, 3), report.render()
    assert reasons[0].startswith("not a DynamoDB stream batch record")
    assert all("no longer holds" in r for r in reasons[1:]), reasons
    assert queued(runtime, mapping.failure_queue_url) == 3  # left for the operator
    assert counters(runtime) == Counter({"b-001": 1})


def test_a_function_that_fails_again_leaves_the_message(runtime):
    mapping = order_stats(runtime)
    sqs, streams = runtime._aws.client("sqs"), runtime._aws.client("dynamodbstreams")
    working = mapping.function.handler
    mapping.function.handler = lambda event, context: (_ for _ in ()).throw(RuntimeError("injected failure"))
    place_orders(runtime, [[("b-002", 2)]])
    wait_for(lambda: queued(runtime, mapping.failure_queue_url) == 1)
    report = replay(sqs=sqs, streams=streams, queue_url=mapping.failure_queue_url, invoke=mapping.function.invoke,
                    filters=mapping.filters, printer=lambda line: None)
    assert report.replayed == 0 and "the function failed again: RuntimeError: injected failure" in report.failed[0].reason
    mapping.function.handler = working
    # The message is back after its visibility timeout; made visible now to finish the story.
    message = sqs.receive_message(QueueUrl=mapping.failure_queue_url, MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=0)
    assert message.get("Messages") or queued(runtime, mapping.failure_queue_url) == 1


def test_the_cli_names_the_stream_functions_when_given_another(tmp_path, capsys):
    from stacks.__main__ import main

    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"region": "us-east-1", "functions": {"placeOrder": "arn:aws:lambda:us-east-1:1:function:x"}}))
    assert main(["replay", "dev", "placeOrder", "--outputs", str(outputs), "--out", str(tmp_path)]) == 2
    assert "ddb-blueprint-dev-placeOrder is not invoked by a stream; functions with a failure queue: orderStats, productEvents" in capsys.readouterr().err


def test_the_cli_reads_filters_and_batch_size_from_the_plan(reference_preview):
    from stacks.__main__ import stream_mapping

    plan = reference_preview("dev").plan
    assert stream_mapping(plan, "ddb-blueprint-dev-orderStats") == {"filters": [{"eventName": ["INSERT"]}], "batchSize": 100}


def test_a_deployed_function_error_fails_the_replay_of_its_message():
    import io

    from stacks.operations.replay import lambda_invoker

    class FakeLambda:  # the Invoke API's answer for a handler that raised
        def invoke(self, **kwargs):
            return {"StatusCode": 200, "FunctionError": "Unhandled",
                    "Payload": io.BytesIO(b'{"errorMessage": "boom", "errorType": "RuntimeError"}')}

    with pytest.raises(RuntimeError, match="Unhandled: .*boom"):
        lambda_invoker(FakeLambda(), "arn:aws:lambda:us-east-1:123456789012:function:f")({"Records": []})
