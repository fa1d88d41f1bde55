"""Isolation proof: what a row-scoped principal can and cannot do, evaluated on its real policy.

For each row-scoped grant, build the requests a reviewer cares about (the owner on their own
partition, another user's partition, a mixed batch, Scan, an undeclared index, an undeclared action,
a table never granted, attributes outside the allowed list) with the outcome the declaration
promises, and evaluate them with stacks.iam_eval against the generated policy document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from .policies import ITEM_ACTIONS, ArnContext, grant_actions, item_actions, owner_variable
from .evaluator import Request, evaluate
from .model import AccessModel, Grant, Principal
from ..tables.model import TableModel

OWNER = "alice-0001"
OTHER = "bob-0002"


@dataclass(frozen=True)
class Scenario:
    grant: str
    description: str
    request: Request
    expected: str  # "allow" or "deny"

    def outcome(self, policies: Sequence[Mapping[str, Any]]) -> str:
        return "allow" if evaluate(policies, self.request) == "allow" else "deny"


def _identity_context(principal: Principal, identity: str) -> dict[str, str]:
    variable = owner_variable(principal) or ""
    key = variable[2:-1]  # ${key} -> key
    return {key: identity}


def _attributes_context(grant: Grant, table: TableModel, extra: Optional[str] = None) -> dict[str, Any]:
    if not grant.attributes:
        return {}
    keys = [table.partitionKey] + ([table.sortKey] if table.sortKey else [])
    attributes = sorted(set(keys) | {grant.attributes[0]} | ({extra} if extra else set()))
    return {"dynamodb:Attributes": attributes, "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}


def region_without_copy(regions: Sequence[str], ctx: ArnContext) -> Optional[str]:
    """A region of this stack where the table has no copy, else the first partition region with none."""
    stack_regions = {r for rs in ctx.table_regions.values() for r in rs} | {ctx.region}
    candidates = sorted(stack_regions - set(regions)) or sorted(
        r for r in ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "ap-northeast-1") if r not in regions
    )
    return candidates[0] if candidates else None


def grant_scenarios(
    name: str, grant: Grant, access: AccessModel, tables: Mapping[str, TableModel], ctx: ArnContext
) -> list[Scenario]:
    """Requests and promised outcomes for one row-scoped grant (empty for other grants)."""
    if grant.rowScope != "owner":
        return []
    principal = access.principals[grant.principal]
    table = tables[grant.table]
    arn = ctx.table_arn(grant.table)
    owner = _identity_context(principal, OWNER)
    attrs = _attributes_context(grant, table)

    def request(action: str, resource: str, keys: Optional[list[str]], **extra: Any) -> Request:
        context: dict[str, Any] = {**owner, **attrs, **extra}
        if keys is not None:
            context["dynamodb:LeadingKeys"] = keys
        return Request(action=action, resource=resource, context=context)

    scenarios: list[Scenario] = []
    regions = ctx.regions_of(grant.table)
    for action in item_actions(grant):
        scenarios.append(Scenario(name, f"{action} on the caller's own partition", request(action, arn, [OWNER]), "allow"))
        scenarios.append(Scenario(name, f"{action} on another user's partition", request(action, arn, [OTHER]), "deny"))
        # A global table: the same isolation on every replica (T9), and nothing where it has none.
        for region in regions[1:]:
            replica = ctx.table_arn(grant.table, region)
            scenarios.append(Scenario(name, f"{action} on the caller's own partition in replica region {region}",
                                      request(action, replica, [OWNER]), "allow"))
            scenarios.append(Scenario(name, f"{action} on another user's partition in replica region {region}",
                                      request(action, replica, [OTHER]), "deny"))
        elsewhere = region_without_copy(regions, ctx)
        if elsewhere is not None:
            scenarios.append(Scenario(name, f"{action} on the caller's own partition in {elsewhere} (no copy of the table there)",
                                      request(action, ctx.table_arn(grant.table, elsewhere), [OWNER]), "deny"))
    if "dynamodb:BatchGetItem" in item_actions(grant):
        scenarios.append(
            Scenario(name, "BatchGetItem mixing own and another user's keys",
                     request("dynamodb:BatchGetItem", arn, [OWNER, OTHER]), "deny")
        )
    scenarios.append(Scenario(name, "Scan of the whole table", request("dynamodb:Scan", arn, None), "deny"))
    scenarios.append(
        Scenario(name, "PartiQLSelect without a partition key", request("dynamodb:PartiQLSelect", arn, None), "deny")
    )
    for index in sorted(set(table.globalIndexes) | set(table.localIndexes)):
        index_arn = f"{arn}/index/{index}"
        if index in grant.indexes:
            scenarios.append(Scenario(name, f"Query on granted index {index} for own key", request("dynamodb:Query", index_arn, [OWNER]), "allow"))
        else:
            scenarios.append(Scenario(name, f"Query on undeclared index {index}", request("dynamodb:Query", index_arn, [OWNER]), "deny"))
    scenarios.append(
        Scenario(name, "Query on undeclared index 'unknownIndex' (not in the model)",
                 request("dynamodb:Query", f"{arn}/index/unknownIndex", [OWNER]), "deny")
    )
    undeclared = sorted(set(ITEM_ACTIONS) - set(grant_actions(grant)) - {"dynamodb:Scan", "dynamodb:PartiQLSelect"})
    for action in undeclared:
        granted_elsewhere = any(
            g.principal == grant.principal and g.table == grant.table and action in grant_actions(g)
            for g in access.grants.values()
        )
        if not granted_elsewhere:
            scenarios.append(Scenario(name, f"undeclared {action} on own partition", request(action, arn, [OWNER]), "deny"))
    for other in sorted(tables):
        if not any(g.principal == grant.principal and g.table == other for g in access.grants.values()):
            scenarios.append(
                Scenario(name, f"GetItem on table {other} (never granted)", request("dynamodb:GetItem", ctx.table_arn(other), [OWNER]), "deny")
            )
    if grant.attributes:
        outside = "internalNotes"
        scenarios.append(
            Scenario(name, f"GetItem projecting {outside} (not an allowed attribute)",
                     request("dynamodb:GetItem", arn, [OWNER], **_attributes_context(grant, table, outside)), "deny")
        )
        scenarios.append(
            Scenario(name, "Query with Select ALL_ATTRIBUTES",
                     request("dynamodb:Query", arn, [OWNER], **{"dynamodb:Select": "ALL_ATTRIBUTES"}), "deny")
        )
    return scenarios



