"""The tour on a stack that enables DAX (staging: the smallest cluster): the product reads go through
the reader functions and the local DAX stand-in, and every step passes."""

from pathlib import Path

from stacks.local.runtime import LocalRuntime, seed_catalogue
from stacks.local.tour import run_tour

REPO = Path(__file__).resolve().parents[2]


def test_tour_on_a_dax_stack_reads_products_through_the_stand_in(tmp_path, reference_preview):
    lines: list[str] = []
    with LocalRuntime(REPO, "staging", tmp_path, from_plan=reference_preview("staging").plan) as runtime:
        seed_catalogue(runtime)
        outcomes = run_tour(runtime, lines.append)
        [cache] = runtime.dax.values()
        stats = cache.stats
    failed = [line for line, o in zip(lines, outcomes) if not o.ok]
    assert not failed, "\n".join(lines)
    titles = " | ".join(o.step.title for o in outcomes)
    assert "item-cache hit" in titles and "not invalidated by writes" in titles
    assert "browse books, page 2 (nextToken)" in titles  # pagination through the reader
    assert stats.item_hits >= 1 and stats.query_misses >= 3
