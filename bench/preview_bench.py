"""Offline preview speed: prod wall time vs bare `import pulumi, pulumi_aws`, and 10 vs 100 tables.

Each measurement is a fresh process (what a developer waits for), best of N runs to damp noise.
Run: .venv/bin/python bench/preview_bench.py [--runs 5]
Targets (issue 2): prod preview under 3x the bare import; growth from 10 to 100 tables near-linear.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def best_of(runs: int, command: list[str], cwd: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(cwd)})
        times.append(time.perf_counter() - start)
    return min(times)


def generated_project(tables: int, root: Path) -> Path:
    """A copy of the project whose model holds `tables` tables shaped like the reference ones."""
    for name in ("__main__.py",):
        shutil.copy(REPO / name, root / name)
    for name in ("stacks", "policies"):
        (root / name).symlink_to(REPO / name)
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    reference = project["config"]["ddb-blueprint:tables"]["value"]
    shapes = list(reference.values())
    project["config"]["ddb-blueprint:tables"]["value"] = {
        f"table{i:03d}": copy.deepcopy(shapes[i % len(shapes)]) for i in range(tables)
    }
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (root / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": {"aws:region": "us-east-1"}}))
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    out = Path(tempfile.mkdtemp())
    bare = best_of(args.runs, [python, "-c", "import pulumi, pulumi_aws"], REPO)
    prod = best_of(args.runs, [python, "-m", "stacks", "preview", "prod", "--out", str(out)], REPO)
    sizes = {}
    for count in (10, 50, 100):
        root = generated_project(count, Path(tempfile.mkdtemp()))
        sizes[count] = best_of(args.runs, [python, "-m", "stacks", "preview", "bench", "--out", str(out)], root)
    per_table_10 = sizes[10] / 10
    marginal = (sizes[100] - sizes[10]) / 90
    print(f"bare import pulumi, pulumi_aws : {bare:6.3f} s")
    print(f"preview prod (22 resources)    : {prod:6.3f} s  = {prod / bare:4.2f}x bare import (target < 3x)")
    print(f"preview 10 tables              : {sizes[10]:6.3f} s")
    print(f"preview 50 tables              : {sizes[50]:6.3f} s")
    print(f"preview 100 tables             : {sizes[100]:6.3f} s  = {sizes[100] / sizes[10]:4.2f}x the 10-table time")
    print(f"marginal cost per table        : {marginal * 1000:6.1f} ms (10-table average incl. startup {per_table_10 * 1000:.1f} ms)")
    # Near-linear: the marginal cost per table between 10 and 50 matches the one between 50 and 100.
    first, second = (sizes[50] - sizes[10]) / 40, (sizes[100] - sizes[50]) / 50
    print(f"linearity                      : {first * 1000:.1f} ms/table (10->50) vs {second * 1000:.1f} ms/table (50->100)")


if __name__ == "__main__":
    main()
