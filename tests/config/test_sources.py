"""Reading project and stack files the way the Pulumi CLI does."""

from stacks.config.sources import cli_config, read_project, read_stack


def test_stack_values_override_project_defaults_and_objects_travel_as_json(scratch):
    scratch.write_stack("qa", {"aws:region": "eu-west-1", "ddb-blueprint:protect": False,
                               "ddb-blueprint:tags": {"b": "2", "a": "1"}})
    config = cli_config(read_project(scratch.root), read_stack(scratch.root, "qa"))
    assert config["aws:region"] == "eu-west-1"
    assert config["ddb-blueprint:protect"] == "false"
    assert config["ddb-blueprint:deletionProtection"] == "true"  # project default, secure
    assert config["ddb-blueprint:tags"] == '{"a": "1", "b": "2"}'
    assert config["ddb-blueprint:tables"].startswith("{")


def test_line_numbers_are_recorded_for_nested_keys(scratch):
    scratch.write_stack("qa", "config:\n  aws:region: us-east-1\n  ddb-blueprint:tableOverrides:\n    carts:\n      tableClass: X\n")
    stack = read_stack(scratch.root, "qa")
    assert stack.lines["ddb-blueprint:tableOverrides.carts.tableClass"] == 5
    project = read_project(scratch.root)
    assert project.lines["ddb-blueprint:tables.carts.partitionKey"] > project.declarations["ddb-blueprint:tables"].line


def test_every_declared_project_key_has_a_description_and_a_default_or_value():
    from pathlib import Path

    project = read_project(Path(__file__).resolve().parents[2])
    for key, decl in project.declarations.items():
        assert decl.description, key
        assert decl.has_default or decl.has_value, key  # otherwise the CLI demands it in every stack




def test_an_edited_stack_file_is_read_afresh(scratch):
    scratch.write_stack("qa", {"aws:region": "us-east-1"})
    assert read_stack(scratch.root, "qa").values == {"aws:region": "us-east-1"}
    scratch.write_stack("qa", {"aws:region": "eu-west-1"})
    assert read_stack(scratch.root, "qa").values == {"aws:region": "eu-west-1"}
