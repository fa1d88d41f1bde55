"""bench/dax_bench.py --small, as CI runs it: the cache cuts the calls reaching the table on a Zipf
workload, and the package and import costs of the DAX client are measured as ratios."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_small_benchmark_runs_and_the_cache_cuts_table_calls():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "dax_bench.py"), "--small"],
                         capture_output=True, text=True, timeout=300, check=True)
    results = json.loads(out.stdout)
    calls = results["table_calls"]
    assert calls["table_calls_per_1000_without_cache"] == 1000.0
    assert calls["table_calls_per_1000_with_cache"] < 500  # a skewed workload mostly hits the caches
    package = results["package"]
    assert package["package_bytes_with_client"] > package["package_bytes_without_client"]
    assert package["package_size_ratio"] > 1 and package["cold_import_ratio"] > 0
