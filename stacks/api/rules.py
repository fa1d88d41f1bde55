"""Route checks before anything is generated: each problem as (path under `api`, message).

The isolation rule matters most: on a table that the access model row-scopes for app users, every
route must take the partition key from the caller's identity, never from client input; the
integration role is one identity for all callers (DESIGN, GOTCHAS A9).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional

from ..access.policies import grant_actions
from .model import PATH, SOURCE, ApiModel, Route, path_parameters, source_kind, source_name
from ..access.model import AccessModel
from ..tables.model import TableModel

Finding = tuple[str, str]
ROUTE_ID = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")
ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
OPERATION_ACTION = {
    "GetItem": "dynamodb:GetItem",
    "Query": "dynamodb:Query",
    "PutItem": "dynamodb:PutItem",
    "UpdateItem": "dynamodb:UpdateItem",
    "DeleteItem": "dynamodb:DeleteItem",
}
READS = ("GetItem", "Query")
BODY_METHODS = ("PUT", "PATCH", "POST")
NUMERIC_SOURCES = ("server.now",)


def key_schema(route: Route, table: TableModel) -> tuple[list[str], list[str]]:
    """(partition attributes, sort attributes) of what the route addresses: its index or the table."""
    if route.index and route.index in table.globalIndexes:
        gsi = table.globalIndexes[route.index]
        return gsi.partition_attributes, gsi.sort_attributes
    if route.index and route.index in table.localIndexes:
        return [table.partitionKey], [table.localIndexes[route.index].sortKey]
    return [table.partitionKey], ([table.sortKey] if table.sortKey else [])


def user_owned_tables(access: AccessModel) -> set[str]:
    """Tables whose rows belong to app users: row-scoped for the cognitoUser principal."""
    cognito = {n for n, p in access.principals.items() if p.kind == "cognitoUser"}
    return {g.table for g in access.grants.values() if g.principal in cognito and g.rowScope == "owner"}


def cognito_principal(access: AccessModel) -> Optional[str]:
    return next((n for n, p in access.principals.items() if p.kind == "cognitoUser"), None)


def api_findings(api: ApiModel, tables: Mapping[str, TableModel], access: AccessModel) -> list[Finding]:
    found: list[Finding] = []
    seen: dict[tuple[str, str], str] = {}
    for name, route in api.routes.items():
        if not ROUTE_ID.match(name):
            found.append((f"routes.{name}", "route ids are identifiers: a lowercase letter, then letters or digits"))
        signature = (route.method, re.sub(r"\{[^}]+\}", "{}", route.path))
        if signature in seen:
            found.append((f"routes.{name}", f"{route.method} {route.path} is also route {seen[signature]!r}"))
        seen[signature] = name
        found += [(f"routes.{name}{sub}", msg) for sub, msg in route_findings(route, tables, access)]
    return found


def _source_findings(route: Route, attribute: str, source: str, where: str) -> list[Finding]:
    found: list[Finding] = []
    if not SOURCE.match(source):
        return [(where, f"{source!r} is not a source: identity, path.<param>, query.<param>, body.<field>, "
                        "server.requestId, server.now or server.expiresIn:<seconds>")]
    kind, name = source_kind(source), source_name(source)
    if kind == "path" and name not in path_parameters(route.path):
        found.append((where, f"path parameter {name!r} is not in {route.path}"))
    if kind == "body" and name not in route.body:
        found.append((where, f"body field {name!r} is not declared in body"))
    if kind == "query" and route.operation not in READS:
        found.append((where, "query parameters feed reads only; writes take values from the path or the body"))
    return found


def route_findings(route: Route, tables: Mapping[str, TableModel], access: AccessModel) -> list[Finding]:
    found: list[Finding] = []
    if not PATH.match(route.path):
        found.append((".path", "must start with / and contain segments of letters, digits, . _ - or {param}"))
    table = tables.get(route.table)
    if table is None:
        return found + [(".table", f"no table {route.table!r}; tables: {', '.join(sorted(tables))}")]
    if route.index is not None:
        if route.operation != "Query":
            found.append((".index", "only Query reads an index"))
        elif route.index not in table.globalIndexes and route.index not in table.localIndexes:
            found.append((".index", f"table {route.table!r} has no index {route.index!r}"))
            return found
    partition, sort = key_schema(route, table)
    expected = partition if route.operation == "Query" else partition + sort
    if sorted(route.key) != sorted(expected):
        what = "the partition key" if route.operation == "Query" else "the full primary key"
        found.append((".key", f"{route.operation} needs exactly {what}: {', '.join(expected)} (got {', '.join(route.key) or 'none'})"))
    for attribute, source in route.key.items():
        found += _source_findings(route, attribute, source, f".key.{attribute}")
    for part in ("item", "set", "add"):
        for attribute, source in getattr(route, part).items():
            found += _source_findings(route, attribute, source, f".{part}.{attribute}")
            if attribute in set(table.attributes) & ({table.partitionKey, table.sortKey} - {None}):
                found.append((f".{part}.{attribute}", "is a key attribute; keys come from `key`"))
            if not ATTRIBUTE.match(attribute):
                found.append((f".{part}.{attribute}", "attribute names here are identifiers"))
    found += _operation_findings(route)
    found += _type_findings(route, table)
    used = {source_name(s) for s in [*route.key.values(), *route.item.values(), *route.set.values(), *route.add.values()]
            if source_kind(s) == "body"}
    for field in route.body:
        if field not in used:
            found.append((f".body.{field}", "is accepted but never stored or used; remove it"))
    for param in path_parameters(route.path):
        if f"path.{param}" not in route.key.values():
            found.append((".path", f"path parameter {param!r} is not used as a key part"))
    if route.table in user_owned_tables(access):
        if any(route.key.get(a) != "identity" for a in partition if a in route.key):
            found.append((".key", f"table {route.table!r} holds app users' own rows (row-scoped in the access model): "
                                  f"its partition key must come from `identity`, never from client input (GOTCHAS A9)"))
    if route.auth == "iam":
        found += _iam_route_findings(route, table, access)
    return found


def _operation_findings(route: Route) -> list[Finding]:
    op = route.operation
    found: list[Finding] = []
    if route.item and op != "PutItem":
        found.append((".item", "only PutItem writes `item`"))
    if (route.set or route.add) and op != "UpdateItem":
        found.append((".set", "only UpdateItem uses `set` and `add`"))
    if op == "UpdateItem" and not (route.set or route.add):
        found.append(("", "UpdateItem needs `set` or `add`"))
    for bound in ("keepAtLeast", "keepAtMost"):
        for attribute in getattr(route, bound):
            if attribute not in route.add:
                found.append((f".{bound}.{attribute}", "applies to attributes in `add`"))
        if getattr(route, bound) and route.condition == "notExists":
            found.append((f".{bound}", "bounds an existing item's value; a create-only (notExists) write has none"))
    for attribute, ceiling in route.keepAtMost.items():
        if attribute in route.keepAtLeast and route.keepAtLeast[attribute] > ceiling:
            found.append((f".keepAtMost.{attribute}", f"is below keepAtLeast ({route.keepAtLeast[attribute]})"))
    if op == "UpdateItem" and route.set and all(_is_optional(route, s) for s in route.set.values()):
        found.append((".set", "needs at least one value that is always present (a required body field, the path, "
                              "identity or a server value): optional body fields are left out when absent"))
    if route.condition != "none" and op in READS:
        found.append((".condition", "conditions apply to writes"))
    if route.pageSize is not None and op != "Query":
        found.append((".pageSize", "only Query paginates"))
    if route.newestFirst and op != "Query":
        found.append((".newestFirst", "only Query has an order"))
    if route.body and route.method not in BODY_METHODS:
        found.append((".body", f"{route.method} requests carry no body"))
    if op in READS and route.method != "GET":
        found.append((".method", f"{op} is a read: use GET"))
    if op in READS and not route.response:
        found.append((".response", "a read returns something: list the response fields"))
    if op == "DeleteItem" and route.response:
        found.append((".response", "DeleteItem answers 204 without a body"))
    if op == "PutItem" and route.response:
        # PutItem returns no item on success (ReturnValues NONE/ALL_OLD only), and API Gateway documents
        # no method-request parameters in integration response templates (facts A10).
        found.append((".response", "PutItem answers 201 without a body: DynamoDB returns nothing to echo; to answer "
                                   "with the stored item, declare operation: UpdateItem with set: and condition: notExists "
                                   "(create-only, ReturnValues ALL_NEW)"))
    return found


def _is_optional(route: Route, source: str) -> bool:
    return source_kind(source) == "body" and source_name(source) in route.body and not route.body[source_name(source)].required


def _type_findings(route: Route, table: TableModel) -> list[Finding]:
    """A key attribute of type N must be fed a number, S a string."""
    found: list[Finding] = []
    for attribute, source in route.key.items():
        declared = table.attributes.get(attribute)
        numeric_source = source in NUMERIC_SOURCES or source.startswith("server.expiresIn") or (
            source_kind(source) == "body" and source_name(source) in route.body
            and route.body[source_name(source)].type in ("integer", "number"))
        if declared == "N" and not numeric_source:
            found.append((f".key.{attribute}", "is a number attribute (N); feed it a numeric body field or server.now"))
        if declared == "S" and numeric_source:
            found.append((f".key.{attribute}", "is a string attribute (S); feed it a string"))
        if declared == "B":
            found.append((f".key.{attribute}", "binary key attributes are not supported by API routes"))
    for attribute, source in route.add.items():
        field = route.body.get(source_name(source)) if source_kind(source) == "body" else None
        if field is None or field.type not in ("integer", "number"):
            found.append((f".add.{attribute}", "ADD takes a numeric body field (an atomic counter change)"))
    return found


def _iam_route_findings(route: Route, table: TableModel, access: AccessModel) -> list[Finding]:
    principal = cognito_principal(access)
    if principal is None:
        return [(".auth", "iam routes use the cognitoUser principal's role; the access model has none")]
    action = OPERATION_ACTION[route.operation]
    grants = [g for g in access.grants.values() if g.principal == principal and g.table == route.table]
    covering = [g for g in grants if action in grant_actions(g) and (route.index is None or route.index in g.indexes)]
    if not covering:
        return [(".auth", f"the {principal} role has no grant allowing {action} on {route.table!r}"
                          + (f" index {route.index!r}" if route.index else "") + ": DynamoDB would refuse every call")]
    found: list[Finding] = []
    allowed = set(covering[0].attributes)
    if allowed:
        keys = {table.partitionKey} | ({table.sortKey} if table.sortKey else set())
        for field in route.response:
            if field not in allowed | keys:
                found.append((f".response.{field}", f"is outside the attributes {principal} may read ({', '.join(sorted(allowed))})"))
    return found


def route_throttle_findings(overrides: Mapping[str, object], route_ids: Iterable[str]) -> list[Finding]:
    """Each per-route throttle names a route of this stack: a direct route of `api` or a function's
    route (paths under `apiRouteThrottle`). The value ranges are checked by the model."""
    from ..tables.rules import closest_hint

    known = sorted(route_ids)
    found: list[Finding] = []
    for route_id in overrides:
        if route_id not in known:
            listed = ", ".join(known) if known else "none: the stack declares no API routes"
            found.append((route_id, f"no route {route_id!r}{closest_hint(route_id, known)}; routes: {listed}"))
    return found
