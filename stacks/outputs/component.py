"""OutputParameters: the stack outputs as SSM String parameters, for consumers without Pulumi access."""

from __future__ import annotations

import re
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from .contract import parameter_values


class OutputParameters(pulumi.ComponentResource):
    """One `String` parameter per output value under `prefix` (see contract.parameter_values)."""

    def __init__(self, name: str, prefix: str, outputs: Mapping[str, Any], region: str, tags: Mapping[str, str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("ddb-blueprint:index:OutputParameters", name, None, opts)
        self.parameters: dict[str, aws.ssm.Parameter] = {}
        for parameter_name, value in parameter_values(prefix, dict(outputs)).items():
            logical = "param-" + re.sub(r"[^A-Za-z0-9-]+", "-", parameter_name[len(prefix):])
            self.parameters[parameter_name] = aws.ssm.Parameter(
                logical,
                name=parameter_name,
                type="String",
                tier="Standard",
                insecure_value=value,  # not secret: `value` would hide names and ARNs in the plan and state
                description="ddb-blueprint stack output (contracts/outputs.schema.json)",
                region=region,
                tags=dict(tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"prefix": prefix, "names": sorted(self.parameters)})
