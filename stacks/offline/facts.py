"""The AWS facts index: which fact ids (docs/aws-facts.md) are cited where, and which citations resolve.

Code, tests and docs cite facts by id: `GOTCHAS K1`, `fact T5`, `(A1, A2)`, `(I1–I3)`, or a trailing
`# T5` comment. `citations()` finds them; `write_index()` keeps the generated "where cited" section of
docs/aws-facts.md current (`python -m stacks facts`), and a test fails on an id that does not resolve.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

FACTS_FILE = Path("docs") / "aws-facts.md"
BEGIN = "<!-- BEGIN GENERATED CITATION INDEX (python -m stacks facts) -->"
END = "<!-- END GENERATED CITATION INDEX -->"
GROUPS = "KTDIALPCG"
_ID = rf"[{GROUPS}]\d{{1,2}}"
_LIST = rf"{_ID}(?:\s*(?:,|and|–|-)\s*(?:{_ID}|\d{{1,2}}))*"
_PATTERNS = (
    re.compile(rf"GOTCHAS\s+({_LIST})"),
    re.compile(rf"\bfacts?\s+({_LIST})"),
    re.compile(rf"\(({_LIST})\)"),
    re.compile(rf"#\s*({_LIST})\s*$", re.M),
)
DEFINITION = re.compile(rf"^### ({_ID}) — ", re.M)
SCANNED = ("stacks", "policies", "tests", "lambdas", "bench", "README.md", "Pulumi.yaml")
SUFFIXES = {".py", ".md", ".yaml", ".yml"}


def _expand(listing: str) -> list[str]:
    """`I1–I3, K7` -> [I1, I2, I3, K7]; a bare number continues the previous letter (`L1, 2`)."""
    ids: list[str] = []
    parts = re.split(r"\s*(,|and|–|-)\s*", listing)
    pending_range = False
    for part in parts:
        if part in (",", "and"):
            continue
        if part in ("–", "-"):
            pending_range = True
            continue
        letter = part[0] if part[0].isalpha() else (ids[-1][0] if ids else "")
        number = int(part[1:] if part[0].isalpha() else part)
        if pending_range and ids and ids[-1][0] == letter:
            ids += [f"{letter}{n}" for n in range(int(ids[-1][1:]) + 1, number + 1)]
        else:
            ids.append(f"{letter}{number}")
        pending_range = False
    return ids


def cited_ids(text: str) -> set[str]:
    found: set[str] = set()
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            found.update(_expand(match.group(1)))
    return found


def _files(root: Path) -> list[Path]:
    files: list[Path] = []
    for name in SCANNED:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and "snapshots" not in p.parts
                            and "__pycache__" not in p.parts)
    return files


def citations(root: Path) -> dict[str, list[str]]:
    """Fact id -> the repository files (relative paths) that cite it."""
    where: dict[str, set[str]] = defaultdict(set)
    for path in _files(root):
        for fact in cited_ids(path.read_text(encoding="utf-8", errors="replace")):
            where[fact].add(path.relative_to(root).as_posix())
    return {fact: sorted(files) for fact, files in where.items()}


def defined_ids(root: Path) -> list[str]:
    return DEFINITION.findall((root / FACTS_FILE).read_text(encoding="utf-8"))


def unresolved(root: Path) -> dict[str, list[str]]:
    """Cited ids that docs/aws-facts.md does not define, with where they are cited."""
    known = set(defined_ids(root))
    return {fact: files for fact, files in citations(root).items() if fact not in known}


def render_index(root: Path) -> str:
    cited = citations(root)
    lines = [BEGIN, "", "## Where each fact is cited", "",
             "Generated from the repository; a fact no file cites is one nothing enforces yet.", "",
             "| fact | cited in |", "|---|---|"]
    for fact in defined_ids(root):
        files = cited.get(fact, [])
        lines.append(f"| {fact} | {', '.join(f'`{f}`' for f in files) if files else '(not cited)'} |")
    return "\n".join(lines + ["", END])


def write_index(root: Path) -> bool:
    path = root / FACTS_FILE
    text = path.read_text(encoding="utf-8")
    index = render_index(root)
    if BEGIN in text:
        new = text[: text.index(BEGIN)] + index + text[text.index(END) + len(END):]
    else:
        new = text.rstrip("\n") + "\n\n" + index + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
