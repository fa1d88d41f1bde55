"""Pure resolution of replicas (facts K1, T1, T3, T9, T10, T16)."""

from __future__ import annotations

from dataclasses import replace

from stacks.replication.model import Topology, partition_of, region_set_of
from stacks.replication.rules import mode_change_findings, topology_findings
from stacks.replication.spec import (
    copies, regional_arn, replica_scaling_targets, replica_stream_arn, replication_table_args, streams, table_regions,
)
from stacks.tables.model import CapacityRange, ProvisionedCapacity, TableModel
from stacks.tables.spec import TableSpec, table_args

REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "ap-northeast-1", "cn-north-1"]


def spec(**changes) -> TableSpec:
    model = TableModel.model_validate({"attributes": {"id": "S"}, "partitionKey": "id"})
    base = TableSpec(
        logical_name="things", physical_name="p-s-things", model=model, billing_mode="PAY_PER_REQUEST", capacity=None,
        max_throughput=None, table_class="STANDARD", contributor_insights=False, point_in_time_recovery=True,
        pitr_recovery_period_days=35, deletion_protection=True, protect=True, retain_on_delete=True, tags={},
        replicas=("us-west-2", "eu-west-1"),
    )
    return replace(base, **changes)


def test_each_replica_gets_the_key_of_its_own_region():  # K1
    args = table_args(spec(), "home-key", {"us-west-2": "key-usw2", "eu-west-1": "key-euw1"})
    assert [(r["region_name"], r["kms_key_arn"]) for r in args["replicas"]] == [("us-west-2", "key-usw2"), ("eu-west-1", "key-euw1")]
    assert args["server_side_encryption"] == {"enabled": True, "kms_key_arn": "home-key"}


def test_replicas_follow_the_stacks_pitr_and_deletion_protection():
    for pitr, protection in ((True, True), (False, False)):
        args = replication_table_args(spec(point_in_time_recovery=pitr, deletion_protection=protection),
                                      {"us-west-2": "k1", "eu-west-1": "k2"})
        assert {(r["point_in_time_recovery"], r["deletion_protection_enabled"], r["propagate_tags"]) for r in args["replicas"]} == {
            (pitr, protection, True)}


def test_eventual_replication_turns_on_a_new_and_old_images_stream():  # T1
    args = replication_table_args(spec(), {"us-west-2": "k1", "eu-west-1": "k2"})
    assert (args["stream_enabled"], args["stream_view_type"]) == (True, "NEW_AND_OLD_IMAGES")
    assert streams(spec()) and not streams(spec(replicas=()))


def test_strong_replication_keeps_streams_as_declared_and_sets_the_witness():  # T10, T13
    args = replication_table_args(spec(replicas=("us-east-2",), consistency_mode="STRONG", witness="us-west-2"), {"us-east-2": "k"})
    assert "stream_enabled" not in args
    assert args["global_table_witness"] == {"region_name": "us-west-2"}
    assert args["replicas"][0]["consistency_mode"] == "STRONG"


def test_a_regional_table_has_no_replication_arguments():
    assert replication_table_args(spec(replicas=()), {}) == {}
    assert "replicas" not in table_args(spec(replicas=()), "k")


def test_replica_regions_scale_with_the_tables_ranges_and_their_own_read_range():  # T3
    capacity = ProvisionedCapacity(read=CapacityRange(min=10, max=500), write=CapacityRange(min=5, max=100))
    provisioned = spec(billing_mode="PROVISIONED", capacity=capacity,
                       replica_read_capacity={"eu-west-1": CapacityRange(min=2, max=20)})
    eu = {t.suffix: t for t in replica_scaling_targets(provisioned, "eu-west-1")}
    us = {t.suffix: t for t in replica_scaling_targets(provisioned, "us-west-2")}
    assert (eu["eu-west-1-read"].min_capacity, eu["eu-west-1-read"].max_capacity) == (2, 20)
    assert (us["us-west-2-read"].min_capacity, us["us-west-2-read"].max_capacity) == (10, 500)
    assert (eu["eu-west-1-write"].min_capacity, eu["eu-west-1-write"].max_capacity) == (5, 100)
    assert replica_scaling_targets(spec(), "eu-west-1") == []  # on-demand: nothing to scale


def test_every_copy_has_the_same_name_and_a_region_specific_arn():  # T9
    found = copies("p-s-things", "aws", "123456789012", ("us-east-1", "us-west-2"))
    assert [c.arn for c in found] == ["arn:aws:dynamodb:us-east-1:123456789012:table/p-s-things",
                                      "arn:aws:dynamodb:us-west-2:123456789012:table/p-s-things"]
    assert regional_arn(found[0].arn, "us-east-1", "us-west-2") == found[1].arn
    assert replica_stream_arn([{"region_name": "us-west-2", "stream_arn": "s"}], "us-west-2") == "s"
    assert replica_stream_arn([], "us-west-2") is None
    assert table_regions(False, Topology("us-east-1", ("us-west-2",))) == ("us-east-1",)


def test_region_sets_and_partitions():  # T10
    assert region_set_of("eu-central-1") == "EU" and region_set_of("us-west-1") is None
    assert partition_of("cn-north-1") == "aws-cn" and partition_of("us-gov-west-1") == "aws-us-gov"


def test_topology_findings_are_pure_and_complete():
    assert topology_findings(Topology("us-east-1", ("us-west-2", "eu-west-1")), REGIONS) == []
    paths = [p for p, _ in topology_findings(Topology("us-east-1", ("us-east-1", "nowhere-1")), REGIONS)]
    assert paths == ["replicaRegions[0]", "replicaRegions[1]"]


def test_changing_the_mode_of_an_existing_global_table_is_found():  # T10
    before = {"orders": {"mode": "EVENTUAL", "replicas": ["us-west-2"]}, "carts": {"mode": None, "replicas": []}}
    after = {"orders": {"mode": "STRONG", "replicas": ["us-west-2", "us-east-2"]}, "carts": {"mode": "STRONG", "replicas": ["us-east-2"]}}
    found = mode_change_findings(before, after)
    assert [p for p, _ in found] == ["tables.orders"]  # carts becomes global now: it is created with its mode
    assert "cannot change" in found[0][1]
