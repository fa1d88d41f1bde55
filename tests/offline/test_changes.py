"""Plan diffs: replacements and deletions of tables and keys are flagged (GOTCHAS T5)."""

import copy

from stacks.offline.changes import diff_plans
from stacks.offline.mockrun import UNKNOWN

TABLE_URN = "urn:pulumi:prod::p::ddb-blueprint:index:Table$aws:dynamodb/table:Table::carts"


def plan(**inputs):
    base = {"name": "p-prod-carts", "hashKey": "userId", "rangeKey": "productId", "billingMode": "PAY_PER_REQUEST"}
    return {"resources": [{"urn": TABLE_URN, "type": "aws:dynamodb/table:Table", "inputs": {**base, **inputs},
                           "options": {"protect": True}}]}


def test_changing_the_sort_key_replaces_a_protected_table():
    [change] = diff_plans(plan(), plan(rangeKey="addedAt"))
    assert (change.action, change.properties, change.destroys_data, change.protected) == ("replace", ("rangeKey",), True, True)
    assert "pulumi up stops" in change.render()


def test_adding_a_local_index_replaces_the_table():
    [change] = diff_plans(plan(), plan(localSecondaryIndexes=[{"name": "byAddedAt", "rangeKey": "addedAt"}]))
    assert change.action == "replace" and change.properties == ("localSecondaryIndexes",)


def test_billing_mode_change_is_an_in_place_update():
    [change] = diff_plans(plan(), plan(billingMode="PROVISIONED"))
    assert (change.action, change.destroys_data) == ("update", False)


def test_removed_table_is_a_delete_that_destroys_data():
    after = {"resources": []}
    [change] = diff_plans(plan(), after)
    assert change.action == "delete" and change.destroys_data


def test_unknown_new_value_counts_as_a_change_and_identical_plans_have_none():
    assert diff_plans(plan(), copy.deepcopy(plan())) == []
    [change] = diff_plans(plan(), plan(name=UNKNOWN))
    assert change.action == "replace"


def test_unprotected_replacement_is_called_out():
    before = plan()
    before["resources"][0]["options"]["protect"] = False
    [change] = diff_plans(before, plan(hashKey="cartId"))
    assert "NOT protected: data would be lost" in change.render()


def test_an_index_change_that_pulumi_up_would_ignore_is_called_out():  # T7
    gsi = [{"name": "byCategory", "hashKey": "category", "projectionType": "ALL"}]
    before, after = plan(globalSecondaryIndexes=gsi), plan(globalSecondaryIndexes=gsi + [
        {"name": "byPrice", "hashKey": "price", "projectionType": "KEYS_ONLY"}])
    after["resources"][0]["options"]["ignoreChanges"] = ["readCapacity", "writeCapacity", "globalSecondaryIndexes"]
    [change] = diff_plans(before, after)
    assert change.ignored == ("globalSecondaryIndexes",) and "IGNORED by pulumi up" in change.render()
    assert "applyIndexChanges: true" in change.render()
    del after["resources"][0]["options"]["ignoreChanges"]  # the applyIndexChanges deploy
    [change] = diff_plans(before, after)
    assert change.ignored == () and "IGNORED" not in change.render()


