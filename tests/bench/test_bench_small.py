"""Every benchmark under bench/ runs in its small mode, so a broken benchmark fails CI.

Each script is run once, as a user runs it (a fresh interpreter, `--small`), must exit 0 and print
the lines that carry its ratios: here, or by the test RUN_BY names, which also checks its figures.
The numbers themselves are not judged here: the machine is shared and one small run is noise; the
README quotes full runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NUMBER = r"\d+(\.\d+)?"
# What each benchmark must print: one pattern per line that carries a measured ratio.
EXPECTED: dict[str, list[str]] = {
    "preview_bench.py": [
        rf"^bare import pulumi, pulumi_aws +: wall +{NUMBER} s +cpu +{NUMBER} s$",
        rf"^preview prod \(\d+ resources\) +: wall +{NUMBER} s +cpu +{NUMBER} s$",
        rf"^prod / bare import +: {NUMBER}x wall, {NUMBER}x cpu \(target < 3x: wall (met|NOT met), cpu (met|NOT met)\)$",
        rf"^floor: import the \d+ provider modules prod uses: wall +{NUMBER} s +cpu +{NUMBER} s +=  ?{NUMBER}x the bare import \(cpu\)$",
        rf"^prod / floor +: {NUMBER}x wall, {NUMBER}x cpu \(the preview's own work: +-?\d+ ms cpu, +-?{NUMBER} ms per resource\)$",
        rf"^preview +10 tables \( *\d+ resources\): wall +{NUMBER} s +cpu +{NUMBER} s$",
        rf"^40 / 10 tables +: {NUMBER}x wall, {NUMBER}x cpu \({NUMBER}x the resources\)$",
        rf"^marginal cost \(10->40 tables, cpu\): +-?{NUMBER} ms per table, +-?{NUMBER} ms per resource$",
        rf"^linearity \(cpu per resource\) +: +-?{NUMBER} ms \(10->20\) vs +-?{NUMBER} ms \(20->40\) = +-?({NUMBER}|inf)$",
    ],
    "counter_invocations_bench.py": [
        r"^before +\d+ +\d+ +[\d.]+ +\d+ +\d+",
        r"^after +0 +0 +0\.0 +0 +0",
    ],
    "dax_bench.py": [
        r'"package_size_ratio": [\d.]+',
        r'"cold_import_ratio": [\d.]+',
        r'"query_cache_hit_rate": [\d.]+',
    ],
    "replication_bench.py": [
        rf"^preview prod, 0 replica regions : +{NUMBER} s +\d+ resources",
        rf"^preview prod, 4 replica regions : +{NUMBER} s +\d+ resources",
        rf"^linear in regions +: 4 vs 2 regions = {NUMBER}x",
        rf"^local replication \(one region writes +\): +{NUMBER} items/s",
    ],
    "stream_publisher_bench.py": [
        rf"^PublishBatch \(handler\) +{NUMBER} +{NUMBER} +{NUMBER}$",
        rf"^Publish per record \(naive\) +{NUMBER} +{NUMBER} +{NUMBER}$",
        rf"^speed-up {NUMBER}x; SNS calls {NUMBER}x fewer$",
        rf"^import handler, packaged with __pycache__ +{NUMBER} +{NUMBER}$",
    ],
}
SCRIPTS = sorted(p.name for p in (REPO / "bench").glob("*.py"))
# Scripts whose one small run is made by the test named here, which also checks what the figures show
# (through run_small, so the lines above are asserted too): a second run here would only cost time.
RUN_BY: dict[str, str] = {"dax_bench.py": "tests/dax/test_bench.py"}


def run_small(script: str) -> str:
    """bench/<script> --small as a user runs it (a fresh interpreter); exit 0, EXPECTED's lines; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), "--small"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for pattern in EXPECTED[script]:
        assert any(re.search(pattern, line) for line in lines), f"{script} printed no line matching {pattern}:\n{done.stdout}"
    return done.stdout


def test_every_benchmark_has_expected_output_here():
    assert sorted(EXPECTED) == SCRIPTS, "add the lines a new benchmark must print to EXPECTED"


def test_benchmarks_run_elsewhere_are_run_there():
    for script, test in RUN_BY.items():
        assert f'run_small("{script}")' in (REPO / test).read_text(encoding="utf-8"), f"{test} no longer runs {script}"


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s not in RUN_BY])
def test_benchmark_runs_in_its_small_mode(script: str):
    run_small(script)
