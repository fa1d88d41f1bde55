"""The base of every typed config object, and value patterns shared by several capabilities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# An IAM role/user ARN in any partition. Wildcards are refused: key admins are named principals.
IAM_PRINCIPAL_ARN = r"^arn:aws(-cn|-us-gov|-iso[a-z-]*)?:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$"
LOGICAL_NAME = r"^[a-z][a-zA-Z0-9]{0,39}$"
# The retention values CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


class Strict(BaseModel):
    """Frozen, typo-proof config objects: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