def test_diff_cli_exits_1_on_an_index_change_pulumi_up_would_ignore(tmp_path, capsys):  # T7
    import json

    from stacks.__main__ import main

    gsi = [{"name": "byCategory", "hashKey": "category", "projectionType": "ALL"}]
    before, after = plan(globalSecondaryIndexes=gsi), plan(globalSecondaryIndexes=[])
    for p in (before, after):
        p["resources"][0]["options"]["ignoreChanges"] = ["globalSecondaryIndexes"]
    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    assert main(["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    assert "IGNORED by pulumi up" in capsys.readouterr().out


DAX_URN = "urn:pulumi:prod::p::ddb-blueprint:index:DaxCluster$aws:dax/cluster:Cluster::dax-cluster"


def dax_plan(**inputs):
    base = {"clusterName": "shop-prod", "nodeType": "dax.r5.large", "replicationFactor": 3,
            "clusterEndpointEncryptionType": "TLS", "subnetGroupName": "p-prod-dax", "availabilityZones": ["a", "b", "c"],
            "maintenanceWindow": "sun:05:00-sun:06:00"}
    return {"resources": [{"urn": DAX_URN, "type": "aws:dax/cluster:Cluster", "inputs": {**base, **inputs}, "options": {}}]}


def test_dax_node_type_tls_name_azs_and_subnet_group_changes_replace_the_cluster_and_warn_clients():
    """D2: these arguments are ForceNew; clients lose the endpoint."""
    for key, value in [("nodeType", "dax.r5.xlarge"), ("clusterEndpointEncryptionType", "NONE"), ("clusterName", "shop-prod2"),
                       ("availabilityZones", ["a", "b", "d"]), ("subnetGroupName", "other"), ("iamRoleArn", "arn:aws:iam::1:role/x")]:
        [change] = diff_plans(dax_plan(), dax_plan(**{key: value}))
        assert (change.action, change.properties) == ("replace", (key,)), key
        assert "clients lose their endpoint" in change.render()


def test_dax_node_count_and_window_change_in_place():
    """D2: replication factor and maintenance window are updated in place."""
    [change] = diff_plans(dax_plan(), dax_plan(replicationFactor=5, maintenanceWindow="mon:05:00-mon:06:00"))
    assert change.action == "update" and "clients lose" not in change.render()


def test_dax_node_count_change_with_one_zone_per_node_is_flagged_as_a_replacement():
    """The program names one AZ per node, so a new count changes availabilityZones (ForceNew, D2)."""
    [change] = diff_plans(dax_plan(), dax_plan(replicationFactor=4, availabilityZones=["a", "b", "c", "a"]))
    assert change.action == "replace" and change.properties == ("availabilityZones",)


# --- global tables (facts T2, T3, T10, K3) ------------------------------------------------------

from stacks.offline.changes import replica_notes, replication_state  # noqa: E402


def replicated(*regions: str, mode: str = "EVENTUAL", key: str = UNKNOWN, **inputs):
    replicas = [{"regionName": r, "kmsKeyArn": key, "consistencyMode": mode, "pointInTimeRecovery": True} for r in regions]
    return plan(replicas=replicas, **inputs)


def named(table_plan, name="carts"):
    table_plan["resources"][0]["name"] = name
    return table_plan


def test_adding_one_replica_is_called_out_per_region():
    notes = replica_notes(named(replicated("us-west-2")), named(replicated("us-west-2", "eu-west-1")))
    assert [(n.kind, n.region, n.blocking) for n in notes] == [("add", "eu-west-1", False)]
    assert "copied to this region" in notes[0].render()


def test_removing_a_replica_says_that_regions_copy_is_deleted():
    [note] = replica_notes(named(replicated("us-west-2", "eu-west-1")), named(replicated("us-west-2")))
    assert (note.kind, note.region) == ("remove", "eu-west-1") and "copy of the data is deleted" in note.message


def test_more_than_one_replica_change_in_one_update_is_blocked():  # T2
    notes = replica_notes(named(replicated()), named(replicated("us-west-2", "eu-west-1")))
    blocking = [n for n in notes if n.blocking]
    assert [n.kind for n in blocking] == ["one-per-update"] and "one region at a time" in blocking[0].message


def test_changing_a_replicas_key_recreates_it():  # K3
    notes = replica_notes(named(replicated("us-west-2", key="arn:aws:kms:us-west-2:1:key/a")),
                          named(replicated("us-west-2", key="arn:aws:kms:us-west-2:1:key/b")))
    assert [n.kind for n in notes] == ["recreate"]


def test_changing_the_mode_of_a_global_table_is_blocked():  # T10
    notes = replica_notes(named(replicated("us-east-2", "us-west-2")), named(replicated("us-east-2", "us-west-2", mode="STRONG")))
    assert {n.kind for n in notes} == {"mode"} and all(n.blocking for n in notes)
    assert replication_state(named(replicated("us-west-2")))["carts"] == {"mode": "EVENTUAL", "replicas": ["us-west-2"]}


def test_a_new_provisioned_table_with_replicas_must_be_created_first():  # T3
    notes = replica_notes({"resources": []}, named(replicated("us-west-2", billingMode="PROVISIONED")))
    assert [(n.kind, n.blocking) for n in notes] == [("provisioned-create", True)]
    assert replica_notes({"resources": []}, named(replicated("us-west-2"))) == []  # on demand: fine


def test_replacing_a_replicated_table_names_every_copy():
    [change] = diff_plans(replicated("us-west-2", "eu-west-1"), replicated("us-west-2", "eu-west-1", rangeKey="addedAt"))
    assert change.action == "replace" and change.replica_regions == ("us-west-2", "eu-west-1")
    assert "its copies in us-west-2, eu-west-1 go too" in change.render()
