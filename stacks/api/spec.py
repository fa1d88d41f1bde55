"""Everything about the REST API that is data: routes resolved to templates, schemas, statuses,
the integration role's grants and the deployment hash. Pure; the Api component only wires it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Optional

from ..access.policies import SERVICES
from .model import Route, path_parameters, source_kind, source_name
from .rules import OPERATION_ACTION, cognito_principal
from ..config.loader import BlueprintConfig
from ..access.model import AccessModel, Grant, Principal
from ..naming import physical_table_name
from .openapi import error_statuses
from .vtl import RouteTemplates, route_templates

API_PRINCIPAL = "apiIntegration"
API_SERVICE = "apigateway.amazonaws.com"
assert API_SERVICE in SERVICES
STAGE_NAME = "v1"
# Caller-credential integrations: API Gateway calls DynamoDB as the signed caller (GOTCHAS A1).
CALLER_CREDENTIALS = "arn:{partition}:iam::*:user/*"
ERROR_STATUSES = {"client": "400", "server": "500"}


@dataclass(frozen=True)
class RouteSpec:
    route_id: str
    route: Route
    table_name: str
    templates: RouteTemplates
    authorization: str  # COGNITO_USER_POOLS or AWS_IAM (never NONE, GOTCHAS A8)
    request_parameters: dict[str, bool]
    model_name: Optional[str]
    validator: str  # "body" or "params"
    method_statuses: list[str]

    def uri(self, partition: str, region: str) -> str:
        return f"arn:{partition}:apigateway:{region}:dynamodb:action/{self.route.operation}"


def _statuses(route: Route, success: int) -> list[str]:
    """Statuses the integration can answer; 401 and 415 come from API Gateway itself (gateway responses)."""
    return sorted({str(success)} | set(error_statuses(route)) - {"401", "415"})


def _request_parameters(route: Route) -> dict[str, bool]:
    params = {f"method.request.path.{p}": True for p in path_parameters(route.path)}
    for source in route.key.values():
        if source_kind(source) == "query":
            params[f"method.request.querystring.{source_name(source)}"] = True
    if route.operation == "Query":
        params["method.request.querystring.limit"] = False
        params["method.request.querystring.nextToken"] = False
    return dict(sorted(params.items()))


def model_name(route_id: str) -> str:
    return route_id[0].upper() + route_id[1:] + "Body"


def route_specs(config: BlueprintConfig) -> list[RouteSpec]:
    principal = cognito_principal(config.access)
    owner = config.access.principals[principal].ownerIdentity if principal else "userPoolSub"
    specs = []
    for route_id in sorted(config.api.routes):
        route = config.api.routes[route_id]
        table_name = physical_table_name(config.project, config.stack, route.table)
        templates = route_templates(route_id, route, config.tables[route.table], table_name, owner)
        specs.append(
            RouteSpec(
                route_id=route_id,
                route=route,
                table_name=table_name,
                templates=templates,
                authorization="COGNITO_USER_POOLS" if route.auth == "cognito" else "AWS_IAM",
                request_parameters=_request_parameters(route),
                model_name=model_name(route_id) if route.body else None,
                validator="body" if route.body else "params",
                method_statuses=_statuses(route, templates.success_status),
            )
        )
    return specs


@dataclass(frozen=True)
class ProxyRouteSpec:
    """A route served by a Lambda function (proxy integration), Cognito-authorized."""

    route_id: str
    method: str
    path: str
    description: str
    source: Any  # functions_model.RouteSource (body fields)
    function: str

    @property
    def model_name(self) -> Optional[str]:
        return model_name(self.route_id) if self.source.body else None


def proxy_route_specs(config: BlueprintConfig) -> list[ProxyRouteSpec]:
    return [
        ProxyRouteSpec(name, fn.route.method, fn.route.path, fn.route.description, fn.route, name)
        for name, fn in sorted(config.functions.functions.items())
        if fn.route is not None
    ]


def invoke_source_arn(stage_execution_arn: str, method: str, path: str) -> str:
    """The one method of the one stage that may invoke a function (GOTCHAS A12): the stage's
    execution ARN (arn:aws:execute-api:<region>:<account>:<api id>/<stage>), the HTTP method and the
    resource path, any value of a path parameter written `*`. Never `*` for the stage: another
    stage of the same API (a test stage, an old deployment) could then invoke the function."""
    return f"{stage_execution_arn}/{method}{re.sub(r'{[^}]+}', '*', path)}"


@dataclass(frozen=True)
class RouteThrottle:
    route_id: str
    method_path: str  # MethodSettings' methodPath: "cart/items/{productId}/PUT"
    rate_limit: int
    burst_limit: int


def method_settings_path(method: str, path: str) -> str:
    """MethodSettings' `methodPath` of one method: `{resource_path}/{http_method}` with the leading
    slash trimmed (pulumi_aws MethodSettings docstring, GOTCHAS A14); path parameters stay as declared,
    the provider escapes the slashes itself."""
    return f"{path.lstrip('/')}/{method}"


def route_throttles(config: BlueprintConfig) -> list[RouteThrottle]:
    """The stack's per-route throttle overrides, by route id, on their method paths."""
    routes = {name: (r.method, r.path) for name, r in config.api.routes.items()}
    routes.update({s.route_id: (s.method, s.path) for s in proxy_route_specs(config)})
    return [
        RouteThrottle(route_id, method_settings_path(*routes[route_id]), limits.rateLimit, limits.burstLimit)
        for route_id, limits in sorted(config.settings.apiRouteThrottle.items())
    ]


