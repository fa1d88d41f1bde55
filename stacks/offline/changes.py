"""What would change between two plans, with replacements of stateful resources called out (T5).

Pure: two plan dicts in, a list of changes out. The replace-forcing properties are those the AWS
provider marks ForceNew for the resource types this program creates; a URN that disappears is a
delete (the engine only keeps a resource across a rename when `aliases` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


Action = Literal["create", "delete", "update", "replace"]

STATEFUL_TYPES = {"aws:dynamodb/table:Table", "aws:kms/key:Key"}
REPLACE_ON = {
    "aws:dynamodb/table:Table": ("name", "hashKey", "rangeKey", "localSecondaryIndexes", "region"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion", "region", "customKeyStoreId", "xksKeyId"),
    "aws:kms/alias:Alias": ("name", "region"),
    "aws:appautoscaling/target:Target": ("resourceId", "scalableDimension", "serviceNamespace", "region"),
    "aws:dynamodb/contributorInsights:ContributorInsights": ("tableName", "indexName", "region"),
    # ForceNew in the provider's aws_dax_cluster / subnet and parameter groups (D2).
    "aws:dax/cluster:Cluster": ("clusterName", "nodeType", "iamRoleArn", "availabilityZones",
                                "clusterEndpointEncryptionType", "serverSideEncryption", "subnetGroupName", "region"),
    "aws:dax/subnetGroup:SubnetGroup": ("name", "region"),
    "aws:dax/parameterGroup:ParameterGroup": ("name", "region"),
}
# Replacing these gives clients a new endpoint: they fail until they are given it (and the cache starts cold).
ENDPOINT_TYPES = {"aws:dax/cluster:Cluster"}


@dataclass(frozen=True)
class Change:
    urn: str
    type: str
    action: Action
    properties: tuple[str, ...] = ()
    protected: bool = False
    ignored: tuple[str, ...] = ()  # changed properties the resource's ignoreChanges keeps pulumi up from applying
    replica_regions: tuple[str, ...] = ()  # a replicated table: the regions whose copies go with it

    @property
    def destroys_data(self) -> bool:
        return self.type in STATEFUL_TYPES and self.action in ("delete", "replace")

    def render(self) -> str:
        name = self.urn.rsplit("::", 1)[-1]
        detail = f" ({', '.join(self.properties)})" if self.properties else ""
        line = f"{self.action:8} {self.type}  {name}{detail}"
        if "globalSecondaryIndexes" in self.ignored:
            line += ("  <-- index changes are IGNORED by pulumi up (autoscaled indexes, facts T7): set "
                     f"tableOverrides.<table>.applyIndexChanges: true for this deploy")
        if self.destroys_data:
            guard = "pulumi up stops: the resource is protected" if self.protected else "NOT protected: data would be lost"
            line += f"  <-- {'replaces' if self.action == 'replace' else 'deletes'} a stateful resource; {guard}"
            if self.replica_regions:
                line += f"; a replicated table: its copies in {', '.join(self.replica_regions)} go too"
        elif self.type in ENDPOINT_TYPES and self.action in ("delete", "replace"):
            line += ("  <-- replaces the DAX cluster: clients lose their endpoint (a new one after the replacement, "
                     "cold cache)" if self.action == "replace" else "  <-- deletes the DAX cluster: its clients lose their endpoint")
        return line


def _differs(before: Any, after: Any) -> bool:
    # Unknown in both plans: the same output of an unchanged resource. A known value becoming
    # unknown may or may not differ; like the engine, count it as a change.
    return before != after


def diff_plans(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    old = {r["urn"]: r for r in before["resources"]}
    new = {r["urn"]: r for r in after["resources"]}
    changes: list[Change] = []
    for urn in sorted(set(old) | set(new)):
        if urn not in new:
            r = old[urn]
            changes.append(Change(urn, r["type"], "delete", protected=r["options"].get("protect", False),
                                  replica_regions=_replica_regions(r)))
            continue
        r = new[urn]
        if urn not in old:
            changes.append(Change(urn, r["type"], "create"))
            continue
        before_inputs, after_inputs = old[urn]["inputs"], r["inputs"]
        changed = tuple(sorted(k for k in set(before_inputs) | set(after_inputs) if _differs(before_inputs.get(k), after_inputs.get(k))))
        if not changed:
            continue
        forcing = tuple(k for k in changed if k in REPLACE_ON.get(r["type"], ()))
        # `protect` as recorded before the change is what the engine enforces.
        protected = old[urn]["options"].get("protect", False)
        if forcing:
            changes.append(Change(urn, r["type"], "replace", forcing, protected,
                                  replica_regions=_replica_regions(old[urn])))
        else:
            # A path of ignoreChanges that is a whole property: what pulumi up will not apply.
            ignored = tuple(k for k in changed if k in r["options"].get("ignoreChanges", []))
            changes.append(Change(urn, r["type"], "update", changed, protected, ignored=ignored))
    return changes


# --------------------------------------------------------------------------------------------
# Global tables: what a change to `replicas` means (facts T2, T3, T10, K3).
# --------------------------------------------------------------------------------------------


def _replica_regions(resource: dict[str, Any]) -> tuple[str, ...]:
    if resource.get("type") != "aws:dynamodb/table:Table":
        return ()
    replicas = (resource.get("inputs") or {}).get("replicas") or []
    return tuple(r.get("regionName") for r in replicas if isinstance(r, dict)) if isinstance(replicas, list) else ()


def _replicas(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    replicas = (resource.get("inputs") or {}).get("replicas") or []
    return {r["regionName"]: r for r in replicas if isinstance(r, dict) and "regionName" in r} if isinstance(replicas, list) else {}


@dataclass(frozen=True)
class ReplicaNote:
    """One consequence of a replica change a reviewer must see. `blocking`: AWS refuses it as planned."""

    table: str
    region: str
    kind: Literal["add", "remove", "recreate", "one-per-update", "mode", "provisioned-create"]
    message: str
    blocking: bool = False

    def render(self) -> str:
        flag = "BLOCKED " if self.blocking else ""
        return f"{flag}{self.table} [{self.region}] {self.message}"


def replica_notes(before: dict[str, Any], after: dict[str, Any]) -> list[ReplicaNote]:
    """Per table: replicas added or removed per region, recreated replicas, more than one replica
    change in one update (T2), mode changes (T10), new PROVISIONED tables created with replicas (T3)."""
    old = {r["urn"]: r for r in before["resources"] if r["type"] == "aws:dynamodb/table:Table"}
    new = {r["urn"]: r for r in after["resources"] if r["type"] == "aws:dynamodb/table:Table"}
    notes: list[ReplicaNote] = []
    for urn in sorted(new):
        # A hand-built plan may lack the logical name: fall back to the URN's last part.
        name = new[urn].get("name") or urn.rsplit("::", 1)[-1]
        now = _replicas(new[urn])
        if urn not in old:
            if now and new[urn]["inputs"].get("billingMode") == "PROVISIONED":
                notes.append(ReplicaNote(name, ",".join(now), "provisioned-create",
                                         "a new PROVISIONED table created with replicas: AWS adds replicas only once write "
                                         "autoscaling exists (T3); deploy it without replicaRegions first, then add them", True))
            continue
        was = _replicas(old[urn])
        added = [r for r in now if r not in was]
        removed = [r for r in was if r not in now]
        for region in added:
            notes.append(ReplicaNote(name, region, "add", "adds a replica: the table's data is copied to this region "
                                     "(replicated writes and storage are billed there from now on)"))
        for region in removed:
            notes.append(ReplicaNote(name, region, "remove", "REMOVES the replica: this region's copy of the data is "
                                     "deleted (the other regions keep theirs)"))
        for region in sorted(set(now) & set(was)):
            if was[region].get("kmsKeyArn") != now[region].get("kmsKeyArn"):
                notes.append(ReplicaNote(name, region, "recreate", "changes the replica's key: the provider recreates "
                                         "this replica (its copy is deleted and copied again) (K3)"))
            if was[region].get("consistencyMode", "EVENTUAL") != now[region].get("consistencyMode", "EVENTUAL"):
                notes.append(ReplicaNote(name, region, "mode", "changes the consistency mode of an existing global "
                                         "table; the mode is chosen at creation and cannot change (T10)", True))
        if len(added) + len(removed) > 1:
            notes.append(ReplicaNote(name, ",".join(added + removed), "one-per-update",
                                     f"{len(added) + len(removed)} replica changes in one update; AWS adds or removes "
                                     "one replica per update (T2): change replicaRegions one region at a time", True))
    return notes


def replication_state(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table -> {mode, replicas} as a plan records it (for the mode rule of stacks/replication)."""
    state: dict[str, dict[str, Any]] = {}
    for resource in plan.get("resources", []):
        if resource.get("type") != "aws:dynamodb/table:Table":
            continue
        replicas = _replicas(resource)
        modes = {r.get("consistencyMode", "EVENTUAL") for r in replicas.values()}
        state[resource.get("name") or resource.get("urn", "").rsplit("::", 1)[-1]] = {"mode": modes.pop() if len(modes) == 1 else None, "replicas": sorted(replicas)}
    return state
