"""Global tables on the local runtime: moto has none (P5), so each replica is a table of the same
name in its region on the same moto server, and this replicator keeps them in step from their
streams, with the semantics AWS documents:

- EVENTUAL (MREC, T14): asynchronous, item by item, last writer wins. A write is replicated once it
  is `lag_seconds` old; concurrent writes of one item in several regions converge on the write with
  the latest timestamp (the stream record's ApproximateCreationDateTime; equal timestamps are
  ordered by region name so every replica picks the same one). A write that loses is overwritten
  in its own region, like a losing write in AWS, and counted in `stats.conflicts`.
- STRONG (MRSC, T10/T13): synchronous. Every write request to the local server is followed, before
  its response is sent, by a flush that applies it to every other region, so a read anywhere after
  the write returns sees it. A write to an item that a request in another region is still writing
  is rejected with ReplicatedWriteConflictException, as AWS does (T18; retry-safe, HTTP 409). Writes
  through PartiQL are not checked for conflicts.

Replicated writes are applied with ordinary PutItem/DeleteItem calls, so they appear in the target
region's stream as they do in AWS (T15: every replica's stream carries writes from every region).
The replicator recognises those records (the image it wrote) and does not replicate them back.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

REPLICATOR_HEADER = "X-Local-Replicator"
WRITE_ACTIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement",
                           "BatchExecuteStatement", "ExecuteTransaction"})


def canonical(value: Any) -> str:
    """A stable text form of an item image (or of keys), so images compare by content."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Write:
    """One write observed in a region's stream (not one the replicator made)."""

    table: str
    region: str
    keys: Mapping[str, Any]
    image: Optional[Mapping[str, Any]]  # NewImage; None for a delete (REMOVE)
    at: float  # epoch seconds of the stream record
    sequence: int = 0  # position in its region's stream, to order writes with equal timestamps in one region

    @property
    def key(self) -> str:
        return canonical(self.keys)

    @property
    def order(self) -> tuple[float, str, int]:
        return (self.at, self.region, self.sequence)


def last_writer(current: Optional[Write], incoming: Write) -> Write:
    """Per-item last writer wins (T14): the later timestamp; ties by region name, then stream order."""
    return incoming if current is None or incoming.order > current.order else current


@dataclass
class Stats:
    observed: int = 0  # local writes seen in the streams
    applied: int = 0  # writes made in other regions
    conflicts: int = 0  # writes that lost to a later one
    echoes: int = 0  # stream records of the replicator's own writes (not replicated again)
    rejected: int = 0  # STRONG: writes refused because another region was writing the item (T18)


@dataclass
class _Stream:
    table: str
    region: str
    arn: str
    # shard id -> sequence number of the last record read. A fresh iterator per read: moto's iterators
    # hold the shard object, which a cancelled transaction's rollback replaces (moto 5.2).
    last_sequence: dict[str, str] = field(default_factory=dict)
    shards: list[str] = field(default_factory=list)


