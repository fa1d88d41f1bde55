"""Every AWS fact id cited in the repository resolves in docs/aws-facts.md, and its index is current."""

from __future__ import annotations

from pathlib import Path

from stacks.offline.facts import cited_ids, defined_ids, render_index, unresolved

REPO = Path(__file__).resolve().parents[2]


def test_every_cited_fact_id_is_defined_in_the_facts_document():
    assert unresolved(REPO) == {}, "cite only ids defined in docs/aws-facts.md (or define them there)"


def test_fact_ids_are_defined_once():
    ids = defined_ids(REPO)
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


def test_citation_index_is_current():
    text = (REPO / "docs" / "aws-facts.md").read_text(encoding="utf-8")
    assert render_index(REPO) in text, "run ./blueprint facts to regenerate the index"


def test_citation_forms_are_recognised():
    # Written with {} so that this file does not cite the ids it uses as examples.
    assert cited_ids("raise ... ({} K1, K4)".format("GOTCHAS")) == {"K1", "K4"}
    assert cited_ids("see ({}1–I3)".format("I")) == {"I1", "I2", "I3"}
    assert cited_ids("def test_x():  {} T5".format("#")) == {"T5"}
    assert cited_ids("{} L1, L2 and A5".format("GOTCHAS")) == {"L1", "L2", "A5"}
    assert cited_ids("{} T10".format("fact")) == {"T10"}


def test_an_undefined_citation_is_reported(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "aws-facts.md").write_text("### K1 — a fact\n", encoding="utf-8")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "x.py").write_text("# relies on ({}1, K99)\n".format("K"), encoding="utf-8")
    assert unresolved(tmp_path) == {"K99": ["stacks/x.py"]}
