"""The REST API as the plan records it: methods, integrations, templates, models, responses.

The local gateway serves exactly this, nothing declared twice: ids that AWS assigns are unknown in
the plan, so resources are joined through the plan's property dependencies (a method's
`resourceId` depends on the URN of its API Gateway resource, and so on).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import unquote

MARKER = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class ApiPlanError(Exception):
    pass


@dataclass(frozen=True)
class IntegrationResponse:
    status: str
    pattern: Optional[str]
    template: str
    headers: Mapping[str, str] = field(default_factory=dict)  # method.response.header.X -> 'static'


@dataclass(frozen=True)
class LocalRoute:
    method: str
    path: str  # /cart/items/{productId}
    authorization: str
    integration_type: str
    action: Optional[str]  # DynamoDB action for AWS integrations
    caller_credentials: bool
    request_template: str
    responses: tuple[IntegrationResponse, ...]
    body_schema: Optional[dict]
    validate_body: bool
    validate_parameters: bool
    required_parameters: tuple[str, ...]  # method.request.path.x / method.request.querystring.y
    function_urn: Optional[str] = None  # AWS_PROXY routes: the function serving it

    def matches(self, method: str, path: str) -> Optional[dict[str, str]]:
        if method != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{([A-Za-z][A-Za-z0-9]*)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        # API Gateway matches the raw path and hands templates the decoded parameter values.
        return {k: unquote(v) for k, v in found.groupdict().items()} if found else None


@dataclass(frozen=True)
class GatewayResponse:
    status: Optional[str]
    template: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalApi:
    stage: str
    routes: tuple[LocalRoute, ...]
    gateway_responses: Mapping[str, GatewayResponse]
    cognito_role_policies: tuple[dict, ...]  # the authenticated role's identity policies (iam routes)

    def route(self, method: str, path: str) -> tuple[Optional[LocalRoute], dict[str, str]]:
        for route in self.routes:
            params = route.matches(method, path)
            if params is not None:
                return route, params
        return None, {}


def _by_type(plan: Mapping[str, Any], type_: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == type_]


def _dep(resource: Mapping[str, Any], prop: str) -> Optional[str]:
    urns = resource.get("propertyDependencies", {}).get(prop, [])
    return urns[0] if urns else None


def _paths(plan: Mapping[str, Any]) -> dict[str, str]:
    """API Gateway resource URN -> its full path."""
    resources = {r["urn"]: r for r in _by_type(plan, "aws:apigateway/resource:Resource")}
    paths: dict[str, str] = {}

    def path_of(urn: str) -> str:
        if urn not in paths:
            resource = resources[urn]
            parent = _dep(resource, "parentId")
            prefix = path_of(parent) if parent in resources else ""
            paths[urn] = f"{prefix}/{resource['inputs']['pathPart']}"
        return paths[urn]

    for urn in resources:
        path_of(urn)
    return paths


def _static_headers(parameters: Optional[Mapping[str, str]]) -> dict[str, str]:
    headers = {}
    for key, value in (parameters or {}).items():
        if key.startswith("method.response.header.") and value.startswith("'") and value.endswith("'"):
            headers[key.removeprefix("method.response.header.")] = value[1:-1]
        elif key.startswith("gatewayresponse.header.") and value.startswith("'") and value.endswith("'"):
            headers[key.removeprefix("gatewayresponse.header.")] = value[1:-1]
    return headers


def _known_json(value: Any, what: str) -> Any:
    if value in (None, MARKER):
        raise ApiPlanError(f"{what} is unknown in the plan")
    return json.loads(value)


def _cognito_role_policies(plan: Mapping[str, Any]) -> tuple[dict, ...]:
    attachments = _by_type(plan, "aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment")
    if not attachments:
        return ()
    role_urn = _dep(attachments[0], "roles")
    policies = []
    for policy in _by_type(plan, "aws:iam/rolePolicy:RolePolicy"):
        if _dep(policy, "role") == role_urn and policy["inputs"].get("policy") not in (None, MARKER):
            policies.append(json.loads(policy["inputs"]["policy"]))
    return tuple(policies)


def load_api(plan: Mapping[str, Any]) -> Optional[LocalApi]:
    """The API of the plan, or None when the stack declares no routes."""
    apis = _by_type(plan, "aws:apigateway/restApi:RestApi")
    if not apis:
        return None
    if len(apis) > 1:
        raise ApiPlanError("the local gateway serves one REST API per stack")
    paths = _paths(plan)
    models = {r["inputs"]["name"]: json.loads(r["inputs"]["schema"]) for r in _by_type(plan, "aws:apigateway/model:Model")}
    validators = {r["urn"]: r["inputs"] for r in _by_type(plan, "aws:apigateway/requestValidator:RequestValidator")}
    integrations = {(_dep(r, "resourceId"), r["inputs"]["httpMethod"]): r for r in _by_type(plan, "aws:apigateway/integration:Integration")}
    responses: dict[tuple, list[IntegrationResponse]] = {}
    for r in _by_type(plan, "aws:apigateway/integrationResponse:IntegrationResponse"):
        i = r["inputs"]
        responses.setdefault((_dep(r, "resourceId"), i["httpMethod"]), []).append(
            IntegrationResponse(
                status=i["statusCode"],
                pattern=i.get("selectionPattern"),
                template=(i.get("responseTemplates") or {}).get("application/json", ""),
                headers=_static_headers(i.get("responseParameters")),
            )
        )
    routes = []
    for method in _by_type(plan, "aws:apigateway/method:Method"):
        m = method["inputs"]
        resource_urn = _dep(method, "resourceId")
        integration = integrations.get((resource_urn, m["httpMethod"]))
        if integration is None:
            raise ApiPlanError(f"{method['urn']}: no integration")
        i = integration["inputs"]
        validator = validators.get(_dep(method, "requestValidatorId") or "", {})
        model_name = (m.get("requestModels") or {}).get("application/json")
        uri = i.get("uri", "")
        action = uri.rsplit("action/", 1)[1] if "action/" in uri and uri != MARKER else None
        routes.append(
            LocalRoute(
                method=m["httpMethod"],
                path=paths.get(resource_urn, "/"),
                authorization=m["authorization"],
                integration_type=i["type"],
                action=action,
                caller_credentials=str(i.get("credentials", "")).endswith(":iam::*:user/*"),
                request_template=(i.get("requestTemplates") or {}).get("application/json", ""),
                responses=tuple(sorted(responses.get((resource_urn, m["httpMethod"]), []), key=lambda x: x.pattern or "")),
                body_schema=models.get(model_name) if model_name else None,
                validate_body=bool(validator.get("validateRequestBody")),
                validate_parameters=bool(validator.get("validateRequestParameters")),
                required_parameters=tuple(sorted(k for k, v in (m.get("requestParameters") or {}).items() if v)),
                function_urn=_dep(integration, "uri") if i["type"] == "AWS_PROXY" else None,
            )
        )
    stages = _by_type(plan, "aws:apigateway/stage:Stage")
    gateway = {
        r["inputs"]["responseType"]: GatewayResponse(
            status=r["inputs"].get("statusCode"),
            template=(r["inputs"].get("responseTemplates") or {}).get("application/json", ""),
            headers=_static_headers(r["inputs"].get("responseParameters")),
        )
        for r in _by_type(plan, "aws:apigateway/response:Response")
    }
    return LocalApi(
        stage=stages[0]["inputs"]["stageName"] if stages else "v1",
        routes=tuple(sorted(routes, key=lambda r: (r.path, r.method))),
        gateway_responses=gateway,
        cognito_role_policies=_cognito_role_policies(plan),
    )
