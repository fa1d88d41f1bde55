"""A DAX-like cache in front of moto: moto has no DAX data plane, so the local runtime puts this
between the reader functions and the local DynamoDB, behind the client interface the functions use
in AWS (`amazondax.AmazonDaxClient`'s low-level, DynamoDB-shaped methods). The handler code is the
same: its factory (lambdas/dax_reader/dax_client.py) asks the LOCAL_HOOK module registered here
for a client when DAX_ENDPOINT is `local-dax://<cluster>`.

Semantics modelled on DAX's (D7):
- item cache (GetItem): filled on a miss, expires after the record TTL; writes through the cache
  (PutItem, UpdateItem, DeleteItem) go to the table first, then update the item cache;
- query cache (Query, Scan): keyed by the whole request, expires after the query TTL, and is NOT
  invalidated by any write;
- strongly consistent reads pass through to the table and are not cached.
Not modelled: LRU eviction by size, negative caching of misses, BatchGetItem/BatchWriteItem and
transactions (they raise, so nothing silently bypasses the cache semantics).
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

LOCAL_HOOK = "ddb_blueprint_local_dax"  # the name lambdas/dax_reader/dax_client.py imports
LOCAL_SCHEME = "local-dax://"


@dataclass
class CacheStats:
    item_hits: int = 0
    item_misses: int = 0
    query_hits: int = 0
    query_misses: int = 0
    passthrough: int = 0  # strongly consistent reads
    writes: int = 0
    table_calls: int = 0  # every request that reached the table

    @property
    def reads(self) -> int:
        return self.item_hits + self.item_misses + self.query_hits + self.query_misses + self.passthrough

    @property
    def hit_rate(self) -> float:
        return (self.item_hits + self.query_hits) / self.reads if self.reads else 0.0


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class LocalDaxCache:
    """One cluster: its item and query caches over a DynamoDB client (boto3 against moto)."""

    table: Any  # a DynamoDB low-level client
    item_ttl_ms: int
    query_ttl_ms: int
    clock: Callable[[], float] = time.monotonic
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        # (table, key) -> request variant (projection etc.) -> (expiry in ms, response)
        self._items: dict[tuple[str, str], dict[str, tuple[float, dict]]] = {}
        self._queries: dict[str, tuple[float, dict]] = {}
        self._lock = threading.RLock()

    def _call(self, operation: str, request: Mapping[str, Any]) -> dict:
        self.stats.table_calls += 1
        return getattr(self.table, operation)(**request)

    def _now_ms(self) -> float:
        return self.clock() * 1000

    # -- reads ---------------------------------------------------------------------------------

    def get_item(self, **request: Any) -> dict:
        with self._lock:
            if request.get("ConsistentRead"):
                self.stats.passthrough += 1
                return self._call("get_item", request)
            key = self._item_key(request["TableName"], request["Key"])
            variant = _canonical({k: v for k, v in request.items() if k not in ("TableName", "Key")})
            cached = self._items.get(key, {}).get(variant)
            if cached and cached[0] > self._now_ms():
                self.stats.item_hits += 1
                return copy.deepcopy(cached[1])
            self.stats.item_misses += 1
            response = self._call("get_item", request)
            if "Item" in response:
                self._items.setdefault(key, {})[variant] = (self._now_ms() + self.item_ttl_ms, self._plain(response))
            return response

    def _query_cache(self, operation: str, request: Mapping[str, Any]) -> dict:
        with self._lock:
            if request.get("ConsistentRead"):
                self.stats.passthrough += 1
                return self._call(operation, request)
            key = _canonical({"operation": operation, **request})
            cached = self._queries.get(key)
            if cached and cached[0] > self._now_ms():
                self.stats.query_hits += 1
                return copy.deepcopy(cached[1])
            self.stats.query_misses += 1
            response = self._call(operation, request)
            self._queries[key] = (self._now_ms() + self.query_ttl_ms, self._plain(response))
            return response

    def query(self, **request: Any) -> dict:
        return self._query_cache("query", request)

    def scan(self, **request: Any) -> dict:
        return self._query_cache("scan", request)

    # -- writes: through to the table, then the item cache (never the query cache) ----------------

    @staticmethod
    def _item_key(table: str, key: Mapping[str, Any]) -> tuple[str, str]:
        return (table, _canonical(key))

    def _remember(self, table: str, key: Mapping[str, Any], item: Mapping[str, Any] | None) -> None:
        """After a write: the item as written (projections of the old one dropped), or nothing."""
        cache_key = self._item_key(table, key)
        self._items.pop(cache_key, None)
        if item is not None:
            self._items[cache_key] = {_canonical({}): (self._now_ms() + self.item_ttl_ms, {"Item": copy.deepcopy(dict(item))})}

    def _key_of(self, table: str, item: Mapping[str, Any]) -> dict:
        schema = self.table.describe_table(TableName=table)["Table"]["KeySchema"]
        return {k["AttributeName"]: item[k["AttributeName"]] for k in schema}

    def put_item(self, **request: Any) -> dict:
        with self._lock:
            self.stats.writes += 1
            response = self._call("put_item", request)
            self._remember(request["TableName"], self._key_of(request["TableName"], request["Item"]), request["Item"])
            return response

    def update_item(self, **request: Any) -> dict:
        with self._lock:
            self.stats.writes += 1
            asked = request.get("ReturnValues", "NONE")
            response = self._call("update_item", {**request, "ReturnValues": "ALL_NEW"})
            self._remember(request["TableName"], request["Key"], response.get("Attributes"))
            if asked == "ALL_NEW":
                return response
            # What the caller asked for other than ALL_NEW is not derivable here: report none.
            return {k: v for k, v in response.items() if k != "Attributes"}

    def delete_item(self, **request: Any) -> dict:
        with self._lock:
            self.stats.writes += 1
            response = self._call("delete_item", request)
            self._remember(request["TableName"], request["Key"], None)
            return response

    @staticmethod
    def _plain(response: Mapping[str, Any]) -> dict:
        return copy.deepcopy({k: v for k, v in response.items() if k != "ResponseMetadata"})

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the local DAX stand-in does not model {name}; see stacks/local/dax.py")


def install_hook(caches: Mapping[str, LocalDaxCache]) -> types.ModuleType:
    """Register the module the reader's client factory imports for `local-dax://<cluster>`."""
    module = types.ModuleType(LOCAL_HOOK, "The local runtime's DAX stand-in (stacks/local/dax.py).")

    def client(endpoint: str, region: Any = None) -> LocalDaxCache:
        name = endpoint.removeprefix(LOCAL_SCHEME)
        if name not in caches:
            raise LookupError(f"no local DAX cluster {name!r} (clusters: {', '.join(sorted(caches)) or 'none'})")
        return caches[name]

    module.client = client  # type: ignore[attr-defined]
    sys.modules[LOCAL_HOOK] = module
    return module


def plan_clusters(plan: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each DAX cluster of a plan: its urn and TTLs (from its parameter group)."""
    resources = plan["resources"]
    by_urn = {r["urn"]: r for r in resources}
    clusters = {}
    for r in resources:
        if r["type"] != "aws:dax/cluster:Cluster":
            continue
        ttl = {"record-ttl-millis": 300_000, "query-ttl-millis": 300_000}
        for urn in (r.get("propertyDependencies") or {}).get("parameterGroupName", []):
            for parameter in by_urn[urn]["inputs"].get("parameters", []):
                ttl[parameter["name"]] = int(parameter["value"])
        clusters[r["inputs"]["clusterName"]] = {"urn": r["urn"], "item_ttl_ms": ttl["record-ttl-millis"],
                                                "query_ttl_ms": ttl["query-ttl-millis"]}
    return clusters
