"""The declared REST API: routes in which API Gateway talks to DynamoDB directly.

A route names its table (or index), its operation, where every key part and written value comes
from (`identity`, `path.<p>`, `query.<p>`, `body.<field>`, `server.<value>`), the body schema, the
response fields and the auth mode. Templates, models, validators, the integration role and the
OpenAPI document are all generated from this one declaration.
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config.base import Strict

Method = Literal["GET", "PUT", "PATCH", "POST", "DELETE"]
Operation = Literal["GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"]
AuthMode = Literal["cognito", "iam"]
ScalarType = Literal["string", "integer", "number", "boolean"]

SOURCE = re.compile(
    r"^(identity|path\.[A-Za-z][A-Za-z0-9]*|query\.[A-Za-z][A-Za-z0-9]*|body\.[A-Za-z][A-Za-z0-9]*"
    r"|server\.(requestId|now|expiresIn:[1-9][0-9]{0,9}))$"
)
PATH = re.compile(r"^(/([A-Za-z0-9._-]+|\{[A-Za-z][A-Za-z0-9]*\}))+$")


class BodyField(Strict):
    type: ScalarType = Field(description="JSON type of the field.")
    required: bool = Field(default=False, description="The request is refused (400) without it.")
    minimum: Optional[int] = Field(default=None, description="integer/number: smallest value.")
    maximum: Optional[int] = Field(default=None, description="integer/number: largest value.")
    minLength: Optional[int] = Field(default=None, ge=0, description="string: fewest characters.")
    maxLength: Optional[int] = Field(default=None, ge=1, le=400_000, description="string: most characters.")
    pattern: Optional[str] = Field(default=None, description="string: regular expression the value must match.")
    description: str = Field(default="", description="Shown in the OpenAPI document.")

    @model_validator(mode="after")
    def _constraints_fit_the_type(self) -> "BodyField":
        numeric = self.type in ("integer", "number")
        if not numeric and (self.minimum is not None or self.maximum is not None):
            raise ValueError("minimum/maximum apply to integer and number fields")
        if self.type != "string" and (self.minLength is not None or self.maxLength is not None or self.pattern):
            raise ValueError("minLength/maxLength/pattern apply to string fields")
        if self.type == "string" and self.maxLength is None:
            raise ValueError("string fields need maxLength (bounded input)")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum ({self.minimum}) is above maximum ({self.maximum}): no value would be accepted")
        if self.minLength is not None and self.maxLength is not None and self.minLength > self.maxLength:
            raise ValueError(f"minLength ({self.minLength}) is above maxLength ({self.maxLength}): no value would be accepted")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return self


class ResponseField(Strict):
    type: Literal["string", "integer", "number", "boolean", "list"] = Field(description="JSON type in the response.")
    items: dict[str, ScalarType] = Field(default={}, description="list only: the fields of each element (a map).")


class PageSize(Strict):
    default: int = Field(default=20, ge=1, le=1000, description="Items per page without ?limit=.")
    max: int = Field(default=100, ge=1, le=1000, description="Largest ?limit= accepted.")

    @model_validator(mode="after")
    def _default_within_max(self) -> "PageSize":
        if self.default > self.max:
            raise ValueError(f"default ({self.default}) must not exceed max ({self.max})")
        return self


class Route(Strict):
    method: Method = Field(description="HTTP method.")
    path: str = Field(description="Resource path; {name} segments are path parameters.")
    description: str = Field(default="", description="Shown in the OpenAPI document.")
    auth: AuthMode = Field(
        default="cognito",
        description="cognito: Cognito user-pool authorizer, one integration role; iam: the caller's own "
        "credentials (the cognitoUser principal's row-scoped role), isolation enforced by DynamoDB.",
    )
    table: str = Field(description="Table of the data model.")
    index: Optional[str] = Field(default=None, description="Query only: index to query.")
    operation: Operation = Field(description="DynamoDB operation.")
    key: dict[str, str] = Field(description="Key attribute -> source (identity, path.p, query.p, body.f, server.v).")
    body: dict[str, BodyField] = Field(default={}, description="Request body fields (JSON object, nothing else).")
    item: dict[str, str] = Field(default={}, description="PutItem: non-key attribute -> source.")
    set: dict[str, str] = Field(default={}, description="UpdateItem: SET attribute = source.")
    add: dict[str, str] = Field(default={}, description="UpdateItem: ADD attribute source (atomic counter).")
    keepAtLeast: dict[str, int] = Field(
        default={}, description="UpdateItem: refuse (409) an ADD that would take the attribute below this value."
    )
    keepAtMost: dict[str, int] = Field(
        default={}, description="UpdateItem: refuse (409) an ADD that would take the attribute above this value."
    )
    condition: Literal["none", "exists", "notExists"] = Field(
        default="none", description="exists: 404 when the item is missing; notExists: create-only, 409 when present "
        "(an UpdateItem with notExists creates the item and answers 201 with the stored item)."
    )
    response: dict[str, ResponseField] = Field(default={}, description="Attributes returned, with their types.")
    pageSize: Optional[PageSize] = Field(default=None, description="Query only: pagination (?limit=, ?nextToken=).")
    newestFirst: bool = Field(default=False, description="Query only: descending sort key order.")


class Cors(Strict):
    allowOrigins: list[str] = Field(description="Origins allowed to call the API from a browser.")
    maxAgeSeconds: int = Field(default=600, ge=0, le=86400, description="How long browsers cache preflight answers.")


class ApiModel(Strict):
    name: str = Field(default="api", description="API name (prefixed with project and stack).")
    description: str = Field(default="", description="Shown in the OpenAPI document.")
    routes: dict[str, Route] = Field(default={}, description="Routes by operation id.")


class Api(BaseModel):
    """Root wrapper so the API model gets the same strict validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    api: ApiModel


def source_kind(source: str) -> str:
    return source.split(".", 1)[0]


def source_name(source: str) -> str:
    return source.split(".", 1)[1] if "." in source else ""


def path_parameters(path: str) -> list[str]:
    return re.findall(r"\{([A-Za-z][A-Za-z0-9]*)\}", path)


def all_sources(route: Route) -> dict[str, str]:
    """Every attribute the route writes or keys on, with its source."""
    return {**route.key, **route.item, **route.set, **route.add}


# Account-level throttle quota per Region (default): 10,000 requests per second, burst 5,000; stage
# and method limits are bounded by it even when set higher (GOTCHAS A11).
ACCOUNT_RATE_LIMIT = 10_000
ACCOUNT_BURST_LIMIT = 5_000


class ApiThrottle(Strict):
    """Throttling of one method of the stage, all callers together: a token bucket refilled at
    `rateLimit` tokens a second, holding at most `burstLimit`. On `*/*` it is the default every method
    gets on its own (a limit per method, not a total for the stage); a route override replaces it
    for that route's method (GOTCHAS A11)."""

    rateLimit: int = Field(ge=1, le=ACCOUNT_RATE_LIMIT,
                           description="Steady requests per second each method accepts (per method, not a stage total).")
    burstLimit: int = Field(ge=1, le=ACCOUNT_BURST_LIMIT,
                            description="Requests each method accepts at once above the steady rate (the bucket size).")
