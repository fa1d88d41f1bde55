"""Mistakes people make in stack files and the data model: each gets one clear, located message.

Every test goes through the same path as `pulumi up`: the CLI-shaped config map (project values
and defaults under the stack file's values) validated by stacks.config.load_config.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml

from stacks.config.errors import ConfigError
from stacks.offline.mockrun import Recording, run_program
from stacks.config.sources import cli_config, read_project, read_stack
from stacks.config.loader import load_config

REPO = Path(__file__).resolve().parents[2]
BASE = {"aws:region": "us-east-1"}
MODEL = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:tables"]["value"]


def problems(scratch, config: dict | str, tables: dict | None = None, stack: str = "test"):
    if tables is not None:
        scratch.set_tables(tables)
        scratch.set_model("access", {})  # these tests are about the tables alone
        scratch.set_model("api", {})
        scratch.set_model("functions", {})
    scratch.write_stack(stack, config)
    return located_problems(scratch.root, stack)


def located_problems(root: Path, stack: str) -> list:
    """What validating `stack` of the project at `root` reports, reading its files as the CLI does."""
    try:
        project = read_project(root, stack)
        stack_file = read_stack(root, stack)
        load_config(cli_config(project, stack_file), project, stack, stack_file, root)
    except ConfigError as exc:
        return exc.problems
    return []


def only(found, path: str, *fragments: str, file: str = "Pulumi.test.yaml"):
    """Exactly one problem, at `path` in `file`, whose message contains every fragment."""
    assert len(found) == 1, [p.render() for p in found]
    problem = found[0]
    assert (problem.file, problem.path) == (file, path), problem.render()
    for fragment in fragments:
        assert fragment in problem.message, problem.render()
    return problem


def model_with(**changes) -> dict:
    """The reference model with some tables replaced or added."""
    tables = copy.deepcopy(MODEL)
    tables.update(changes)
    return tables


def test_reference_model_and_minimal_stack_are_valid(scratch):
    assert problems(scratch, BASE) == []


def test_yaml_syntax_error_names_file_and_line(scratch):
    found = problems(scratch, "config:\n  aws:region: us-east-1\n  ddb-blueprint:tags: {a: [\n")
    problem = only(found, "(file)", "not valid YAML")
    assert problem.line == 4


def test_typo_in_a_key_is_rejected_with_a_suggestion(scratch):
    problem = only(problems(scratch, {**BASE, "ddb-blueprint:deletionProtecton": False}),
                   "ddb-blueprint:deletionProtecton", "unknown key", "did you mean 'deletionProtection'")
    assert problem.line == 3


def test_boolean_given_as_yes_is_a_type_error(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:protect": "yes"}), "ddb-blueprint:protect", "true or false", "'yes'")


def test_integer_given_as_words_is_a_type_error(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:pitrRecoveryPeriodDays": "seven"}),
         "ddb-blueprint:pitrRecoveryPeriodDays", "must be an integer")


def test_pitr_window_beyond_35_days_is_out_of_range(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:pitrRecoveryPeriodDays": 40}),
         "ddb-blueprint:pitrRecoveryPeriodDays", "less than or equal to 35")


def test_billing_mode_spelled_wrong_lists_the_allowed_values(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:billingMode": "ON_DEMAND"}),
         "ddb-blueprint:billingMode", "'PAY_PER_REQUEST' or 'PROVISIONED'")


def test_unknown_region_is_rejected(scratch):
    only(problems(scratch, {"aws:region": "us-east-7"}), "aws:region", "unknown region 'us-east-7'")


def test_missing_region_is_rejected(scratch):
    only(problems(scratch, {"ddb-blueprint:protect": False}), "aws:region", "is required")


def test_stack_keys_must_be_namespaced(scratch):
    only(problems(scratch, {**BASE, "billingMode": "PROVISIONED"}), "billingMode", "write 'ddb-blueprint:billingMode'")


def test_unknown_provider_key_is_a_typo(scratch):
    only(problems(scratch, {**BASE, "aws:regin": "us-east-1"}), "aws:regin", "did you mean 'aws:region'")


def test_stack_file_may_not_redefine_the_data_model(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:tables": MODEL}), "ddb-blueprint:tables", "declared once in Pulumi.yaml")


def test_a_key_set_twice_is_reported_not_silently_overwritten(scratch):
    text = "config:\n  aws:region: us-east-1\n  ddb-blueprint:protect: false\n  ddb-blueprint:protect: true\n"
    assert only(problems(scratch, text), "ddb-blueprint:protect", "set twice").line == 4


def test_tags_must_be_a_mapping(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:tags": ["team", "data"]}), "ddb-blueprint:tags", "valid dictionary")


def test_reserved_and_aws_tag_keys_are_rejected(scratch):
    found = problems(scratch, {**BASE, "ddb-blueprint:tags": {"stack": "x", "aws:owner": "y"}})
    assert sorted(p.path for p in found) == ["ddb-blueprint:tags.aws:owner", "ddb-blueprint:tags.stack"]


def test_key_admin_must_be_a_named_iam_principal(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:keyAdminArns": ["arn:aws:iam::123456789012:role/*"]}),
         "ddb-blueprint:keyAdminArns", "wildcards are not allowed")


def test_sort_key_equal_to_partition_key_is_rejected(scratch):
    bad = model_with(carts={**MODEL["carts"], "sortKey": "userId", "localIndexes": {}, "attributes": {"userId": "S"}})
    only(problems(scratch, BASE, bad), "ddb-blueprint:tables.carts.sortKey", "must differ from partitionKey", file="Pulumi.yaml")


def test_gsi_key_must_be_a_declared_attribute(scratch):  # T11
    products = copy.deepcopy(MODEL["products"])
    products["globalIndexes"]["byCategory"]["partitionKey"] = "categry"
    found = problems(scratch, BASE, model_with(products=products))
    paths = {p.path: p.message for p in found}
    assert "not declared" in paths["ddb-blueprint:tables.products.globalIndexes.byCategory.partitionKey"]
    # 'category' is now used by no key: DynamoDB would refuse the attribute definition too.
    assert "used by no key" in paths["ddb-blueprint:tables.products.attributes.category"]
    assert all(p.file == "Pulumi.yaml" and p.line for p in found)


def test_local_index_needs_a_table_sort_key(scratch):  # T11
    sessions = {**MODEL["sessions"], "attributes": {"sessionId": "S", "startedAt": "N"},
                "localIndexes": {"byStart": {"sortKey": "startedAt"}}}
    only(problems(scratch, BASE, model_with(sessions=sessions)), "ddb-blueprint:tables.sessions.localIndexes.byStart",
         "needs a table with a sortKey", file="Pulumi.yaml")


def test_more_than_twenty_global_indexes_is_rejected(scratch):  # T11
    attrs = {"id": "S", **{f"a{i}": "S" for i in range(21)}}
    gsis = {f"idx{i:02d}": {"partitionKey": f"a{i}"} for i in range(21)}
    big = {"attributes": attrs, "partitionKey": "id", "globalIndexes": gsis}
    only(problems(scratch, BASE, {"big": big}), "ddb-blueprint:tables.big.globalIndexes", "at most 20", file="Pulumi.yaml")


def test_more_than_five_local_indexes_is_rejected(scratch):  # T11
    attrs = {"id": "S", "sk": "S", **{f"l{i}": "S" for i in range(6)}}
    lsis = {f"lsi{i}": {"sortKey": f"l{i}"} for i in range(6)}
    big = {"attributes": attrs, "partitionKey": "id", "sortKey": "sk", "localIndexes": lsis}
    only(problems(scratch, BASE, {"big": big}), "ddb-blueprint:tables.big.localIndexes", "at most 5", file="Pulumi.yaml")


def test_multi_attribute_gsi_key_takes_at_most_four_attributes(scratch):
    attrs = {"id": "S", **{f"p{i}": "S" for i in range(5)}}
    t = {"attributes": attrs, "partitionKey": "id", "globalIndexes": {"wide": {"partitionKey": [f"p{i}" for i in range(5)]}}}
    only(problems(scratch, BASE, {"t": t}), "ddb-blueprint:tables.t.globalIndexes.wide.partitionKey", "1 to 4", file="Pulumi.yaml")


@pytest.mark.parametrize("name", ["Carts", "my carts", "x" * 41, "9lives"])
def test_bad_table_names_are_rejected(scratch, name):  # T12
    found = problems(scratch, BASE, {name: MODEL["sessions"]})
    assert any(p.path == f"ddb-blueprint:tables.{name}" and "identifiers" in p.message for p in found), found


def test_unknown_key_in_a_table_is_a_typo(scratch):
    sessions = {**MODEL["sessions"], "partitonKey": "sessionId"}
    del sessions["partitionKey"]
    found = problems(scratch, BASE, model_with(sessions=sessions))
    paths = {p.path: p.message for p in found}
    assert "did you mean 'partitionKey'" in paths["ddb-blueprint:tables.sessions.partitonKey"]
    assert paths["ddb-blueprint:tables.sessions.partitionKey"] == "is required"


def test_ttl_on_a_key_attribute_is_rejected(scratch):
    sessions = {**MODEL["sessions"], "ttlAttribute": "sessionId"}
    only(problems(scratch, BASE, model_with(sessions=sessions)), "ddb-blueprint:tables.sessions.ttlAttribute",
         "key attribute", file="Pulumi.yaml")


def test_include_projection_needs_non_key_attributes(scratch):
    products = copy.deepcopy(MODEL["products"])
    products["globalIndexes"]["byCategory"]["projection"] = "INCLUDE"
    only(problems(scratch, BASE, model_with(products=products)),
         "ddb-blueprint:tables.products.globalIndexes.byCategory.nonKeyAttributes", "INCLUDE needs", file="Pulumi.yaml")


def test_provisioned_without_capacity_is_rejected(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:tableOverrides": {"carts": {"billingMode": "PROVISIONED"}}}),
         "ddb-blueprint:tableOverrides.carts.capacity", "needs capacity")


def test_provisioned_everywhere_lists_every_table_without_capacity(scratch):
    found = problems(scratch, {**BASE, "ddb-blueprint:billingMode": "PROVISIONED"})
    assert sorted(p.path for p in found) == [f"ddb-blueprint:tableOverrides.{t}.capacity"
                                             for t in ("carts", "idempotency", "orders", "productSales", "products", "sessions")]


def test_capacity_on_an_on_demand_table_is_rejected(scratch):
    capacity = {"read": {"min": 1, "max": 5}, "write": {"min": 1, "max": 5}}
    only(problems(scratch, {**BASE, "ddb-blueprint:tableOverrides": {"carts": {"capacity": capacity}}}),
         "ddb-blueprint:tableOverrides.carts.capacity", "applies to PROVISIONED")


def test_capacity_min_above_max_is_rejected(scratch):
    capacity = {"read": {"min": 10, "max": 5}, "write": {"min": 1, "max": 5}}
    only(problems(scratch, {**BASE, "ddb-blueprint:tableOverrides": {"carts": {"billingMode": "PROVISIONED", "capacity": capacity}}}),
         "ddb-blueprint:tableOverrides.carts.capacity.read", "must not exceed max")


def test_override_for_a_table_that_does_not_exist(scratch):
    only(problems(scratch, {**BASE, "ddb-blueprint:tableOverrides": {"prodcts": {"tableClass": "STANDARD"}}}),
         "ddb-blueprint:tableOverrides.prodcts", "did you mean 'products'")


def test_every_problem_is_reported_at_once(scratch):
    found = problems(scratch, {"aws:region": "mars-1", "ddb-blueprint:protect": "maybe", "ddb-blueprint:billingMode": "X"})
    assert {p.path for p in found} == {"aws:region", "ddb-blueprint:protect", "ddb-blueprint:billingMode"}


def test_cli_exits_2_with_one_clear_message_no_traceback_and_no_plan(scratch, tmp_path):
    scratch.write_stack("broken", {**BASE, "ddb-blueprint:billingMode": "ON_DEMAND"})
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "preview", "broken", "--out", str(out)],
        cwd=scratch.root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(scratch.root)},
    )
    assert result.returncode == 2
    assert "Pulumi.broken.yaml:3: ddb-blueprint:billingMode: must be 'PAY_PER_REQUEST' or 'PROVISIONED'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()


def test_program_stops_with_a_clean_run_error_before_registering_anything(scratch):
    scratch.write_stack("broken", {"aws:region": "us-east-1", "ddb-blueprint:billingMode": "ON_DEMAND"})
    project = read_project(scratch.root)
    config = cli_config(project, read_stack(scratch.root, "broken"))
    recording = Recording(project="ddb-blueprint", stack="broken")
    with pytest.raises(pulumi.RunError, match="ddb-blueprint:billingMode"):
        run_program(scratch.root / "__main__.py", "ddb-blueprint", "broken", config, recording=recording)
    registered = [r for r in recording.resources.values() if r["type"] != "pulumi:pulumi:Stack"]
    assert registered == []  # nothing half-created


def test_missing_stack_file_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stacks", "preview", "qa"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert "no stack file Pulumi.qa.yaml" in result.stderr and "dev, prod, staging" in result.stderr


def test_an_alarm_subscription_that_is_not_an_email_address_is_located(scratch):
    found = problems(scratch, {**BASE, "ddb-blueprint:alarms": {"subscriptions": [{"protocol": "email", "endpoint": "oncall"}]}})
    [problem] = found
    assert problem.file == "Pulumi.test.yaml" and problem.path == "ddb-blueprint:alarms.subscriptions[0]" and problem.line == 5
    assert "not an email address" in problem.message


def test_alarm_m_of_n_with_m_above_n_is_located(scratch):
    found = problems(scratch, {**BASE, "ddb-blueprint:alarms": {"evaluationPeriods": 2, "datapointsToAlarm": 3}})
    [problem] = found
    assert problem.path.startswith("ddb-blueprint:alarms") and "exceeds evaluationPeriods" in problem.message


def test_an_unknown_alarm_threshold_is_located_with_what_is_allowed(scratch):
    found = problems(scratch, {**BASE, "ddb-blueprint:alarms": {"thresholds": {"lambdaErrors": 3}}})
    [problem] = found
    assert problem.path == "ddb-blueprint:alarms.thresholds.lambdaErrors", problem.render()
