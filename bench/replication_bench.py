"""Global tables: what replicas cost at preview, and how fast the local replicator moves items.

1. Preview time of the prod stack with 0, 2 and 4 replica regions (in-process, each after a warm-up
   run, best of N): the ratios to 0 regions and the marginal cost per region, which should stay flat
   (linear growth in the number of regions, not faster).
2. Local replication throughput: items written in one region (and spread over three), replicated by
   stacks/local/replication.py to the other regions on one moto server, in items per second.

Run: .venv/bin/python bench/replication_bench.py [--runs 3] [--items 1000]
     .venv/bin/python bench/replication_bench.py --small     (a smoke test in seconds, figures are noise; what CI runs)
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

REGION_SETS = {
    0: [],
    2: ["us-west-2", "eu-west-1"],
    4: ["us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"],
}


def share_dependency_cache(root: Path) -> None:
    """The functions' third-party wheels come from the repo's cache (keyed by the requirements), as
    for a preview in the repo: a cache of its own per copy would make the first preview of each
    copy download and install them with pip, a cost that has nothing to do with replicas."""
    cache = REPO / "build" / "dependencies"
    cache.mkdir(parents=True, exist_ok=True)
    (root / "build").mkdir()
    (root / "build" / "dependencies").symlink_to(cache)


def scratch_project(replicas: list[str], root: Path) -> Path:
    """A copy of the project whose `bench` stack is prod with the given replica regions."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, root / name)
    for name in ("stacks", "policies", "lambdas"):
        (root / name).symlink_to(REPO / name)
    share_dependency_cache(root)
    stack = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
    stack["config"]["ddb-blueprint:replicaRegions"] = replicas
    overrides = stack["config"].get("ddb-blueprint:tableOverrides", {})
    for override in overrides.values():
        override.pop("replicaReadCapacity", None)  # regions differ per run; the table's ranges apply
    (root / "Pulumi.bench.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return root


def preview_times(runs: int, warm_up: bool) -> dict[int, tuple[float, int]]:
    from stacks.offline.preview import preview

    results: dict[int, tuple[float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="replication-bench-") as tmp:  # the copies, their builds and plans: not left behind
        out = Path(tmp) / "out"
        for count, regions in REGION_SETS.items():
            root = Path(tmp) / f"project-{count}"
            root.mkdir()
            scratch_project(regions, root)
            if warm_up:
                preview(root, "bench", out / f"warm{count}")  # imports, packaging of the functions
            best, resources = float("inf"), 0
            for run in range(runs):
                start = time.perf_counter()
                plan = preview(root, "bench", out / f"r{count}-{run}").plan
                best = min(best, time.perf_counter() - start)
                resources = len(plan["resources"])
            results[count] = (best, resources)
    return results


def replication_throughput(items: int) -> dict[str, float]:
    from stacks.local.aws import LocalAws
    from stacks.local.replication import LocalReplicator

    regions = ("us-east-1", "us-west-2", "eu-west-1")
    results: dict[str, float] = {}
    with LocalAws("us-east-1") as aws:
        for label, writers in (("one region writes", regions[:1]), ("three regions write", regions)):
            table = f"bench-{uuid.uuid4().hex[:8]}"
            for region in regions:
                aws.client("dynamodb", region).create_table(
                    TableName=table, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                )
            clients = {r: aws.client("dynamodb", r) for r in writers}
            start = time.perf_counter()
            for i in range(items):
                region = writers[i % len(writers)]
                clients[region].put_item(TableName=table, Item={"id": {"S": f"item-{i}"}, "n": {"N": str(i)}})
            # The server's own pace, for scale: replicating an item takes a read and a write per other region.
            results.setdefault("moto PutItem, for scale", items / (time.perf_counter() - start))
            replicator = LocalReplicator(aws, {table: regions}, "EVENTUAL")
            start = time.perf_counter()
            replicator.quiesce(timeout=600)
            elapsed = time.perf_counter() - start
            check = aws.client("dynamodb", regions[-1]).scan(TableName=table, Select="COUNT")["Count"]
            assert check == items, f"{label}: {check} of {items} items in {regions[-1]}"
            results[label] = items / elapsed
    return results


SMALL_ITEMS = 12  # a smoke test: every region gets items, replication converges


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--small", action="store_true",
                        help=f"one run, no warm-up, {SMALL_ITEMS} items: a smoke test in seconds (figures are noise)")
    args = parser.parse_args()
    runs, items = (1, SMALL_ITEMS) if args.small else (args.runs, args.items)
    if args.small:
        print("small mode: one preview each, no warm-up (the 0-region one also pays the imports), "
              f"{items} items: the figures are noise, not measurements")

    times = preview_times(runs, warm_up=not args.small)
    base = times[0][0]
    for count, (seconds, resources) in times.items():
        print(f"preview prod, {count} replica regions : {seconds:6.3f} s  {resources:4d} resources  = {seconds / base:4.2f}x 0 regions")
    per_region_2 = (times[2][0] - times[0][0]) / 2
    per_region_4 = (times[4][0] - times[2][0]) / 2
    print(f"marginal cost per region             : {per_region_2 * 1000:6.1f} ms (0->2) vs {per_region_4 * 1000:6.1f} ms (2->4)")
    growth = times[4][0] / times[2][0]
    print(f"linear in regions                    : 4 vs 2 regions = {growth:4.2f}x (linear or better: <= (0 + 4k)/(0 + 2k))")

    for label, rate in replication_throughput(items).items():
        unit = "requests/s" if label.startswith("moto") else f"items/s ({items} items to 3 regions)"
        print(f"local replication ({label:19}): {rate:8.1f} {unit}")
    skip_teardown_collection()


def skip_teardown_collection() -> None:
    """All is printed. The interpreter's teardown would still walk what the runs left (the previews'
    resources and outputs, moto's state) for cycles: ~0.7 s of CPU for nothing. Frozen objects are
    not walked."""
    gc.freeze()


if __name__ == "__main__":
    main()