def resource_paths(specs: list[Any]) -> list[str]:
    """Every path prefix that needs an API Gateway resource, parents before children."""
    paths = set()
    for spec in specs:
        path = spec.route.path if hasattr(spec, "route") else spec.path
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            paths.add("/" + "/".join(parts[:i]))
    return sorted(paths, key=lambda p: (p.count("/"), p))


def integration_access(config: BlueprintConfig) -> Optional[AccessModel]:
    """The integration role of cognito routes: exactly the action, table and index each route uses."""
    grants = {}
    for route_id, route in sorted(config.api.routes.items()):
        if route.auth != "cognito":
            continue
        grants[f"route{route_id[0].upper()}{route_id[1:]}"] = Grant(
            principal=API_PRINCIPAL,
            table=route.table,
            actions=[OPERATION_ACTION[route.operation]],
            indexes=[route.index] if route.index else [],
            reason=f"{route.method} {route.path}: {route.description or route.operation}",
        )
    if not grants:
        return None
    principal = Principal(kind="service", service=API_SERVICE,
                          description="API Gateway's integration identity for the Cognito-authorized routes (one for all callers).")
    return AccessModel(principals={API_PRINCIPAL: principal}, grants=grants)


def creates_items(route: Route) -> bool:
    """A route that writes new items: PutItem, or a create-only UpdateItem."""
    return route.operation == "PutItem" or (route.operation == "UpdateItem" and route.condition == "notExists")


def stored_item_schema(route: Route) -> dict[str, dict[str, Any]]:
    """The bounds the API enforces on every non-key attribute a creating route writes, for code that
    reads such items back (placeOrder re-validates cart lines with them): attribute -> {type, required,
    minimum, maximum, minLength, maxLength, pattern, maxSecondsFromNow}. One declaration: the route's."""
    schema: dict[str, dict[str, Any]] = {}
    for attribute, source in {**route.item, **route.set, **route.add}.items():
        kind, name = source_kind(source), source_name(source)
        if kind == "body":
            field = route.body[name]
            rule: dict[str, Any] = {"type": field.type, "required": field.required}
            for bound in ("minimum", "maximum", "minLength", "maxLength", "pattern"):
                if getattr(field, bound) is not None:
                    rule[bound] = getattr(field, bound)
        elif kind == "server" and name == "requestId":
            rule = {"type": "string", "required": True}
        elif kind == "server":
            # server.now is the write's own time; server.expiresIn:<s> at most <s> seconds after it.
            ahead = int(name.split(":")[1]) if name.startswith("expiresIn:") else 0
            rule = {"type": "integer", "required": True, "minimum": 0, "maxSecondsFromNow": ahead}
        else:
            rule = {"type": "string", "required": True}  # identity, path or query values
        if attribute in route.add:  # an atomic counter: a number, within the route's bounds
            rule["type"] = "integer" if rule["type"] == "integer" else "number"
            if attribute in route.keepAtLeast:
                rule["minimum"] = route.keepAtLeast[attribute]
            if attribute in route.keepAtMost:
                rule["maximum"] = route.keepAtMost[attribute]
        schema[attribute] = dict(sorted(rule.items()))
    return dict(sorted(schema.items()))


def stored_item_schema_json(route: Route) -> str:
    return json.dumps(stored_item_schema(route), separators=(",", ":"), sort_keys=True)


def iam_routes(specs: list[RouteSpec]) -> list[RouteSpec]:
    return [s for s in specs if s.authorization == "AWS_IAM"]


def gateway_responses(cors_origin: Optional[str]) -> dict[str, dict[str, Any]]:
    """API Gateway's own errors (before any integration) with a clear JSON body."""
    messages = {
        "BAD_REQUEST_BODY": ("400", "the request body does not match this route's schema (see the OpenAPI document)"),
        "BAD_REQUEST_PARAMETERS": ("400", "a required path or query parameter is missing"),
        "UNAUTHORIZED": ("401", "sign in: a valid Cognito ID token is required in the Authorization header"),
        # API Gateway gives the same answer to an unknown route and to an unsigned call of an iam route.
        "MISSING_AUTHENTICATION_TOKEN": ("403", "no such route, or the request is not signed"),
        "ACCESS_DENIED": ("403", "forbidden"),
        "THROTTLED": ("429", "too many requests; retry with backoff"),
        "UNSUPPORTED_MEDIA_TYPE": ("415", "send application/json"),
        "DEFAULT_4XX": (None, "the request was refused"),
        "DEFAULT_5XX": (None, "internal error"),
    }
    responses = {}
    for kind, (status, message) in messages.items():
        entry: dict[str, Any] = {"template": json.dumps({"message": message})}
        if status:
            entry["status"] = status
        if cors_origin:
            entry["headers"] = {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{cors_origin}'"}
        responses[kind] = entry
    return responses


def definition_hash(specs: list[RouteSpec], extra: dict[str, Any]) -> str:
    """Changes to any route, template, schema or response redeploy the stage (GOTCHAS A6)."""
    document = {
        "routes": [
            {
                "id": s.route_id,
                "route": s.route.model_dump(mode="json"),
                "templates": asdict(s.templates),
                "authorization": s.authorization,
                "parameters": s.request_parameters,
                "statuses": s.method_statuses,
            }
            for s in specs
        ],
        **extra,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()

