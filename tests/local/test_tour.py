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
