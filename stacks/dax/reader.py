"""Read routes of DAX-cached tables, served by functions in the VPC that read through the cluster.

When a stack's DAX caches a table, its Cognito-authorized GetItem and Query routes (on keys the
caller names in the path or query, never the caller's identity: row-scoped reads stay with
DynamoDB, D3) become Lambda proxy routes of `lambdas/dax_reader`. The reader functions run as one
principal whose only data access is a `via: dax` read grant, in the VPC with the client security
group. Without DAX nothing changes: the routes stay direct integrations.

Pure: a validated config in, the effective config out (`apply_dax`), before anything is built.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..access.model import AccessModel, Grant, Principal
from ..api.model import ApiModel, Route, source_kind
from ..api.rules import OPERATION_ACTION
from ..api.vtl import token_attributes
from ..functions.model import Function, FunctionsModel, LAMBDA_SERVICE, RouteSource

# Every reader is its own principal (one role per function), granted exactly its route's action.
READER_CODE = "dax_reader"
READ_OPERATIONS = ("GetItem", "Query")
READER_SUFFIX = "ViaDax"


def is_reader_route(route: Route, cached: set[str]) -> bool:
    return (route.table in cached and route.operation in READ_OPERATIONS and route.auth == "cognito"
            and all(source_kind(s) in ("path", "query") for s in route.key.values()))


def reader_routes(config: Any) -> dict[str, Route]:
    dax = config.settings.dax
    cached = set(dax.tables) if dax.enabled else set()
    return {rid: r for rid, r in sorted(config.api.routes.items()) if is_reader_route(r, cached)}


def route_descriptor(route: Route, table: Any) -> dict[str, Any]:
    """What the reader needs to answer like the direct integration (ROUTE environment variable)."""
    descriptor: dict[str, Any] = {
        "operation": route.operation,
        "key": {attribute: [source, table.attributes[attribute]] for attribute, source in route.key.items()},
        "fields": list(route.response),
    }
    if route.operation == "Query":
        assert route.pageSize is not None
        descriptor |= {"index": route.index, "pageSize": {"default": route.pageSize.default, "max": route.pageSize.max},
                       "token": [list(t) for t in token_attributes(route, table)], "newestFirst": route.newestFirst}
    return descriptor


def reader_name(route_id: str) -> str:
    return f"{route_id}{READER_SUFFIX}"


def reader_function(route_id: str, route: Route, table: Any) -> Function:
    return Function(
        code=READER_CODE,
        principal=reader_name(route_id),
        description=f"{route.method} {route.path} through DAX: {route.description}"[:256],
        environment={"TABLE_NAME": f"table.{route.table}",
                     "ROUTE": json.dumps(route_descriptor(route, table), separators=(",", ":"), sort_keys=True)},
        route=RouteSource(method=route.method, path=route.path, description=route.description),
    )


def dax_reader_functions(config: Any) -> list[str]:
    """Names of the functions that read through DAX (they run in the VPC)."""
    return sorted(n for n, f in config.functions.functions.items() if f.code == READER_CODE)


def apply_dax(config: Any) -> Any:
    """The effective config: cached read routes moved to reader functions with their grant."""
    routes = reader_routes(config)
    if not routes:
        return config
    functions = dict(config.functions.functions)
    grants = dict(config.access.grants)
    principals = dict(config.access.principals)
    for route_id, route in routes.items():
        name = reader_name(route_id)
        functions[name] = reader_function(route_id, route, config.tables[route.table])
        principals[name] = Principal(kind="service", service=LAMBDA_SERVICE,
                                     description=f"Function in the VPC serving {route.method} {route.path} through DAX.")
        grants[f"{route_id}Read"] = Grant(
            principal=name, table=route.table, actions=[OPERATION_ACTION[route.operation]],
            indexes=[route.index] if route.index else [], via="dax",
            reason=f"{route.method} {route.path}: {route.description or route.operation}, read through the DAX cluster.")
    api = ApiModel(name=config.api.name, description=config.api.description,
                   routes={rid: r for rid, r in config.api.routes.items() if rid not in routes})
    return replace(
        config,
        access=AccessModel(principals=principals, grants=grants),
        api=api,
        functions=FunctionsModel(functions=functions, topics=config.functions.topics),
        served_by_dax=dict(routes),
    )
