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