class LocalReplicator:
    """Replicates the copies of each global table. `tables`: physical name -> regions (home first).

    Use `quiesce()` to wait until every replica holds the winning version of every item.
    """

    def __init__(self, aws: Any, tables: Mapping[str, Sequence[str]], mode: str = "EVENTUAL", lag_seconds: float = 0.0,
                 interval: float = 0.05, clock: Callable[[], float] = time.time):
        if mode not in ("EVENTUAL", "STRONG"):
            raise ValueError(f"mode must be EVENTUAL or STRONG, got {mode!r}")
        self.aws = aws
        self.tables = {name: tuple(regions) for name, regions in tables.items() if len(regions) > 1}
        self.mode = mode
        self.lag_seconds = 0.0 if mode == "STRONG" else lag_seconds
        self.interval = interval
        self.clock = clock
        self.stats = Stats()
        self._lock = threading.RLock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._streams: list[_Stream] = []
        self._waiting: list[Write] = []
        self._winners: dict[tuple[str, str], Write] = {}
        # (table, region, key) -> order of the newest version that region is known to hold
        self._held: dict[tuple[str, str, str], tuple[float, str, int]] = {}
        self._echoes: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._hook: Optional[Any] = None
        # STRONG: items being written, (table, key) -> (region, requests), until their flush is done
        self._in_flight: dict[tuple[str, str], tuple[str, int]] = {}
        self._in_flight_lock = threading.Lock()
        self._key_names: dict[str, tuple[str, ...]] = {}

    # clients -----------------------------------------------------------------------------------

    def _client(self, service: str, region: str) -> Any:
        client = self._clients.get((service, region))
        if client is None:
            client = self._clients[(service, region)] = self.aws.client(service, region)
            # Marks the replicator's own requests, so the STRONG hook does not flush inside them.
            client.meta.events.register("before-sign.*.*", _mark_replicator_request)
        return client

    def _open_streams(self) -> None:
        if self._streams:
            return
        for table, regions in sorted(self.tables.items()):
            for region in regions:
                description = self._client("dynamodb", region).describe_table(TableName=table)["Table"]
                arn = description.get("LatestStreamArn")
                if not arn:
                    raise ValueError(f"table {table} in {region} has no stream; replication reads the streams (T1)")
                self._streams.append(_Stream(table, region, arn))

    # reading -----------------------------------------------------------------------------------

    def _read(self, stream: _Stream) -> list[dict[str, Any]]:
        client = self._client("dynamodbstreams", stream.region)
        if not stream.shards:  # a local table keeps its one shard
            stream.shards = [s["ShardId"] for s in client.describe_stream(StreamArn=stream.arn)["StreamDescription"]["Shards"]]
        records: list[dict[str, Any]] = []
        for shard_id in stream.shards:
            after = stream.last_sequence.get(shard_id)
            position = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
                        else {"ShardIteratorType": "TRIM_HORIZON"})
            iterator = client.get_shard_iterator(StreamArn=stream.arn, ShardId=shard_id, **position)["ShardIterator"]
            while iterator:
                response = client.get_records(ShardIterator=iterator, Limit=1000)
                batch = response.get("Records", [])
                if not batch:
                    break
                records += batch
                stream.last_sequence[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
                iterator = response.get("NextShardIterator") if len(batch) == 1000 else None
        return records

    def _observe(self, stream: _Stream, record: dict[str, Any]) -> Optional[Write]:
        data = record["dynamodb"]
        image = data.get("NewImage") if record["eventName"] != "REMOVE" else None
        key = canonical(data["Keys"])
        pending = self._echoes.get((stream.table, stream.region, key))
        shown = canonical(image)
        if pending and shown in pending:
            pending.remove(shown)
            self.stats.echoes += 1
            return None
        stamp = data["ApproximateCreationDateTime"]
        at = stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)
        self.stats.observed += 1
        return Write(stream.table, stream.region, data["Keys"], image, at, int(data.get("SequenceNumber", 0)))

    # applying ----------------------------------------------------------------------------------

    def _apply(self, write: Write, region: str) -> None:
        """Make `region` hold `write`, unless it holds the same or a newer version (LWW per replica):
        a replica never goes back to an older version of an item."""
        slot = (write.table, region, write.key)
        if self._held.get(slot, (float("-inf"),)) >= write.order:
            return
        ddb = self._client("dynamodb", region)
        current = ddb.get_item(TableName=write.table, Key=dict(write.keys), ConsistentRead=True).get("Item")
        if canonical(current) == canonical(write.image):
            self._held[slot] = write.order
            return
        echo = canonical(write.image)
        self._echoes[(write.table, region, write.key)].append(echo)
        # Only over the version just read: a local write landing in between is newer and wins; its
        # stream record settles it everywhere. (Lists and maps are not compared by the condition.)
        condition = _unchanged(write.keys, current)
        try:
            if write.image is None:
                ddb.delete_item(TableName=write.table, Key=dict(write.keys), **condition)
            else:
                ddb.put_item(TableName=write.table, Item=dict(write.image), **condition)
        except ddb.exceptions.ConditionalCheckFailedException:
            self._echoes[(write.table, region, write.key)].remove(echo)
            return
        self._held[slot] = write.order
        self.stats.applied += 1

    def _settle(self, write: Write) -> None:
        slot = (write.table, write.key)
        winner = last_writer(self._winners.get(slot), write)
        if winner is not write:
            self.stats.conflicts += 1  # lost: its region gets the winner back
            self._apply(winner, write.region)
            return
        self._winners[slot] = write
        for region in self.tables[write.table]:
            self._apply(write, region)

    def _ingest(self, stream: _Stream) -> int:
        """Read a stream's new records: the replicator's own writes are recognised, the rest wait."""
        records = self._read(stream)
        for record in records:
            write = self._observe(stream, record)
            if write is not None:
                self._waiting.append(write)
                slot = (write.table, write.region, write.key)
                self._held[slot] = max(self._held.get(slot, write.order), write.order)
        return len(records)

    # driving -----------------------------------------------------------------------------------

    def pump_once(self, flush: bool = False) -> int:
        """Read every stream once and replicate what is due. Returns how many new records were read."""
        with self._lock:
            self._open_streams()
            read = sum(self._ingest(stream) for stream in self._streams)
            now = self.clock()
            due = sorted((w for w in self._waiting if flush or w.at + self.lag_seconds <= now), key=lambda w: w.order)
            if due:
                self._waiting = [w for w in self._waiting if w not in due]
                for write in due:
                    self._settle(write)
            return read

    def quiesce(self, timeout: float = 30.0) -> None:
        """Replicate everything now (ignoring the lag) until no stream has anything new."""
        deadline = time.monotonic() + timeout
        while True:
            read = self.pump_once(flush=True)
            with self._lock:
                idle = read == 0 and not self._waiting and not any(self._echoes.values())
            if idle:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("replication did not settle")

    def pending(self) -> int:
        with self._lock:
            return len(self._waiting)

    def start(self) -> "LocalReplicator":
        if self.mode == "STRONG":
            self._install_sync_hook()
        self._thread = threading.Thread(target=self._run, name="local-replicator", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.pump_once()
            except Exception:  # noqa: BLE001 - the server may be stopping; the next pass retries
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._remove_sync_hook()

    def __enter__(self) -> "LocalReplicator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # STRONG: replicate before the writer gets its answer ------------------------------------------

    def _install_sync_hook(self) -> None:
        from moto.dynamodb.responses import DynamoHandler

        original = DynamoHandler.call_action
        replicator = self

        def call_action(handler: Any) -> Any:
            action = (handler.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
            if action not in WRITE_ACTIONS or handler.headers.get(REPLICATOR_HEADER):
                return original(handler)
            claims = replicator._claim(handler.region, written_items(action, _body(handler), replicator._keys_of))
            if claims is None:
                return _conflict_response()
            try:
                result = original(handler)
                replicator.pump_once(flush=True)
                return result
            finally:
                replicator._release(claims)

        self._hook = (original, call_action)
        DynamoHandler.call_action = call_action  # type: ignore[method-assign]

    def _keys_of(self, table: str) -> Optional[tuple[str, ...]]:
        """The key attribute names of a replicated table (None for a table that is not replicated)."""
        if table not in self.tables:
            return None
        if table not in self._key_names:
            schema = self._client("dynamodb", self.tables[table][0]).describe_table(TableName=table)["Table"]["KeySchema"]
            self._key_names[table] = tuple(k["AttributeName"] for k in schema)
        return self._key_names[table]

    def _claim(self, region: str, items: list[tuple[str, str]]) -> Optional[list[tuple[str, str]]]:
        """Mark `items` as being written from `region`; None if another region is writing one of them."""
        with self._in_flight_lock:
            if any(self._in_flight.get(item, (region, 0))[0] != region for item in items):
                self.stats.rejected += 1
                return None
            for item in items:
                self._in_flight[item] = (region, self._in_flight.get(item, (region, 0))[1] + 1)
            return items

    def _release(self, items: list[tuple[str, str]]) -> None:
        with self._in_flight_lock:
            for item in items:
                region, count = self._in_flight[item]
                if count > 1:
                    self._in_flight[item] = (region, count - 1)
                else:
                    del self._in_flight[item]

    def _remove_sync_hook(self) -> None:
        if self._hook is None:
            return
        from moto.dynamodb.responses import DynamoHandler

        original, installed = self._hook
        if DynamoHandler.call_action is installed:
            DynamoHandler.call_action = original  # type: ignore[method-assign]
        self._hook = None


def written_items(action: str, body: Mapping[str, Any],
                  keys_of: Callable[[str], Optional[Sequence[str]]]) -> list[tuple[str, str]]:
    """(table, canonical key) of every item a write request changes, in replicated tables only
    (`keys_of` gives a table's key attribute names, None when it is not replicated)."""
    writes: list[tuple[str, Mapping[str, Any]]] = []  # (table, item or key)
    if action in ("PutItem", "UpdateItem", "DeleteItem"):
        writes.append((body.get("TableName", ""), body.get("Item") or body.get("Key") or {}))
    elif action == "BatchWriteItem":
        for table, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                put, delete = request.get("PutRequest"), request.get("DeleteRequest")
                writes.append((table, (put or {}).get("Item") or (delete or {}).get("Key") or {}))
    elif action == "TransactWriteItems":
        for entry in body.get("TransactItems") or []:
            for kind in ("Put", "Update", "Delete"):
                if kind in entry:
                    writes.append((entry[kind].get("TableName", ""), entry[kind].get("Item") or entry[kind].get("Key") or {}))
    items = []
    for table, attributes in writes:
        names = keys_of(table)
        if names is not None:
            items.append((table, canonical({name: attributes.get(name) for name in names})))
    return sorted(set(items))


def _body(handler: Any) -> Mapping[str, Any]:
    try:
        body = json.loads(handler.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _conflict_response() -> tuple[int, dict[str, Any], str]:
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException",
                       "message": "The request was rejected because one or more items in the request are being "
                                  "modified by a request in another Region."})
    # 409: the status botocore's retry rules expect with this error (its data/_retry.json), so SDK
    # clients retry it here as they do against AWS
    return 409, {"status": 409, "Content-Type": "application/x-amz-json-1.0"}, body


def _unchanged(keys: Mapping[str, Any], current: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """A condition that holds while the item is still `current` (scalar attributes compared)."""
    if current is None:
        return {"ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": next(iter(keys))}}
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts: list[str] = []
    for i, (name, value) in enumerate(sorted(current.items())):
        if next(iter(value)) in ("L", "M"):
            continue  # lists and maps: the stream re-check before the write covers them
        names[f"#a{i}"], values[f":v{i}"] = name, value
        parts.append(f"#a{i} = :v{i}")
    return {"ConditionExpression": " AND ".join(parts), "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values}


def _mark_replicator_request(request: Any, **_: Any) -> None:
    request.headers[REPLICATOR_HEADER] = "1"


def replicated_tables(plan: Mapping[str, Any]) -> dict[str, tuple[tuple[str, ...], str]]:
    """From a plan: table physical name -> (regions home first, consistency mode), global tables only."""
    home = (plan.get("outputs") or {}).get("region") or "us-east-1"
    found: dict[str, tuple[tuple[str, ...], str]] = {}
    for resource in plan.get("resources", []):
        if resource["type"] != "aws:dynamodb/table:Table":
            continue
        replicas = resource["inputs"].get("replicas") or []
        if replicas:
            modes = {r.get("consistencyMode", "EVENTUAL") for r in replicas}
            found[resource["inputs"]["name"]] = ((home, *[r["regionName"] for r in replicas]), modes.pop() if len(modes) == 1 else "EVENTUAL")
    return found


def replicator_for_plan(aws: Any, plan: Mapping[str, Any], lag_seconds: float = 0.0) -> Optional[LocalReplicator]:
    tables = replicated_tables(plan)
    if not tables:
        return None
    modes = {mode for _, mode in tables.values()}
    mode = "STRONG" if modes == {"STRONG"} else "EVENTUAL"
    return LocalReplicator(aws, {name: regions for name, (regions, _) in tables.items()}, mode, lag_seconds)
