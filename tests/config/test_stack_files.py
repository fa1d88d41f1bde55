"""Stack files as the Pulumi CLI writes them (issue 8, item 2; facts P7) and the files themselves
(encoding, aliases, a missing project file): accepted where the CLI accepts them, one located error
otherwise, under the offline tools and under `pulumi up` alike."""

from __future__ import annotations

import time
from pathlib import Path

import pulumi
import pytest
import yaml

from stacks.config.errors import ConfigError
from stacks.config.loader import load_config
from stacks.config.sources import (
    MAX_EXPANDED_VALUES,
    MAX_NESTING_DEPTH,
    STACK_FILE_KEYS,
    FastPulumiYamlLoader,
    PulumiYamlLoader,
    cli_config,
    expanded_size,
    nesting_depth,
    read_project,
    read_stack,
)
from stacks.offline.mockrun import Recording, run_program
from tests.config.test_config_errors import located_problems

REPO = Path(__file__).resolve().parents[2]
CORPUS_FILES = Path(__file__).parent / "corpus"

# `pulumi stack init dev` after `pulumi login --local` (or s3://...) with PULUMI_CONFIG_PASSPHRASE set,
# then `pulumi config set aws:region us-east-1`: the file the CLI writes.
PASSPHRASE_STACK = """encryptionsalt: v1:Vq3pOdmB0QE=:v1:2q0mI+e7n4rS5o8D:1bRJ4B9AqZfD6jX2S4Ql8Q==
config:
  aws:region: us-east-1
"""
KMS_STACK = """secretsprovider: awskms://alias/pulumi-secrets?region=us-east-1
encryptedkey: AQICAHhQm9k2ZmVrZXlmb3J0ZXN0aW5nb25seQ==
config:
  aws:region: us-east-1
"""
ESC_STACK = """environment:
  - ddb-blueprint/dev
mainEnvironment: ddb-blueprint/dev
config:
  aws:region: us-east-1
"""


def problems(root, stack: str = "qa") -> list:
    return located_problems(root, stack)


def test_the_accepted_top_level_keys_are_those_of_the_clis_project_stack():  # P7
    assert set(STACK_FILE_KEYS) == {"secretsprovider", "encryptedkey", "encryptionsalt", "config", "environment",
                                    "mainEnvironment"}


@pytest.mark.parametrize("text", [PASSPHRASE_STACK, KMS_STACK, ESC_STACK], ids=["passphrase", "kms", "esc"])
def test_a_stack_file_written_by_pulumi_stack_init_passes(scratch, text):  # P7
    scratch.write_stack("qa", text)
    assert problems(scratch.root) == []


def test_a_passphrase_stack_file_passes_under_pulumi_up_too(scratch):  # P7
    """The program reads the stack file for attribution; `encryptionsalt` must not stop `pulumi up`."""
    scratch.write_stack("qa", PASSPHRASE_STACK)
    config = {"aws:region": "us-east-1", **{k: v for k, v in cli_config(read_project(scratch.root),
                                                                          read_stack(scratch.root, "qa")).items()}}
    recording = run_program(scratch.root / "__main__.py", "ddb-blueprint", "qa", config)
    assert any(r["type"] == "aws:dynamodb/table:Table" for r in recording.resources.values())


def test_a_misspelt_top_level_key_is_refused_with_a_suggestion(scratch):
    scratch.write_stack("qa", PASSPHRASE_STACK.replace("encryptionsalt", "encryptionSalt"))
    [problem] = problems(scratch.root)
    assert (problem.path, problem.line) == ("encryptionSalt", 1)
    assert "did you mean 'encryptionsalt'" in problem.message


def test_a_misspelt_top_level_key_stops_the_program_cleanly(scratch):
    scratch.write_stack("qa", "configs:\n  aws:region: us-east-1\n")
    with pytest.raises(pulumi.RunError, match="did you mean 'config'"):
        run_program(scratch.root / "__main__.py", "ddb-blueprint", "qa", {"aws:region": "us-east-1"},
                    recording=Recording(project="ddb-blueprint", stack="qa"))


# --- the files themselves -----------------------------------------------------------------------

def test_a_stack_file_that_is_not_utf8_names_the_line_of_the_bad_byte(scratch):
    (scratch.root / "Pulumi.qa.yaml").write_bytes(b"config:\n  aws:region: us-east-1\n  ddb-blueprint:tags: {o: Jos\xe9}\n")
    [problem] = problems(scratch.root)
    assert (problem.file, problem.path, problem.line) == ("Pulumi.qa.yaml", "(file)", 3)
    assert "not valid UTF-8 (byte 0xe9" in problem.message


