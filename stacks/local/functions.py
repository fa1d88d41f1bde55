"""The stack's Lambda functions on the local runtime: the very packages the plan deploys, invoked
in-process with the plan's environment, by the API (proxy routes) and by a stream pump that gives
the handlers DynamoDB stream batches with Lambda's semantics (GOTCHAS L1, L2)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

MARKER = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_LOCK = threading.RLock()  # one invocation at a time: handlers read os.environ


class LocalFunctionError(Exception):
    pass


@dataclass
class FakeContext:
    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    deadline: float = field(default_factory=lambda: time.time() + 30)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


@dataclass
class LocalFunction:
    name: str
    urn: str
    handler: Callable[[Any, Any], Any]
    environment: dict[str, str]
    memory: int

    def invoke(self, event: Any) -> Any:
        with _LOCK:
            saved = {k: os.environ.get(k) for k in self.environment}
            os.environ.update(self.environment)
            try:
                return self.handler(event, FakeContext(self.name, self.memory))
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def _archive_path(code: Any) -> Path:
    if isinstance(code, dict) and "path" in code:
        return Path(code["path"])
    raise LocalFunctionError(f"the function's code is not a file archive in the plan: {code!r}")


def load_package(zip_path: Path, function: str, workdir: Path) -> Callable[[Any, Any], Any]:
    """Unpack the deployed zip and import its handler.lambda_handler under a name of its own."""
    target = workdir / function
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    spec = importlib.util.spec_from_file_location(f"local_fn_{function}_handler", target / "handler.py")
    if spec is None or spec.loader is None:
        raise LocalFunctionError(f"{zip_path}: no handler.py")
    module = importlib.util.module_from_spec(spec)
    before = set(sys.modules)
    sys.modules[spec.name] = module  # dataclasses and typing look the module up while it executes
    before.add(spec.name)
    sys.path.insert(0, str(target))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(target))
        # Sibling modules of this function must not shadow another function's of the same name.
        for name in set(sys.modules) - before:
            path = getattr(sys.modules[name], "__file__", "") or ""
            if path.startswith(str(target)):
                del sys.modules[name]
    return module.lambda_handler


def load_functions(plan: Mapping[str, Any], resolve: Callable[[Mapping[str, Any], str, Any], str], env: Mapping[str, str],
                   overrides: Optional[Mapping[str, str]] = None) -> dict[str, LocalFunction]:
    """Every function of the plan, keyed by URN. `resolve(resource, variable, value)` turns values
    only AWS knows (a topic ARN) into their local counterparts."""
    workdir = Path(tempfile.mkdtemp(prefix="ddb-blueprint-functions-"))
    functions = {}
    for resource in plan["resources"]:
        if resource["type"] != "aws:lambda/function:Function":
            continue
        inputs = resource["inputs"]
        variables = {k: resolve(resource, k, v) for k, v in (inputs.get("environment", {}).get("variables") or {}).items()}
        variables.update(overrides or {})
        with _LOCK:
            saved = dict(os.environ)
            os.environ.update({**env, **variables})
            try:
                handler = load_package(_archive_path(inputs.get("code")), inputs["name"].rsplit("-", 1)[-1], workdir)
            finally:
                os.environ.clear()
                os.environ.update(saved)
        functions[resource["urn"]] = LocalFunction(inputs["name"], resource["urn"], handler, {**env, **variables},
                                                   int(inputs.get("memorySize", 256)))
    return functions


# -- event filters (the subset of Lambda's filter syntax the stack uses) ---------------------------


def matches_filter(pattern: Any, record: Any) -> bool:
    if isinstance(pattern, dict):
        if not isinstance(record, dict):
            return False
        return all(_matches_value(value, record.get(key, _ABSENT)) for key, value in pattern.items())
    return False


_ABSENT = object()


def _matches_value(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return value is not _ABSENT and matches_filter(pattern, value)
    if isinstance(pattern, list):
        for option in pattern:
            if isinstance(option, dict) and "exists" in option:
                if (value is not _ABSENT) == bool(option["exists"]):
                    return True
            elif value is not _ABSENT and value == option:
                return True
        return False
    return value == pattern


# -- the stream pump -------------------------------------------------------------------------------


@dataclass
class StreamMapping:
    function: LocalFunction
    stream_arn: str
    batch_size: int
    max_retries: int
    filters: list[Any]
    failure_queue_url: str


class StreamPump:
    """Polls each mapping's stream and delivers batches as Lambda does: partial batch failures are
    retried from the first failed record (bounded), then their metadata goes to the failure queue."""

    def __init__(self, mappings: list[StreamMapping], streams: Any, sqs: Any, interval: float = 0.2):
        self.mappings = mappings
        self.streams = streams
        self.sqs = sqs
        self.interval = interval
        self._iterators: dict[tuple[int, str], Optional[str]] = {}  # (mapping, shard) -> last sequence number delivered
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pumping = threading.Lock()  # the background thread and a caller's pump_once never interleave
        self.delivered = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stream-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump_once()
            except Exception:  # noqa: BLE001  (keep pumping; the next round retries)
                pass
            self._stop.wait(self.interval)

    def pump_once(self) -> int:
        """Deliver everything currently in the streams; returns the number of records delivered."""
        with self._pumping:
            return self._pump_once()

    def _pump_once(self) -> int:
        total = 0
        for index, mapping in enumerate(self.mappings):
            shards = self.streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"]
            for shard in shards:
                key = (index, shard["ShardId"])
                # A fresh iterator after the last record delivered: moto's iterators keep the shard
                # object, which a cancelled transaction's rollback replaces (moto 5.2).
                after = self._iterators.get(key)
                position = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
                            else {"ShardIteratorType": "TRIM_HORIZON"})
                iterator = self.streams.get_shard_iterator(StreamArn=mapping.stream_arn, ShardId=shard["ShardId"],
                                                           **position)["ShardIterator"]
                response = self.streams.get_records(ShardIterator=iterator, Limit=mapping.batch_size)
                raw = response.get("Records", [])
                if raw:
                    self._iterators[key] = raw[-1]["dynamodb"]["SequenceNumber"]
                records = [lambda_record(r, mapping.stream_arn) for r in raw]
                if mapping.filters:
                    records = [r for r in records if any(matches_filter(p, r) for p in mapping.filters)]
                if records:
                    self._deliver(mapping, shard["ShardId"], records)
                    total += len(records)
        self.delivered += total
        return total

    def _deliver(self, mapping: StreamMapping, shard: str, records: list[dict]) -> None:
        pending = records
        attempts = 0
        while pending:
            try:
                result = mapping.function.invoke({"Records": pending}) or {}
                failures = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except Exception:  # noqa: BLE001  (a failed invocation retries the whole batch)
                failures = {r["dynamodb"]["SequenceNumber"] for r in pending}
            if not failures:
                return
            first = next(i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in failures)
            pending = pending[first:]
            attempts += 1
            if attempts > mapping.max_retries:
                self._to_failure_queue(mapping, shard, pending)
                return

    def _to_failure_queue(self, mapping: StreamMapping, shard: str, records: list[dict]) -> None:
        # Lambda sends metadata, not the records (GOTCHAS L2).
        body = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": mapping.function.name},
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(records),
                "streamArn": mapping.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=mapping.failure_queue_url, MessageBody=json.dumps(body))


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as Lambda hands it to a function: JSON types (the SDK parsed the
    creation time into a datetime; Lambda sends epoch seconds) and the source ARN."""
    def plain(value: Any) -> Any:
        if hasattr(value, "timestamp"):
            return value.timestamp()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {**plain(dict(record)), "eventSourceARN": stream_arn}


def proxy_event(method: str, resource: str, path: str, stage: str, headers: Mapping[str, str], query: Mapping[str, str],
                path_params: Mapping[str, str], body: str, claims: Mapping[str, Any]) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, Cognito-authorized."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(query) or None,
        "pathParameters": dict(path_params) or None,
        "stageVariables": None,
        "body": body or None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "authorizer": {"claims": dict(claims)},
            "identity": {"sourceIp": "127.0.0.1"},
        },
    }
