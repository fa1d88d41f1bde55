"""`python -m stacks export-tf <stack>`: the plan as Terraform JSON, for scanners built for Terraform.

pulumi-aws wraps the Terraform AWS provider: every `aws:<module>/<name>:<Type>` resource is a
Terraform resource type, and its inputs are that resource's arguments in camelCase. The rendering
is mechanical: the type token becomes `aws_<module>_<snake type>` (with the few names the bridge
changes, `TYPE_NAMES`), arguments become snake_case (with the few the bridge renames,
`ARGUMENT_NAMES`), lists of objects that Pulumi pluralised become the repeated singular blocks
Terraform expects, and free-form maps (tags, templates, variables) keep their keys. A value known
only after apply becomes a reference to the resource it comes from (`${aws_kms_key.<name>.arn}`),
so scanners that follow references (checkov's graph checks) see the connection.

The result is for scanning, not for `terraform apply`: assets are named, not packaged, and the
provider block is left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from .mockrun import UNKNOWN

TYPE_NAMES = {
    "aws:apigateway/response:Response": "aws_api_gateway_gateway_response",
    "aws:cognito/identityPoolRoleAttachment:IdentityPoolRoleAttachment": "aws_cognito_identity_pool_roles_attachment",
    # Terraform's VPC types have no "ec2" in their names (aws_vpc, aws_security_group, ...), but some ec2 types do
    # (aws_ec2_fleet), so each one the program uses is named here; a wrong name is a type no scanner checks.
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
}
MODULE_NAMES = {"apigateway": "api_gateway"}
ARGUMENT_NAMES = {
    ("aws:lambda/function:Function", "name"): "function_name",
    ("aws:lambda/permission:Permission", "function"): "function_name",
    ("aws:apigateway/stage:Stage", "deployment"): "deployment_id",
    ("*", "restApi"): "rest_api_id",
}
# Free-form maps: their keys are data (tag names, content types, variable names), never renamed.
MAP_ARGUMENTS = {"tags", "requestTemplates", "responseTemplates", "requestModels", "responseModels", "requestParameters",
                 "responseParameters", "variables", "principalTags", "roles", "triggers"}
# Block lists Terraform itself names in the plural.
PLURAL_BLOCKS = {"cognitoIdentityProviders"}
NOT_EXPORTED = {"region"}  # the provider's, per resource in pulumi-aws 7; Terraform sets it on the provider


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def singular(name: str) -> str:
    if name in PLURAL_BLOCKS:
        return name
    for plural, one in (("Indexes", "Index"), ("indexes", "index"), ("ies", "y"), ("sses", "ss")):
        if name.endswith(plural):
            return name[: -len(plural)] + one
    return name[:-1] if name.endswith("s") else name


def terraform_type(pulumi_type: str) -> Optional[str]:
    if pulumi_type in TYPE_NAMES:
        return TYPE_NAMES[pulumi_type]
    match = re.fullmatch(r"aws:([a-zA-Z0-9]+)/[a-zA-Z0-9]+:([A-Za-z0-9]+)", pulumi_type)
    if not match:
        return None
    module = MODULE_NAMES.get(match.group(1), snake(match.group(1)))
    return f"aws_{module}_{snake(match.group(2))}"


def resource_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else "_" + cleaned


def _reference_attribute(argument: str) -> str:
    if argument in ("restApi", "restApiId", "resourceId", "parentId", "authorizerId", "requestValidatorId", "deployment",
                    "identityPoolId", "userPoolId", "targetKeyId", "vpcId", "subnetId", "subnetIds", "securityGroupId",
                    "securityGroupIds", "referencedSecurityGroupId", "routeTableId", "routeTableIds"):
        return "id"
    if argument in ("functionName", "function", "tableName"):
        return "name"
    return "arn"


class _Exporter:
    def __init__(self, plan: dict[str, Any]):
        self.addresses = {r["urn"]: (terraform_type(r["type"]), resource_name(r["name"]))
                          for r in plan["resources"] if r["custom"]}

    def value(self, pulumi_type: str, argument: str, value: Any, dependencies: list[str]) -> Any:
        if value == UNKNOWN:
            targets = [self.addresses[u] for u in dependencies if u in self.addresses and self.addresses[u][0]]
            if len(targets) > 1:  # a block's dependencies are its arguments' together: securityGroupIds -> security groups
                kind_hint = re.sub(r"_ids?$", "", snake(singular(argument)))
                targets = [t for t in targets if t[0] == f"aws_{kind_hint}"]
            if len(targets) == 1:
                kind, name = targets[0]
                return "${" + f"{kind}.{name}.{_reference_attribute(argument)}" + "}"
            return "(known after apply)"
        if isinstance(value, dict):
            if set(value) == {"secret"}:
                return "[secret]"
            if "path" in value and len(value) <= 2 and isinstance(value.get("path"), str):  # an asset or archive
                return Path(value["path"]).name
            if argument in MAP_ARGUMENTS:
                return {k: self.value(pulumi_type, k, v, dependencies) for k, v in value.items()}
            return self.arguments(pulumi_type, value, {}, dependencies)
        if isinstance(value, list):
            return [self.value(pulumi_type, argument, v, dependencies) for v in value]
        return value

    def arguments(self, pulumi_type: str, inputs: dict[str, Any], property_dependencies: dict[str, list[str]],
                  inherited: Optional[list[str]] = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for argument, value in sorted(inputs.items()):
            if argument in NOT_EXPORTED:
                continue
            dependencies = property_dependencies.get(argument, inherited or [])
            name = ARGUMENT_NAMES.get((pulumi_type, argument)) or ARGUMENT_NAMES.get(("*", argument))
            if name is None:
                is_block_list = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
                name = snake(singular(argument) if is_block_list else argument)
            out[name] = self.value(pulumi_type, argument, value, dependencies)
        return out


# Lists of blocks that an ignoreChanges path may name whole (Terraform names the block in the singular).
BLOCK_LISTS = {"globalSecondaryIndexes", "localSecondaryIndexes", "replicas", "attributes"}


def _path(pulumi_path: str) -> str:
    """An ignoreChanges path in Terraform's names: globalSecondaryIndexes[*].readCapacity ->
    global_secondary_index[*].read_capacity; globalSecondaryIndexes -> global_secondary_index."""
    parts = []
    for part in pulumi_path.split("."):
        name, _, index = part.partition("[")
        block = index or name in BLOCK_LISTS
        parts.append(snake(singular(name) if block else name) + (f"[{index}" if index else ""))
    return ".".join(parts)


def lifecycle(options: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's replacement and protection options in Terraform's terms: Pulumi creates a
    replacement before deleting the old resource unless `deleteBeforeReplace`, and `protect`
    refuses deletion like `prevent_destroy`."""
    block: dict[str, Any] = {"create_before_destroy": not options.get("deleteBeforeReplace", False)}
    if options.get("protect"):
        block["prevent_destroy"] = True
    if options.get("ignoreChanges"):
        block["ignore_changes"] = [_path(c) for c in options["ignoreChanges"]]
    return block


def to_terraform(plan: dict[str, Any]) -> dict[str, Any]:
    """Terraform JSON (`{"resource": {type: {name: arguments}}}`) for every AWS resource of the plan."""
    exporter = _Exporter(plan)
    resources: dict[str, dict[str, Any]] = {}
    for resource in plan["resources"]:
        if not resource["custom"]:
            continue
        kind, name = exporter.addresses[resource["urn"]]
        if kind is None:
            continue
        arguments = exporter.arguments(resource["type"], resource["inputs"], resource.get("propertyDependencies", {}))
        arguments["lifecycle"] = lifecycle(resource.get("options", {}))
        resources.setdefault(kind, {})[name] = arguments
    return {"//": f"ddb-blueprint {plan['project']}/{plan['stack']}: the plan as Terraform JSON, for scanners "
                  "(python -m stacks export-tf); not for terraform apply",
            "resource": {kind: dict(sorted(items.items())) for kind, items in sorted(resources.items())}}


def write_terraform(plan: dict[str, Any], directory: Path) -> Path:
    import json

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "main.tf.json"
    path.write_text(json.dumps(to_terraform(plan), indent=2) + "\n", encoding="utf-8")
    return path
