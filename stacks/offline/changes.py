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
            changes.append(Change(urn, r["type"], "delete", protected=r["options"].get("protect", False)))
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
            changes.append(Change(urn, r["type"], "replace", forcing, protected))
        else:
            # A path of ignoreChanges that is a whole property: what pulumi up will not apply.
            ignored = tuple(k for k in changed if k in r["options"].get("ignoreChanges", []))
            changes.append(Change(urn, r["type"], "update", changed, protected, ignored))
    return changes
