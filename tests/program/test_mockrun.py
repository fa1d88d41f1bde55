"""The recorder that stands in for the engine under mocks."""

from __future__ import annotations

import pytest

from stacks.offline.mockrun import UNKNOWN, DuplicateResourceError, Recording, run_program


def write_program(tmp_path, body: str):
    program = tmp_path / "__main__.py"
    program.write_text("import pulumi\nimport pulumi_aws as aws\n" + body)
    return program


def test_duplicate_resource_names_are_an_error_like_under_the_engine(tmp_path):  # P3
    program = write_program(tmp_path, 'aws.kms.Key("k")\naws.kms.Key("k")\n')
    with pytest.raises(DuplicateResourceError, match="aws:kms/key:Key::k"):
        run_program(program, "p", "s", {"aws:region": "us-east-1"})


def test_provider_computed_outputs_stay_unknown_and_inputs_are_camel_case(tmp_path):
    program = write_program(tmp_path, 'k = aws.kms.Key("k", enable_key_rotation=True)\n'
                                      'aws.kms.Alias("a", name="alias/x", target_key_id=k.key_id)\n'
                                      'pulumi.export("arn", k.arn)\n')
    recording = run_program(program, "p", "s", {"aws:region": "us-east-1"})
    alias = recording.resources["urn:pulumi:s::p::aws:kms/alias:Alias::a"]
    assert alias["inputs"] == {"name": "alias/x", "targetKeyId": UNKNOWN}
    assert recording.resources["urn:pulumi:s::p::aws:kms/key:Key::k"]["inputs"] == {"enableKeyRotation": True}
    assert recording.outputs == {"arn": UNKNOWN}


def test_explicit_depends_on_is_told_apart_from_input_dependencies(tmp_path):
    program = write_program(tmp_path, 'k = aws.kms.Key("k")\nk2 = aws.kms.Key("k2")\n'
                                      'aws.kms.Alias("a", name="alias/x", target_key_id=k.key_id,'
                                      ' opts=pulumi.ResourceOptions(depends_on=[k2]))\n')
    recording = run_program(program, "p", "s", {"aws:region": "us-east-1"})
    alias = recording.resources["urn:pulumi:s::p::aws:kms/alias:Alias::a"]
    assert alias["options"]["dependsOn"] == ["urn:pulumi:s::p::aws:kms/key:Key::k2"]
    assert alias["propertyDependencies"] == {"targetKeyId": ["urn:pulumi:s::p::aws:kms/key:Key::k"]}


def test_lookups_answer_with_the_pinned_account_and_the_region_partition(tmp_path):
    program = write_program(tmp_path, 'pulumi.export("id", aws.get_caller_identity_output().account_id)\n'
                                      'pulumi.export("p", aws.get_partition_output().partition)\n')
    recording = run_program(program, "p", "s", {"aws:region": "cn-north-1"}, account_id="210987654321")
    assert recording.outputs == {"id": "210987654321", "p": "aws-cn"}


def test_runs_in_one_process_do_not_leak_into_each_other(tmp_path):
    program = write_program(tmp_path, 'aws.kms.Key("only")\n')
    first = run_program(program, "p", "a", {"aws:region": "us-east-1"})
    second = run_program(program, "p", "b", {"aws:region": "us-east-1"}, recording=Recording("p", "b"))
    assert [u for u in first.resources if "Key" in u] == ["urn:pulumi:a::p::aws:kms/key:Key::only"]
    assert [u for u in second.resources if "Key" in u] == ["urn:pulumi:b::p::aws:kms/key:Key::only"]


def test_a_run_restores_the_collector_thresholds_and_the_sdk_stack_traces(tmp_path):
    # The run collects garbage less often and sends no source positions (neither is recorded);
    # both are scoped to the run, also when the program fails.
    import gc

    from pulumi.runtime import resource as runtime_resource

    before_threshold, before_trace = gc.get_threshold(), runtime_resource._get_stack_trace
    run_program(write_program(tmp_path, 'aws.kms.Key("k")\n'), "p", "s", {"aws:region": "us-east-1"})
    with pytest.raises(DuplicateResourceError):
        run_program(write_program(tmp_path, 'aws.kms.Key("k")\naws.kms.Key("k")\n'), "p", "s", {"aws:region": "us-east-1"})
    assert gc.get_threshold() == before_threshold
    assert runtime_resource._get_stack_trace is before_trace

