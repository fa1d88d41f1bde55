"""DAX: how many reads reach the table, and what the DAX client costs the reader function.

1. Calls reaching the table per 1,000 reads of a skewed workload, with and without the cache.
   Reads follow a Zipf distribution (s=1.1 by default) over the products: GetItem by productId and
   Query by category (the two routes the readers serve), in the proportion --query-share. Time
   advances --rate reads per second on a simulated clock, so the TTLs (the parameter-group
   defaults, 5 minutes, D7) expire as they would. "With" goes through the local DAX stand-in
   (stacks/local/dax.py: DAX's item and query caches over moto); "without" reads moto directly.
   The table is moto in-process; what carries over to AWS is the ratio, not the latency.
2. The reader's package and cold start with the DAX client, as ratios to the same function
   without it: zip size (stacks.functions.packaging + dependencies, exactly what the stack deploys)
   and the time to import the handler plus `amazondax` (what the first invocation of an execution
   environment pays) in fresh interpreters, best of --runs, against importing the handler alone.

Run: python bench/dax_bench.py [--small]   (--small: 200 reads over 50 products, one import run each: a smoke test in seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import zipfile
from bisect import bisect_left
from itertools import accumulate
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "lambdas")]

from stacks.functions.dependencies import with_dependencies  # noqa: E402
from stacks.functions.packaging import build_python_version, package_function  # noqa: E402
from stacks.local.dax import LocalDaxCache  # noqa: E402
from stream_fixtures import model_table_request  # noqa: E402

TABLE = "bench-products"
SMALL_MODE = "a smoke test: 200 reads over 50 products, one import run each; the figures are noise"
READER = REPO / "lambdas" / "dax_reader"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingTable:
    """The table client, counting the requests that reach it."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, 0

    def get_item(self, **request):
        self.calls += 1
        return self.client.get_item(**request)

    def query(self, **request):
        self.calls += 1
        return self.client.query(**request)

    def describe_table(self, **request):
        return self.client.describe_table(**request)


def zipf_sampler(n: int, s: float, rng: random.Random):
    cumulative = list(accumulate(1 / (rank ** s) for rank in range(1, n + 1)))
    total = cumulative[-1]
    return lambda: bisect_left(cumulative, rng.random() * total)


def workload(reads: int, products: int, categories: int, s: float, query_share: float, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    product, category = zipf_sampler(products, s, rng), zipf_sampler(categories, s, rng)
    return [("query", category()) if rng.random() < query_share else ("get", product()) for _ in range(reads)]


def run_reads(reader, ops: list[tuple[str, int]], clock: Clock, rate: float) -> None:
    for i, (kind, n) in enumerate(ops):
        clock.now = i / rate
        if kind == "get":
            reader.get_item(TableName=TABLE, Key={"productId": {"S": f"p-{n:05d}"}})
        else:
            reader.query(TableName=TABLE, IndexName="byCategory", KeyConditionExpression="category = :c",
                         ExpressionAttributeValues={":c": {"S": f"c-{n:03d}"}}, Limit=20)


def table_calls(args: argparse.Namespace) -> dict:
    import boto3
    from moto import mock_aws

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**model_table_request("products", TABLE))  # the data model's products table
        for i in range(args.products):
            client.put_item(TableName=TABLE, Item={"productId": {"S": f"p-{i:05d}"}, "category": {"S": f"c-{i % args.categories:03d}"},
                                                   "name": {"S": f"product {i:05d}"}, "price": {"N": str(1 + i % 50)}})
        ops = workload(args.reads, args.products, args.categories, args.zipf, args.query_share, args.seed)
        direct = CountingTable(client)
        run_reads(direct, ops, Clock(), args.rate)
        clock = Clock()
        backend = CountingTable(client)
        cache = LocalDaxCache(backend, item_ttl_ms=args.ttl_ms, query_ttl_ms=args.ttl_ms, clock=clock)
        run_reads(cache, ops, clock, args.rate)
    per_thousand = 1000 / args.reads
    return {
        "reads": args.reads, "zipf_s": args.zipf, "products": args.products, "categories": args.categories,
        "query_share": args.query_share, "reads_per_second": args.rate, "ttl_ms": args.ttl_ms,
        "table_calls_per_1000_without_cache": round(direct.calls * per_thousand, 1),
        "table_calls_per_1000_with_cache": round(backend.calls * per_thousand, 1),
        "item_cache_hit_rate": round(cache.stats.item_hits / max(1, cache.stats.item_hits + cache.stats.item_misses), 3),
        "query_cache_hit_rate": round(cache.stats.query_hits / max(1, cache.stats.query_hits + cache.stats.query_misses), 3),
    }


IMPORT_PROBE = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
start = time.perf_counter()
import handler
if sys.argv[2] == "client":
    import amazondax
print(time.perf_counter() - start)
"""


def cold_imports(bare: Path, full: Path, runs: int) -> tuple[float, float]:
    """Best of `runs` fresh interpreters each, alternating, so both see the same machine load."""
    best = {"bare": float("inf"), "client": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"bare": Path(tmp) / "bare", "client": Path(tmp) / "client"}
        for kind, package in (("bare", bare), ("client", full)):
            with zipfile.ZipFile(package) as archive:
                archive.extractall(dirs[kind])
        env = {**os.environ, "ROUTE": json.dumps({"operation": "GetItem", "key": {}, "fields": []}),
               "TABLE_NAME": TABLE, "DAX_ENDPOINT": "daxs://bench.example", "PYTHONDONTWRITEBYTECODE": "1"}
        for _ in range(runs):
            for kind in ("bare", "client"):
                out = subprocess.run([sys.executable, "-c", IMPORT_PROBE, str(dirs[kind]), kind],
                                     env=env, capture_output=True, text=True, check=True)
                best[kind] = min(best[kind], float(out.stdout.strip()))
    return best["bare"], best["client"]


def package_costs(runs: int) -> dict:
    runtime = build_python_version()
    with tempfile.TemporaryDirectory() as tmp:
        bare = package_function(READER, Path(tmp), runtime)
        full = with_dependencies(bare, READER, Path(tmp), REPO / "build" / "dependencies", runtime)
        bare_size, full_size = bare.path.stat().st_size, full.path.stat().st_size
        bare_import, full_import = cold_imports(bare.path, full.path, runs)
    return {
        "package_bytes_without_client": bare_size, "package_bytes_with_client": full_size,
        "package_size_ratio": round(full_size / bare_size, 1),
        "cold_import_seconds_without_client": round(bare_import, 4), "cold_import_seconds_with_client": round(full_import, 4),
        "cold_import_ratio": round(full_import / bare_import, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help=f"what CI runs, {SMALL_MODE}")
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--categories", type=int, default=50)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--query-share", type=float, default=0.2)
    parser.add_argument("--rate", type=float, default=50.0, help="reads per simulated second")
    parser.add_argument("--ttl-ms", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    results: dict = {}
    if args.small:
        args.reads, args.products, args.runs = 200, 50, 1
        results["small_mode"] = SMALL_MODE  # said in the output: a reader of the JSON alone must not take it for figures
    results.update({"table_calls": table_calls(args), "package": package_costs(args.runs)})
    print(json.dumps(results, indent=2))
    calls = results["table_calls"]
    return 0 if calls["table_calls_per_1000_with_cache"] < calls["table_calls_per_1000_without_cache"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
