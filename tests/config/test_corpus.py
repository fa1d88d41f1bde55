"""A corpus of the mistakes people make in stack files and the data model (issue 8, item 3).

Each file under corpus/invalid/ is a stack file exactly as written (bytes), with its expectation in
leading comments:

    # expect: <file> | <key path> | <fragment of the message>
    # model: <JSON merged into Pulumi.yaml's model keys; null removes a key>   (optional)

`<file>` is Pulumi.corpus.yaml for the stack file (each case is written as its own stack) or
Pulumi.yaml. Every case must fail validation with that located problem: the path users type, the
file it is in, a line where the file has one; none may pass, crash or leak a traceback. A sample
runs through the CLI (exit 2, no traceback, nothing written). Files under corpus/valid/ are edge
configs that must pass.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from tests.cli import run_in_process, run_process
from tests.config.test_config_errors import located_problems

CORPUS = Path(__file__).parent / "corpus"
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))
VALID = sorted((CORPUS / "valid").glob("*.yaml"))
EXPECT = re.compile(rb"^# expect: (?P<file>[^|]+?) \| (?P<path>.*?) \| (?P<fragment>.+)$", re.M)
MODEL = re.compile(rb"^# model: (?P<json>.+)$", re.M)
STACK = "corpus"


def merge(base: dict, patch: dict) -> dict:
    """`patch` deep-merged into a copy of `base`; None removes a key."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def prepare(scratch, case: Path) -> bytes:
    data = case.read_bytes()
    model = MODEL.search(data)
    if model:
        project = yaml.safe_load((scratch.root / "Pulumi.yaml").read_text())
        for key, patch in json.loads(model.group("json")).items():
            declaration = project["config"][f"ddb-blueprint:{key}"]
            declaration["value"] = merge(declaration["value"], patch)
        (scratch.root / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (scratch.root / f"Pulumi.{STACK}.yaml").write_bytes(data)
    return data


def validate(root: Path) -> list:
    return located_problems(root, STACK)


def test_the_corpus_has_at_least_sixty_distinct_mistakes_and_ten_valid_edges():
    assert len(INVALID) >= 60 and len(VALID) >= 10
    contents = [p.read_bytes().split(b"\n", 1)[1] for p in INVALID]  # without the expectation line
    assert len(set(contents)) == len(contents)  # distinct configs, not one mistake renamed


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_each_mistake_is_one_located_error(scratch, case):
    data = prepare(scratch, case)
    expected = EXPECT.search(data)
    assert expected, f"{case.name} has no '# expect:' line"
    file, path, fragment = (expected.group(g).decode() for g in ("file", "path", "fragment"))
    file = file.replace("Pulumi.corpus.yaml", f"Pulumi.{STACK}.yaml")
    started = time.monotonic()
    found = validate(scratch.root)
    assert time.monotonic() - started < 10  # bounded: no file makes validation hang
    rendered = [p.render() for p in found]
    assert found, f"{case.name} passed validation"
    match = [p for p in found if p.file == file and p.path == path and fragment in p.message]
    assert match, rendered
    for problem in found:  # every problem located: a file, a key path, a line when the key has one
        assert problem.file.startswith("Pulumi.") and problem.path, problem.render()
    body = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"# "))
    if match[0].file == f"Pulumi.{STACK}.yaml" and match[0].path.split(".")[0].encode() in body:
        assert match[0].line, match[0].render()  # a key written in the file is reported at its line
    if b"secure:" in data:  # the ciphertext is never echoed
        assert "c2VjcmV0Y2lwaGVydGV4dA" not in "\n".join(rendered)


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.stem)
def test_each_valid_edge_passes(scratch, case):
    prepare(scratch, case)
    assert [p.render() for p in validate(scratch.root)] == []


CLI_SAMPLE = ["latin1-bytes", "alias-bomb", "alias-to-itself", "secret-waf-arn", "top-level-key-typo",
              "concurrency-negative", "tag-value-with-comma", "grant-reason-whitespace", "body-minimum-above-maximum",
              "ttl-attribute-empty"]


@pytest.mark.parametrize("name", CLI_SAMPLE)
def test_the_cli_exits_2_with_the_located_message_and_writes_nothing(scratch, tmp_path, name):
    case = CORPUS / "invalid" / f"{name}.yaml"
    data = prepare(scratch, case)
    file, path, fragment = (EXPECT.search(data).group(g).decode() for g in ("file", "path", "fragment"))
    out = tmp_path / "out"
    # The first cases as a fresh process (what a user sees, interpreter exit included); the rest in
    # this process (tests/cli.py: the same main(), seconds cheaper).
    run = run_process if name in CLI_SAMPLE[:2] else run_in_process
    result = run(scratch.root, "preview", STACK, "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}: " in result.stderr and fragment in result.stderr
    assert file.replace("Pulumi.corpus.yaml", f"Pulumi.{STACK}.yaml") in result.stderr
    assert not out.exists()
