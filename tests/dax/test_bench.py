"""bench/dax_bench.py --small, as CI runs it (its only run: tests/bench leaves it to this test): the
lines tests/bench expects, the cache cutting the calls reaching the table on a Zipf workload, and the
package and import costs of the DAX client measured as ratios."""

import json

from tests.bench.test_bench_small import run_small


def test_small_benchmark_runs_and_the_cache_cuts_table_calls():
    results = json.loads(run_small("dax_bench.py"))
    calls = results["table_calls"]
    assert calls["table_calls_per_1000_without_cache"] == 1000.0
    assert calls["table_calls_per_1000_with_cache"] < 500  # a skewed workload mostly hits the caches
    package = results["package"]
    assert package["package_bytes_with_client"] > package["package_bytes_without_client"]
    assert package["package_size_ratio"] > 1 and package["cold_import_ratio"] > 0
