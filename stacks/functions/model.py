"""The Lambda functions around the tables, and the topics they publish to, declared once.

A function names its code folder under lambdas/, the access-model principal whose role it runs
with (its permissions are that principal's grants, nothing else), its environment (literals or
references `table.<name>` / `topic.<name>` / `itemSchema.<route>`: the bounds an API route enforces on the
items it creates, as JSON, so a function re-validates what it reads with the same numbers), and what invokes it: a table's stream (an event source
mapping with bounded retries, bisect, partial batch responses and an encrypted failure queue,
GOTCHAS L1) or an API route (Lambda proxy, Cognito-authorized).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..api.model import BodyField
from ..config.base import Strict

ENV_REFERENCE = re.compile(r"^(table|topic|itemSchema)\.([a-z][a-zA-Z0-9]*)$")
# Lambda's pattern is [a-zA-Z]([a-zA-Z0-9_])+ (at least two characters, botocore model); upper case by convention.
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,127}$")
MAX_FILTER_PATTERN = 4096  # L12: a filter pattern is at most 4,096 characters


class StreamSource(Strict):
    table: str = Field(description="Table whose stream invokes the function.")
    batchSize: int = Field(default=100, ge=1, le=1000, description="Records per invocation.")
    maximumBatchingWindowSeconds: int = Field(default=1, ge=0, le=300, description="Wait to fill a batch.")
    maximumRetryAttempts: int = Field(default=5, ge=0, le=100, description="Retries of a failing batch (bounded).")
    maximumRecordAgeSeconds: int = Field(default=3600, ge=60, le=86400,
                                         description="Records older than this go to the failure queue (streams keep 24 h).")
    parallelizationFactor: int = Field(default=1, ge=1, le=10, description="Concurrent batches per shard.")
    startingPosition: Literal["LATEST", "TRIM_HORIZON"] = Field(default="LATEST", description="Where a new mapping starts.")
    filters: list[dict[str, Any]] = Field(default=[], description="Event filter patterns (records matching none never invoke the function).")

    @field_validator("filters")
    @classmethod
    def _patterns_fit(cls, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, pattern in enumerate(filters):
            size = len(json.dumps(pattern, sort_keys=True))
            if size > MAX_FILTER_PATTERN:
                raise ValueError(f"filter {index} is {size} characters as JSON; Lambda takes at most "
                                 f"{MAX_FILTER_PATTERN} per pattern (GOTCHAS L12)")
        return filters


class RouteSource(Strict):
    method: Literal["GET", "PUT", "PATCH", "POST", "DELETE"] = Field(description="HTTP method.")
    path: str = Field(description="Resource path of the API.")
    description: str = Field(default="", description="Shown in the OpenAPI document.")
    body: dict[str, BodyField] = Field(default={}, description="Request body fields, as for direct routes.")


class Function(Strict):
    code: str = Field(description="Folder under lambdas/ holding handler.py (entry point handler.lambda_handler).")
    principal: str = Field(description="Access-model principal (kind service, lambda.amazonaws.com) whose role it uses.")
    description: str = Field(default="", description="What it does.")
    memoryMb: int = Field(default=256, ge=128, le=10240, description="Memory (and CPU share).")
    timeoutSeconds: int = Field(default=30, ge=1, le=900, description="Per invocation.")
    environment: dict[str, str] = Field(default={}, description="Variables: literal text, table.<name>, topic.<name> or "
                                            "itemSchema.<route> (JSON: the bounds that API route enforces on the items it creates).")
    transactional: bool = Field(

        default=False,

        description="Uses TransactWriteItems/TransactGetItems on the tables its principal is granted (not allowed on STRONG global tables).",

    )
    stream: Optional[StreamSource] = Field(default=None, description="Invoked by a table's stream.")
    route: Optional[RouteSource] = Field(default=None, description="Invoked by an API route (Lambda proxy).")


class Topic(Strict):
    description: str = Field(default="", description="What is published there, for whom.")


class FunctionsModel(Strict):
    functions: dict[str, Function] = Field(default={}, description="Lambda functions by name.")
    topics: dict[str, Topic] = Field(default={}, description="SNS topics by name (encrypted with the ops key).")


class Functions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    functions: FunctionsModel


Finding = tuple[str, str]
def uses_transactions(source: str) -> bool:
    """Whether handler code calls the transaction APIs (boto3 client method names)."""
    return bool(re.search(r"\.transact_(write|get)_items\s*\(", source))


LAMBDA_SERVICE = "lambda.amazonaws.com"


def functions_findings(model: FunctionsModel, tables: Any, access: Any, api: Any, root: Any, project: str, stack: str) -> list[Finding]:
    """Problems with the declared functions and topics (paths under `functions`)."""
    from pathlib import Path

    from ..naming import function_name

    found: list[Finding] = []
    for name in model.topics:
        if not re.match(r"^[a-z][a-zA-Z0-9]{0,39}$", name):
            found.append((f"topics.{name}", "topic names are identifiers: a lowercase letter, then letters or digits"))
    routes = {(r.method, r.path) for r in api.routes.values()}
    for name, fn in model.functions.items():
        where = f"functions.{name}"
        if not re.match(r"^[a-z][a-zA-Z0-9]{0,39}$", name):
            found.append((where, "function names are identifiers: a lowercase letter, then letters or digits"))
        if len(function_name(project, stack, name)) > 64:
            found.append((where, f"function name {function_name(project, stack, name)!r} exceeds Lambda's 64 characters"))
        handler = Path(root) / "lambdas" / fn.code / "handler.py" if root is not None else None
        if handler is not None and not handler.is_file():
            found.append((f"{where}.code", f"lambdas/{fn.code}/handler.py does not exist"))
        elif handler is not None and uses_transactions(handler.read_text(encoding="utf-8")) != fn.transactional:
            # The declaration decides where STRONG (MRSC) tables are allowed (facts T13); keep it true to the code.
            state = "calls" if not fn.transactional else "does not call"
            found.append((f"{where}.transactional", f"lambdas/{fn.code}/handler.py {state} TransactWriteItems/"
                          f"TransactGetItems; set transactional: {str(not fn.transactional).lower()}"))
        principal = access.principals.get(fn.principal)
        if principal is None or principal.kind != "service" or principal.service != LAMBDA_SERVICE:
            found.append((f"{where}.principal", f"{fn.principal!r} must be a service principal of {LAMBDA_SERVICE} in ddb-blueprint:access"))
        for variable, value in fn.environment.items():
            if not ENV_NAME.match(variable) or variable.startswith("AWS_"):
                found.append((f"{where}.environment.{variable}", "variable names are UPPER_CASE, at least 2 characters, and may not start with AWS_ (reserved)"))
            reference = ENV_REFERENCE.match(value)
            if reference and reference.group(1) == "table" and reference.group(2) not in tables:
                found.append((f"{where}.environment.{variable}", f"no table {reference.group(2)!r}"))
            if reference and reference.group(1) == "topic" and reference.group(2) not in model.topics:
                found.append((f"{where}.environment.{variable}", f"no topic {reference.group(2)!r}"))
            if reference and reference.group(1) == "itemSchema":
                from ..api.spec import creates_items

                route = api.routes.get(reference.group(2))
                if route is None:
                    found.append((f"{where}.environment.{variable}", f"no route {reference.group(2)!r} in ddb-blueprint:api "
                                                                    f"(routes: {', '.join(sorted(api.routes)) or 'none'})"))
                elif not creates_items(route):
                    found.append((f"{where}.environment.{variable}", f"route {reference.group(2)!r} creates no items "
                                                                    "(PutItem, or UpdateItem with condition notExists)"))
        if (fn.stream is None) == (fn.route is None):
            found.append((where, "a function is invoked by exactly one of: stream, route"))
        if fn.stream is not None:
            table = tables.get(fn.stream.table)
            if table is None:
                found.append((f"{where}.stream.table", f"no table {fn.stream.table!r}"))
            elif table.stream is None:
                found.append((f"{where}.stream.table", f"table {fn.stream.table!r} has no stream"))
            elif not any(g.principal == fn.principal and g.table == fn.stream.table and "stream" in g.access
                         for g in access.grants.values()):
                found.append((f"{where}.stream", f"principal {fn.principal!r} has no stream grant on {fn.stream.table!r}"))
        if fn.route is not None and (fn.route.method, fn.route.path) in routes:
            found.append((f"{where}.route", f"{fn.route.method} {fn.route.path} is already a direct route of ddb-blueprint:api"))
    return found


def concurrency_findings(concurrency: dict[str, int], functions: dict[str, Function]) -> list[Finding]:
    """Problems with `functionConcurrency` (paths under it): every name a function, every value >= 0.

    Lambda refuses a negative reservation; 0 is valid and means the function never runs (L8). Whether
    the account keeps 100 executions unreserved is known only in the account (not checked here).
    """
    import difflib

    found: list[Finding] = []
    for name, value in sorted(concurrency.items()):
        if name not in functions:
            match = difflib.get_close_matches(name, sorted(functions), n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            found.append((name, f"no function {name!r} in ddb-blueprint:functions{hint}; functions: "
                                f"{', '.join(sorted(functions)) or 'none'}"))
        if value < 0:
            found.append((name, f"reserved concurrency is 0 or more, got {value} (Lambda refuses negative values, "
                                "GOTCHAS L8); leave the function out to reserve none"))
    return found


def layer_findings(template: str, region: str, runtime: str) -> list[str]:
    """Problems with a pinned layer ARN: a literal region other than the stack's (a function uses layers of
    its own region), or a Powertools layer built for another Python than the runtime (L11: one per version)."""
    found: list[str] = []
    match = re.match(r"^arn:[^:]+:lambda:([^:]+):\d{12}:layer:([^:]+):\d+$", template)
    if match is None:
        return found
    layer_region, name = match.groups()
    if layer_region != "{region}" and layer_region != region:
        found.append(f"the layer is in {layer_region} but the stack's functions are in {region}; a function uses "
                     "layers of its own region: write {region} to follow aws:region")
    expected = runtime.replace(".", "")
    versions = re.findall(r"python3\d{1,2}", name)
    if "{runtime}" not in name and versions and expected not in versions:
        found.append(f"the layer is built for {versions[0]} but lambdaRuntime is {runtime}; Powertools publishes one "
                     "layer per Python version (GOTCHAS L11): write {runtime} to follow lambdaRuntime")
    return found