def test_a_project_file_that_is_not_utf8_is_a_located_error(scratch):
    scratch.write_stack("qa", PASSPHRASE_STACK)
    text = (scratch.root / "Pulumi.yaml").read_bytes()
    (scratch.root / "Pulumi.yaml").write_bytes(text.replace(b"secure by default", b"s\xfbr by default", 1))
    [problem] = problems(scratch.root)
    assert (problem.file, problem.path) == ("Pulumi.yaml", "(file)") and "not valid UTF-8" in problem.message


def test_a_missing_project_file_says_where_to_run_from(scratch):
    scratch.write_stack("qa", PASSPHRASE_STACK)
    (scratch.root / "Pulumi.yaml").unlink()
    [problem] = problems(scratch.root)
    assert (problem.file, problem.path) == ("Pulumi.yaml", "(file)") and "not found" in problem.message


def test_an_unreadable_stack_file_is_a_located_error(scratch):
    (scratch.root / "Pulumi.qa.yaml").mkdir()  # a directory where the file should be: unreadable even as root
    [problem] = problems(scratch.root)
    assert (problem.file, problem.path) == ("Pulumi.qa.yaml", "(file)") and "cannot be read" in problem.message


def _bomb(levels: int, width: int = 10) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_measured_without_expanding():
    node = yaml.compose(_bomb(12))  # 10^12 values once expanded
    started = time.monotonic()
    assert expanded_size(node) > 10**12
    assert time.monotonic() - started < 1


def test_an_alias_bomb_in_a_stack_file_is_refused_fast(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags:\n"
                        + "".join(f"    {line}\n" for line in _bomb(9).splitlines()))
    started = time.monotonic()
    [problem] = problems(scratch.root)
    assert time.monotonic() - started < 5
    assert problem.path == "(file)" and f"more than the {MAX_EXPANDED_VALUES:,}" in problem.message


def test_an_alias_bomb_in_the_project_file_is_refused(scratch):
    scratch.write_stack("qa", PASSPHRASE_STACK)
    with open(scratch.root / "Pulumi.yaml", "a", encoding="utf-8") as project:
        project.write("x-anchors:\n" + "".join(f"  {line}\n" for line in _bomb(8).splitlines()))
    [problem] = problems(scratch.root)
    assert (problem.file, problem.path) == ("Pulumi.yaml", "(file)") and "expand to" in problem.message


def test_an_alias_inside_its_own_anchor_is_refused():
    scratch_text = "config: &c {aws:region: us-east-1, nested: *c}\n"
    assert expanded_size(yaml.compose(scratch_text)) is None


