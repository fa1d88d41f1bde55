"""The README's main job, as a test: the scripted tour of the local runtime passes every step,
including the order flow end to end (cart -> POST /orders -> order listed, cart empty, stock
decremented, counter updated by the orders stream, change published by the products stream)."""

from pathlib import Path

from stacks.local.runtime import LocalRuntime, seed_catalogue
from stacks.local.tour import run_tour

REPO = Path(__file__).resolve().parents[2]


def test_every_tour_step_behaves_as_expected(tmp_path):
    lines: list[str] = []
    with LocalRuntime(REPO, "dev", tmp_path) as runtime:
        seed_catalogue(runtime)
        outcomes = run_tour(runtime, lines.append)
    failed = [line for line, o in zip(lines, outcomes) if not o.ok]
    assert not failed, "\n".join(lines)
    titles = " | ".join(o.step.title for o in outcomes)
    for promise in ("places the order", "cart is empty", "GET /orders", "counter says 2 sold", "out of stock",
                    "published the stock change", "alice's items are invisible"):
        assert promise in titles


def test_the_tour_of_a_stack_with_replicas_reads_in_one_region_what_another_wrote(tmp_path, reference_preview):  # T14
    lines: list[str] = []
    with LocalRuntime(REPO, "staging", tmp_path, replication_lag=0.3, from_plan=reference_preview("staging").plan) as runtime:
        seed_catalogue(runtime)
        outcomes = run_tour(runtime, lines.append)
    failed = [line for line in lines if line.startswith("FAIL")]
    assert not failed and all(o.ok for o in outcomes), "\n".join(lines)
    titles = " | ".join(o.step.title for o in outcomes)
    assert "written in us-east-2 is read in us-west-2" in titles
    assert "written in us-west-2 is served from us-east-2" in titles
    waited = [float(line.rsplit("(after ", 1)[1].split(" s)")[0]) for line in lines if "(after " in line]
    assert waited and all(w >= 0.2 for w in waited)  # asynchronous: the configured lag is observed
