"""`./blueprint replay <stack> <function>`: replay the stream records behind a failure queue's messages.

A stream mapping's failure queue receives metadata, not records (fact L2): the shard, the first and
last sequence numbers of the batch that exhausted its retries, the stream ARN. For each message
this reads those records again from the stream (AT_SEQUENCE_NUMBER from the first, up to the last),
keeps those the mapping's filters pass (Lambda delivered only those), invokes the function with
them in Lambda's event shape, in batches of the mapping's size, and deletes the message only when
every batch succeeded (no exception, no batchItemFailures). Anything else leaves the message in
the queue and is reported: a body that is not a stream batch, a range the stream no longer holds
(records older than its 24-hour retention, or a shard gone), a function that fails again.

Replaying is safe because the handlers are idempotent (L5): records already processed are
recognised (orderStats' markers, productEvents' idempotency records) and change nothing; so is
replaying the same message twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..local.functions import lambda_record, matches_filter

VISIBILITY_SECONDS = 300  # a message being replayed stays invisible to a second replay meanwhile


@dataclass
class Unreplayed:
    message_id: str
    reason: str


@dataclass
class ReplayReport:
    messages: int = 0  # read from the queue
    replayed: int = 0  # messages whose records all succeeded (deleted)
    records: int = 0  # records handed to the function
    failed: list[Unreplayed] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"{self.messages} message(s): {self.replayed} replayed ({self.records} records) and deleted; "
                 f"{len(self.failed)} left in the queue"]
        lines += [f"  not replayed {u.message_id}: {u.reason}" for u in self.failed]
        return "\n".join(lines)


class NotReplayable(Exception):
    pass


def batch_info(body: str) -> dict[str, Any]:
    """The DDBStreamBatchInfo of a failure-queue message body, checked."""
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        for key in ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn"):
            if not isinstance(info[key], str) or not info[key]:
                raise KeyError(key)
        return info
    except (ValueError, KeyError, TypeError) as error:
        raise NotReplayable(f"not a DynamoDB stream batch record (DDBStreamBatchInfo with shardId, sequence numbers, "
                            f"streamArn): {type(error).__name__} {error}") from None


def read_range(streams: Any, info: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of the shard from startSequenceNumber to endSequenceNumber, in Lambda's shape."""
    start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                              ShardIteratorType="AT_SEQUENCE_NUMBER",
                                              SequenceNumber=info["startSequenceNumber"])["ShardIterator"]
    except Exception as error:  # TrimmedDataAccessException, ResourceNotFoundException, ValidationException
        raise NotReplayable(f"the stream no longer holds {info['shardId']} from {info['startSequenceNumber']} "
                            f"(past its retention?): {type(error).__name__}") from None
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return records
            records.append(lambda_record(record, info["streamArn"]))
        if not page.get("Records"):
            break
        iterator = page.get("NextShardIterator")
    if not records or int(records[0]["dynamodb"]["SequenceNumber"]) != start:
        raise NotReplayable(f"the stream no longer holds the batch's first record {info['startSequenceNumber']} (past its retention?)")
    if int(records[-1]["dynamodb"]["SequenceNumber"]) != end:
        raise NotReplayable(f"the stream holds the batch only up to {records[-1]['dynamodb']['SequenceNumber']}, not its last "
                            f"record {info['endSequenceNumber']}")
    return records


def replay(*, sqs: Any, streams: Any, queue_url: str, invoke: Callable[[dict[str, Any]], Any],
           filters: Optional[list[dict[str, Any]]] = None, batch_size: int = 100,
           printer: Callable[[str], None] = print) -> ReplayReport:
    """Replay every message of the failure queue; `invoke(event)` returns the function's response."""
    report = ReplayReport()
    seen: set[str] = set()
    while True:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=VISIBILITY_SECONDS,
                                       WaitTimeSeconds=0)
        messages = [m for m in received.get("Messages", []) if m["MessageId"] not in seen]
        if not messages:
            return report
        for message in messages:
            seen.add(message["MessageId"])
            report.messages += 1
            try:
                count = _replay_one(message["Body"], streams, invoke, filters or [], batch_size)
            except NotReplayable as why:
                report.failed.append(Unreplayed(message["MessageId"], str(why)))
                printer(f"not replayed {message['MessageId']}: {why}")
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            report.replayed += 1
            report.records += count
            printer(f"replayed {message['MessageId']}: {count} record(s); message deleted")


def _replay_one(body: str, streams: Any, invoke: Callable[[dict[str, Any]], Any], filters: list[dict[str, Any]],
                batch_size: int) -> int:
    info = batch_info(body)
    records = [r for r in read_range(streams, info) if not filters or any(matches_filter(p, r) for p in filters)]
    for i in range(0, len(records), batch_size):
        batch = records[i : i + batch_size]
        try:
            response = invoke({"Records": batch})
        except Exception as error:
            raise NotReplayable(f"the function failed again: {type(error).__name__}: {error}") from None
        failures = [f.get("itemIdentifier") for f in (response or {}).get("batchItemFailures") or []]
        if failures:
            raise NotReplayable(f"the function failed again for {len(failures)} record(s), first {failures[0]}; "
                                "records before it succeeded and are not redone by the next replay's idempotent handler")
    return len(records)


def lambda_invoker(lambda_client: Any, function: str) -> Callable[[dict[str, Any]], Any]:
    """Invoke a deployed function synchronously; a function error raises."""
    def invoke(event: dict[str, Any]) -> Any:
        answer = lambda_client.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode())
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            raise RuntimeError(f"{answer['FunctionError']}: {json.dumps(payload)[:300]}")
        return payload
    return invoke