def test_deeply_nested_yaml_is_a_located_error_not_a_recursion_error(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags: " + "[" * 5000 + "]" * 5000 + "\n")
    [problem] = problems(scratch.root)
    assert problem.path == "(file)" and problem.file == "Pulumi.qa.yaml"


def test_moderate_anchors_are_fine():
    assert expanded_size(yaml.compose(_bomb(3))) < MAX_EXPANDED_VALUES


# --- secrets ------------------------------------------------------------------------------------

CIPHERTEXT = "v1:AAABBBCCCdddEEEfff=="


def test_a_secret_is_named_but_its_ciphertext_never_shown(scratch):
    scratch.write_stack("qa", PASSPHRASE_STACK + f"  ddb-blueprint:apiWafAclArn:\n    secure: {CIPHERTEXT}\n")
    [problem] = problems(scratch.root)
    assert (problem.path, problem.line) == ("ddb-blueprint:apiWafAclArn", 4)
    assert "secrets cannot be read offline" in problem.message
    assert CIPHERTEXT not in problem.render() and "AAABBB" not in problem.render()


def test_under_pulumi_up_the_decrypted_secret_is_an_ordinary_value(scratch):
    """The CLI decrypts before the program runs: the same stack file passes with the plain value."""
    scratch.write_stack("qa", PASSPHRASE_STACK + f"  ddb-blueprint:apiWafAclArn:\n    secure: {CIPHERTEXT}\n")
    project, stack = read_project(scratch.root, "qa"), read_stack(scratch.root, "qa")
    config = {**cli_config(project, stack), "ddb-blueprint:apiWafAclArn": ""}
    load_config(config, project, "qa", stack, scratch.root)  # no ConfigError


def test_a_stack_name_with_a_dot_is_refused_before_aws_would(scratch):  # K11, L13
    """Pulumi accepts `dev.eu`; KMS alias and Lambda function names do not."""
    scratch.write_stack("dev.eu", PASSPHRASE_STACK)
    [problem] = problems(scratch.root, "dev.eu")
    assert (problem.file, problem.path) == ("Pulumi.dev.eu.yaml", "(stack name)")
    assert "letters, digits, - and _" in problem.message


# --- scalars as the CLI reads them (YAML 1.2) ---------------------------------------------------

def test_yes_is_not_a_boolean_offline_either(scratch):
    """PyYAML alone reads `yes` as true; the Pulumi CLI hands the program "yes", which is refused."""
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:protect: yes\n")
    [problem] = problems(scratch.root)
    assert (problem.path, problem.line) == ("ddb-blueprint:protect", 3) and "got 'yes'" in problem.message


def test_tag_values_that_yaml_11_would_retype_stay_text(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags: {country: NO, since: 2024-01-01, "
                              "mode: 0755, window: '1:30'}\n")
    assert problems(scratch.root) == []
    config = cli_config(read_project(scratch.root), read_stack(scratch.root, "qa"))
    assert config["ddb-blueprint:tags"] == '{"country": "NO", "mode": "0755", "since": "2024-01-01", "window": "1:30"}'


def test_a_file_nested_past_the_bound_is_a_located_error_naming_the_bound(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags: " + "[" * 150 + "]" * 150 + "\n")
    [problem] = problems(scratch.root)
    assert problem.file == "Pulumi.qa.yaml" and f"more than {MAX_NESTING_DEPTH} levels" in problem.message


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")], ids=["lists", "mappings"])
def test_a_file_nested_a_hundred_thousand_levels_is_a_located_error_not_a_crash(scratch, opening, closing):
    # libyaml's compiled composer recursed until the interpreter crashed (SIGSEGV) at ~30,000 levels
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags: " + opening * 100_000 + "1"
                        + closing * 100_000 + "\n")
    [problem] = problems(scratch.root)
    assert problem.file == "Pulumi.qa.yaml" and f"more than {MAX_NESTING_DEPTH} levels" in problem.message
    assert problem.line == 3


def test_nesting_depth_follows_aliases_and_stops_counting_past_the_bound():
    assert nesting_depth(yaml.compose("a: &x [[1]]\nb: *x\n")) == 4
    assert nesting_depth(yaml.compose("[" * 500 + "]" * 500, Loader=FastPulumiYamlLoader), limit=10) == 11


def _node_shape(node) -> object:
    """Everything the config reader takes from a node: tag, value, line and column."""
    where = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return node.tag, node.value, where
    if isinstance(node, yaml.SequenceNode):
        return node.tag, [_node_shape(item) for item in node.value], where
    return node.tag, [(_node_shape(k), _node_shape(v)) for k, v in node.value], where


READ_FILES = sorted([*CORPUS_FILES.glob("*/*.yaml"), *REPO.glob("Pulumi*.yaml")])


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="this PyYAML was built without libyaml")
@pytest.mark.parametrize("path", READ_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_libyaml_composes_every_reference_and_corpus_file_exactly_as_the_pure_loader(path):  # P7
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        pure_node = yaml.compose(text, Loader=PulumiYamlLoader)
    except (yaml.YAMLError, RecursionError):
        pytest.skip("not valid YAML: such files are reported by the pure loader (next test)")
    fast = yaml.compose(text, Loader=FastPulumiYamlLoader)
    if (expanded_size(fast) or MAX_EXPANDED_VALUES + 1) > MAX_EXPANDED_VALUES:  # an alias bomb: sizes suffice
        assert expanded_size(fast) == expanded_size(yaml.compose(text, Loader=PulumiYamlLoader))
        return
    assert _node_shape(fast) == _node_shape(pure_node)


def test_invalid_yaml_is_reported_with_the_pure_loaders_message_and_line(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags: {a: 1\n")
    [problem] = problems(scratch.root)
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.compose((scratch.root / "Pulumi.qa.yaml").read_text(), Loader=PulumiYamlLoader)
    assert problem.message == f"not valid YAML: {pure.value.problem}"
    assert problem.line == pure.value.problem_mark.line + 1


def test_yaml_1_1_words_stay_text_on_the_fast_path(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags:\n    team: NO\n    mode: 0755\n")
    assert read_stack(scratch.root, "qa").values["ddb-blueprint:tags"] == {"team": "NO", "mode": "0755"}


def test_an_edited_stack_file_is_read_afresh_not_from_the_cache(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n")
    assert read_stack(scratch.root, "qa").values["aws:region"] == "us-east-1"
    scratch.write_stack("qa", "config:\n  aws:region: eu-west-1\n")
    assert read_stack(scratch.root, "qa").values["aws:region"] == "eu-west-1"
