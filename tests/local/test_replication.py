"""Global tables on the local runtime: each replica is a table in its region on one moto server,
kept in step from the streams (facts T10, T13, T14, T15).

EVENTUAL: asynchronous, per-item last writer wins, configurable lag. STRONG: synchronous, a read in
any region right after a write sees it. Property: after concurrent conflicting writes in several
regions quiesce, every replica holds the same item, and it is the last write.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.local.aws import LocalAws
from stacks.local.replication import LocalReplicator, Write, last_writer, written_items

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
TABLE = "replication-test"


def create_copies(aws: LocalAws, table: str, regions=REGIONS) -> None:
    for region in regions:
        aws.client("dynamodb", region).create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )


@pytest.fixture(scope="module")
def aws():
    with LocalAws("us-east-1") as server:
        create_copies(server, TABLE)
        yield server


@pytest.fixture(scope="module")
def clients(aws):
    return {region: aws.client("dynamodb", region) for region in REGIONS}


@pytest.fixture(scope="module")
def held(aws):
    """An EVENTUAL replicator whose lag never elapses: nothing replicates until quiesce()."""
    return LocalReplicator(aws, {TABLE: REGIONS}, "EVENTUAL", lag_seconds=1e9)


def item(clients, region, key):
    return clients[region].get_item(TableName=TABLE, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")


def put(clients, region, key, value):
    clients[region].put_item(TableName=TABLE, Item={"id": {"S": key}, "value": {"S": value}, "writer": {"S": region}})


def test_last_writer_wins_by_timestamp_then_region():  # T14
    early = Write("t", "us-west-2", {"id": {"S": "a"}}, {"v": {"S": "1"}}, at=1.0)
    late = Write("t", "eu-west-1", {"id": {"S": "a"}}, {"v": {"S": "2"}}, at=2.0)
    assert last_writer(early, late) is late and last_writer(late, early) is late
    tie_a = Write("t", "eu-west-1", {"id": {"S": "a"}}, None, at=3.0)
    tie_b = Write("t", "us-east-1", {"id": {"S": "a"}}, None, at=3.0)
    assert last_writer(tie_a, tie_b) is tie_b and last_writer(tie_b, tie_a) is tie_b  # every replica picks the same
    assert last_writer(None, early) is early


def test_a_write_in_one_region_is_read_from_the_others(clients, held):
    key = f"k-{uuid.uuid4().hex}"
    put(clients, "eu-west-1", key, "hello")
    held.quiesce()
    for region in REGIONS:
        assert item(clients, region, key)["value"] == {"S": "hello"}, region


def test_eventual_replication_is_asynchronous(clients, held):
    key = f"k-{uuid.uuid4().hex}"
    put(clients, "us-west-2", key, "not yet")
    held.pump_once()  # reads the stream, but the lag has not passed
    assert item(clients, "us-east-1", key) is None and item(clients, "eu-west-1", key) is None
    held.quiesce()
    assert item(clients, "us-east-1", key)["value"] == {"S": "not yet"}


def test_deletes_replicate(clients, held):
    key = f"k-{uuid.uuid4().hex}"
    put(clients, "us-east-1", key, "doomed")
    held.quiesce()
    clients["us-west-2"].delete_item(TableName=TABLE, Key={"id": {"S": key}})
    held.quiesce()
    assert [item(clients, r, key) for r in REGIONS] == [None, None, None]


def test_a_losing_write_is_overwritten_in_its_own_region(clients, held):  # T14
    key = f"k-{uuid.uuid4().hex}"
    put(clients, "us-east-1", key, "first")
    time.sleep(0.005)
    put(clients, "eu-west-1", key, "second")  # later: wins
    before = held.stats.conflicts
    held.quiesce()
    assert {item(clients, r, key)["value"]["S"] for r in REGIONS} == {"second"}
    assert held.stats.conflicts >= before


def test_replicated_writes_are_not_replicated_back(clients, held):  # T15: records of replicated writes
    key = f"k-{uuid.uuid4().hex}"
    put(clients, "us-east-1", key, "once")
    held.quiesce()
    applied, echoes = held.stats.applied, held.stats.echoes
    held.quiesce()
    assert (held.stats.applied, held.stats.echoes) == (applied, echoes)  # settled: nothing ping-pongs


def test_lag_is_configurable_and_respected(aws, clients):
    table = f"lag-{uuid.uuid4().hex[:8]}"
    create_copies(aws, table, REGIONS[:2])
    ddb = aws.client("dynamodb", "us-east-1")
    with LocalReplicator(aws, {table: REGIONS[:2]}, "EVENTUAL", lag_seconds=0.6, interval=0.05):
        written = time.monotonic()
        ddb.put_item(TableName=table, Item={"id": {"S": "x"}})
        other = aws.client("dynamodb", "us-west-2")
        seen = None
        while time.monotonic() - written < 10:
            if other.get_item(TableName=table, Key={"id": {"S": "x"}}).get("Item"):
                seen = time.monotonic() - written
                break
            time.sleep(0.05)
    assert seen is not None and seen >= 0.5, seen


def test_strong_replication_is_synchronous(aws):  # T10
    table = f"strong-{uuid.uuid4().hex[:8]}"
    create_copies(aws, table)
    with LocalReplicator(aws, {table: REGIONS}, "STRONG", interval=60):
        aws.client("dynamodb", "us-west-2").put_item(TableName=table, Item={"id": {"S": "x"}, "v": {"N": "1"}})
        for region in REGIONS:  # no quiesce: visible everywhere as soon as the write returned
            got = aws.client("dynamodb", region).get_item(TableName=table, Key={"id": {"S": "x"}}, ConsistentRead=True)
            assert got["Item"]["v"] == {"N": "1"}, region


OPS = st.lists(
    st.tuples(st.sampled_from(REGIONS), st.sampled_from(["a", "b"]), st.one_of(st.none(), st.text("xyz", min_size=1, max_size=3))),
    min_size=1, max_size=10,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_conflicting_writes_in_several_regions_converge_on_the_last_write(clients, held, ops):
    """Writes interleaved across regions with no replication in between (all concurrent as far as
    replication knows); after quiescing, every replica holds the last write of each item.

    A delete of an item the region does not hold changes nothing and leaves no stream record, so
    the local replicator cannot see it; it is not counted as a write (AWS's handling unverified)."""
    prefix = uuid.uuid4().hex
    last: dict[str, str | None] = {}
    for region, key, value in ops:
        full = f"{prefix}-{key}"
        if value is None:
            removed = clients[region].delete_item(TableName=TABLE, Key={"id": {"S": full}}, ReturnValues="ALL_OLD")
            if "Attributes" not in removed:
                continue  # deleting an item this region does not hold writes nothing (no stream record)
        else:
            put(clients, region, full, value)
        last[full] = value
        time.sleep(0.002)  # stream timestamps have millisecond resolution
    held.quiesce()
    for full, value in last.items():
        copies = [item(clients, r, full) for r in REGIONS]
        assert all(c == copies[0] for c in copies), (full, copies)  # converged
        assert (copies[0] or {}).get("value", {}).get("S") == value  # and on the last write


def test_concurrent_writers_converge_on_the_latest_timestamp(clients, held):
    key = f"c-{uuid.uuid4().hex}"
    barrier = threading.Barrier(len(REGIONS))

    def writer(region: str) -> None:
        barrier.wait()
        for i in range(5):
            put(clients, region, key, f"{region}-{i}")

    threads = [threading.Thread(target=writer, args=(r,)) for r in REGIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held.quiesce()
    copies = [item(clients, r, key) for r in REGIONS]
    assert all(c == copies[0] for c in copies)
    assert copies[0]["value"]["S"].endswith("-4")  # some region's last write, never an older one


def test_a_strong_stack_bootstraps_its_copies_and_replicates_synchronously(scratch, tmp_path):  # T10, T13
    """A STRONG stack's plan (3 regions of the US set; the catalog table is MRSC-ready) on the local
    runtime's bootstrap: every copy exists, and a write is visible everywhere when it returns."""
    import copy as copy_module

    import yaml

    from stacks.local.aws import bootstrap
    from stacks.local.replication import replicator_for_plan
    from stacks.offline.preview import preview

    model = copy_module.deepcopy(yaml.safe_load((scratch.root / "Pulumi.yaml").read_text())["config"]["ddb-blueprint:tables"]["value"])
    for table in model.values():
        table["global"] = False
    model["catalog"] = {"attributes": {"sku": "S"}, "partitionKey": "sku"}
    scratch.set_tables(model)
    scratch.write_stack("qa", {"aws:region": "us-east-1", "ddb-blueprint:replicaRegions": ["us-east-2", "us-west-2"],
                               "ddb-blueprint:replicaConsistency": "STRONG"})
    plan = preview(scratch.root, "qa", tmp_path).plan
    with LocalAws("us-east-1") as server:
        local = bootstrap(plan, server)
        assert list(local.copies("catalog")) == ["us-east-1", "us-east-2", "us-west-2"]
        replicator = replicator_for_plan(server, plan)
        assert replicator is not None and replicator.mode == "STRONG"
        with replicator:
            name = local.table("catalog").name
            server.client("dynamodb", "us-west-2").put_item(TableName=name, Item={"sku": {"S": "s-1"}})
            for region in ("us-east-1", "us-east-2"):
                assert "Item" in server.client("dynamodb", region).get_item(TableName=name, Key={"sku": {"S": "s-1"}})


# --- STRONG: a write to an item another region is writing is rejected (T18) ----------------------

def test_written_items_are_the_keys_of_replicated_tables_only():  # T18
    keys = {"orders": ("userId", "orderId"), "carts": ("userId",)}.get
    put = {"TableName": "orders", "Item": {"userId": {"S": "u"}, "orderId": {"S": "o"}, "note": {"S": "x"}}}
    assert written_items("PutItem", put, keys) == [("orders", '{"orderId":{"S":"o"},"userId":{"S":"u"}}')]
    assert written_items("UpdateItem", {"TableName": "carts", "Key": {"userId": {"S": "u"}}}, keys) == [
        ("carts", '{"userId":{"S":"u"}}')]
    assert written_items("DeleteItem", {"TableName": "sessions", "Key": {"id": {"S": "s"}}}, keys) == []  # not replicated
    batch = {"RequestItems": {"carts": [{"PutRequest": {"Item": {"userId": {"S": "a"}, "n": {"N": "1"}}}},
                                        {"DeleteRequest": {"Key": {"userId": {"S": "b"}}}}],
                              "sessions": [{"DeleteRequest": {"Key": {"id": {"S": "s"}}}}]}}
    assert written_items("BatchWriteItem", batch, keys) == [("carts", '{"userId":{"S":"a"}}'), ("carts", '{"userId":{"S":"b"}}')]
    transact = {"TransactItems": [{"Put": {"TableName": "carts", "Item": {"userId": {"S": "a"}}}},
                                  {"ConditionCheck": {"TableName": "carts", "Key": {"userId": {"S": "c"}}}},
                                  {"Delete": {"TableName": "orders", "Key": {"userId": {"S": "a"}, "orderId": {"S": "1"}}}}]}
    assert written_items("TransactWriteItems", transact, keys) == [
        ("carts", '{"userId":{"S":"a"}}'), ("orders", '{"orderId":{"S":"1"},"userId":{"S":"a"}}')]


def test_a_strong_write_to_an_item_another_region_is_writing_is_rejected_and_a_retry_succeeds(aws, clients):  # T18
    from botocore.exceptions import ClientError

    table = "strong-conflicts"
    create_copies(aws, table)
    replicator = LocalReplicator(aws, {table: REGIONS}, "STRONG")
    # Hold the first write's replication open, so that it is still in flight while others arrive.
    first_flush, release = threading.Event(), threading.Event()
    pump = replicator.pump_once

    def slow_first_flush(flush=False):
        if flush and not first_flush.is_set():
            first_flush.set()
            release.wait(10)
        return pump(flush=flush)

    replicator.pump_once = slow_first_flush
    with replicator:
        writer = threading.Thread(target=lambda: clients["us-east-1"].put_item(
            TableName=table, Item={"id": {"S": "k"}, "value": {"S": "east"}}))
        writer.start()
        assert first_flush.wait(10)  # us-east-1's write is in flight
        with pytest.raises(ClientError) as conflict:
            clients["us-west-2"].put_item(TableName=table, Item={"id": {"S": "k"}, "value": {"S": "west"}})
        assert conflict.value.response["Error"]["Code"] == "ReplicatedWriteConflictException"
        assert conflict.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        # the SDK retries it (retry-safe); every attempt came while the other write was in flight
        attempts = conflict.value.response["ResponseMetadata"]["RetryAttempts"] + 1
        assert attempts > 1
        assert replicator.stats.rejected == attempts
        # another item, and the same item from the same region, are not conflicts
        clients["us-west-2"].put_item(TableName=table, Item={"id": {"S": "other"}, "value": {"S": "west"}})
        clients["us-east-1"].update_item(TableName=table, Key={"id": {"S": "k"}}, UpdateExpression="SET n = :n",
                                         ExpressionAttributeValues={":n": {"N": "1"}})
        release.set()
        writer.join(10)
        # the rejected write changed nothing; retried once the other region's write is done, it wins everywhere
        clients["us-west-2"].put_item(TableName=table, Item={"id": {"S": "k"}, "value": {"S": "west"}})
        for region in REGIONS:
            stored = clients[region].get_item(TableName=table, Key={"id": {"S": "k"}}, ConsistentRead=True)["Item"]
            assert stored["value"] == {"S": "west"}, region
    assert replicator.stats.rejected == attempts  # nothing else was refused
