"""The outputs contract: every stack's outputs conform to contracts/outputs.schema.json, the README
table is generated from it, `outputs` prints and checks them, SSM copies, and the StackReference example."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pulumi
import pytest

from stacks.offline.mockrun import UNKNOWN
from tests.cli import run_in_process
from stacks.offline.preview import preview
from stacks.outputs.contract import (BEGIN, CONTRACT_VERSION, END, load_schema, parameter_values, render_table,
                                     validation_errors)

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")
PARAMETER = "aws:ssm/parameter:Parameter"


@pytest.fixture(scope="module")
def plans(reference_preview) -> dict[str, dict]:
    return {stack: reference_preview(stack).plan for stack in STACKS}


def deployed(outputs: dict) -> dict:
    """The outputs as `pulumi stack output --json` shows them after apply: unknowns become real values."""
    def fill(value, path):
        if isinstance(value, dict):
            return {k: fill(v, f"{path}/{k}") for k, v in value.items()}
        if value == UNKNOWN:
            return f"arn:aws:service:us-east-1:210987654321:{path.strip('/')}"
        return value
    return fill(outputs, "")


def test_schema_is_valid_json_schema_and_its_version_is_the_programs():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["contractVersion"]["const"] == CONTRACT_VERSION


@pytest.mark.parametrize("stack", STACKS)
def test_every_stacks_preview_outputs_conform(plans, stack):
    outputs = plans[stack]["outputs"]
    assert validation_errors(outputs) == [], "a new output? add it to contracts/outputs.schema.json (minor version)"
    assert outputs["contractVersion"] == CONTRACT_VERSION


@pytest.mark.parametrize("stack", STACKS)
def test_deployed_outputs_conform(plans, stack):
    assert validation_errors(deployed(plans[stack]["outputs"])) == []


def test_outputs_include_functions_and_topics_for_event_consumers(plans):
    outputs = plans["prod"]["outputs"]
    assert {"orderStats", "placeOrder", "productEvents"} <= set(outputs["functions"])
    assert set(outputs["topics"]) == {"productChanges"}


@pytest.mark.parametrize("break_it, expected", [
    (lambda o: o.pop("tables"), "'tables' is a required property"),
    (lambda o: o.__setitem__("daxEndpoint", "x"), "Additional properties are not allowed ('daxEndpoint' was unexpected)"),
    (lambda o: o["tables"]["carts"].pop("streamArn"), "tables.carts: 'streamArn' is a required property"),
    (lambda o: o["topics"].__setitem__("productChanges", None), "topics.productChanges: None is not of type 'string'"),
    (lambda o: o.__setitem__("contractVersion", "0.9.0"), "contractVersion: '1.3.0' was expected"),
    (lambda o: o["api"].pop("url"), "api: 'url' is a required property"),
])
def test_outputs_that_break_the_contract_are_named_by_path(plans, break_it, expected):
    outputs = copy.deepcopy(plans["prod"]["outputs"])
    break_it(outputs)
    assert any(expected in e for e in validation_errors(outputs)), validation_errors(outputs)


def test_readme_outputs_table_is_generated_from_the_schema():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme[readme.index(BEGIN): readme.index(END) + len(END)] == render_table(), "run ./blueprint docs"


def test_readme_table_lists_every_leaf_including_functions_and_topics():
    table = render_table()
    for row in ("`functions.<function>`", "`topics.<topic>`", "`tables.<table>.streamArn`", "`api.url`",
                "`cognito.identityPoolId`", "`contractVersion`", "`parameters.prefix`"):
        assert row in table


def test_parameter_values_flatten_paths_join_lists_and_skip_empty():
    params = parameter_values("/ddb-blueprint/prod/", {
        "region": "us-east-1",
        "tables": {"carts": {"name": "t", "streamArn": None, "localIndexes": ["a", "b"], "globalIndexes": []}},
        "parameters": {"prefix": "/ddb-blueprint/prod/"},
    })
    assert params == {
        "/ddb-blueprint/prod/region": "us-east-1",
        "/ddb-blueprint/prod/tables/carts/name": "t",
        "/ddb-blueprint/prod/tables/carts/localIndexes": "a,b",
    }


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_ssm_parameters_mirror_the_outputs_under_the_stack_prefix(plans, stack):
    plan = plans[stack]
    params = {r["inputs"]["name"]: r for r in plan["resources"] if r["type"] == PARAMETER}
    prefix = f"/ddb-blueprint/{stack}/"
    assert plan["outputs"]["parameters"] == {"prefix": prefix}
    assert set(params) == set(parameter_values(prefix, plan["outputs"]))
    assert params[f"{prefix}tables/carts/name"]["inputs"]["insecureValue"] == f"ddb-blueprint-{stack}-carts"
    assert params[f"{prefix}tables/products/globalIndexes"]["inputs"]["insecureValue"] == "byCategory"
    assert f"{prefix}tables/sessions/streamArn" not in params  # null output: no parameter
    for name, resource in params.items():
        inputs = resource["inputs"]
        assert inputs["type"] == "String" and inputs["tier"] == "Standard", name
        assert re.fullmatch(r"/ddb-blueprint/[a-z]+/[A-Za-z0-9_./-]+", name), name
        assert inputs["tags"]["stack"] == stack and inputs["tags"]["managed-by"], name
    # values known only after apply come from the resources, not invented
    topic = params[f"{prefix}topics/productChanges"]
    assert topic["inputs"]["insecureValue"] == UNKNOWN and topic["propertyDependencies"]["insecureValue"]


def test_dev_publishes_no_parameters(plans):
    assert not [r for r in plans["dev"]["resources"] if r["type"] == PARAMETER]
    assert "parameters" not in plans["dev"]["outputs"]


def test_output_parameters_must_be_a_boolean(scratch):
    scratch.write_stack("dev", {"aws:region": "us-east-1", "ddb-blueprint:outputParameters": "yes"})
    with pytest.raises(Exception) as caught:
        preview(scratch.root, "dev", scratch.root / "build")
    assert "outputParameters" in str(caught.value)


def run_cli(*args: str, stdin: str | None = None):
    return run_in_process(REPO, *args, stdin=stdin)


def test_outputs_command_prints_the_plans_outputs_and_checks_them():
    result = run_cli("outputs", "prod")
    assert result.returncode == 0, result.stderr
    assert re.search(r"tables\.carts\.name\s+ddb-blueprint-prod-carts", result.stdout)
    assert re.search(r"topics\.productChanges\s+\(known after apply\)", result.stdout)


def test_outputs_command_reads_pulumi_stack_output_json_from_stdin_and_file(plans, tmp_path):
    text = json.dumps(deployed(plans["prod"]["outputs"]))
    from_stdin = run_cli("outputs", "prod", "--from-json", "-", "--json", stdin=text)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout)["topics"]["productChanges"].startswith("arn:aws:")
    path = tmp_path / "outputs.json"
    broken = deployed(plans["prod"]["outputs"])
    del broken["roles"]
    path.write_text(json.dumps(broken))
    from_file = run_cli("outputs", "prod", "--from-json", str(path))
    assert from_file.returncode == 1
    assert "'roles' is a required property" in from_file.stderr


def test_outputs_command_refuses_unreadable_json(tmp_path):
    path = tmp_path / "o.json"
    path.write_text("{not json")
    result = run_cli("outputs", "prod", "--from-json", str(path))
    assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr


def readme_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("<!-- BEGIN STACK REFERENCE EXAMPLE -->"): readme.index("<!-- END STACK REFERENCE EXAMPLE -->")]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


class ConsumerMocks(pulumi.runtime.Mocks):
    def __init__(self, outputs: dict):
        self.outputs = outputs
        self.created: dict[str, dict] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {"name": args.name, "outputs": self.outputs, "secretOutputNames": []}
        self.created[f"{args.typ}::{args.name}"] = dict(args.inputs)
        state = dict(args.inputs)
        if args.typ == "aws:sqs/queue:Queue":
            state.update(arn=f"arn:aws:sqs:us-east-1:111122223333:{args.name}", url=f"https://sqs/{args.name}")
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def test_stack_reference_example_in_the_readme_runs_against_the_contract(plans):
    outputs = deployed(plans["prod"]["outputs"])
    mocks = ConsumerMocks(outputs)
    pulumi.runtime.set_mocks(mocks, project="consumer", stack="prod", preview=False)
    code = compile(readme_example(), "README.md#stack-reference", "exec")

    @pulumi.runtime.test
    def run():
        exec(code, {"__name__": "__main__"})
        return pulumi.Output.from_input(None)

    run()
    topic = outputs["topics"]["productChanges"]
    subscription = mocks.created["aws:sns/topicSubscription:TopicSubscription::product-changes"]
    assert subscription["topic"] == topic
    assert subscription["endpoint"] == "arn:aws:sqs:us-east-1:111122223333:product-changes"
    events = json.loads((REPO / "contracts" / "product-events.schema.json").read_text())
    documented = set(events["$defs"]["messageAttributes"]["properties"]["eventType"]["enum"])
    assert set(json.loads(subscription["filterPolicy"])["eventType"]) <= documented  # the event contract's attribute
    policy = json.loads(mocks.created["aws:sqs/queuePolicy:QueuePolicy::product-changes"]["policy"])
    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == topic



def test_no_plan_value_is_an_outputs_str_warning(plans):
    # A list output known only after apply (DAX subnet ids) becomes one SSM parameter once resolved,
    # never the text of Output.__str__'s warning.
    for stack, plan in plans.items():
        text = json.dumps(plan)
        assert "Calling __str__ on an Output" not in text, stack
