"""ddb-blueprint guardrails: the policies of the CrossGuard pack.

Importable as `guardrails` (the pack runs with policies/ as cwd) and as `policies.guardrails`
(from the repo root), so only relative imports inside, and nothing from the rest of the project:
the pack runs in its own virtualenv. Importing never constructs a PolicyPack (GOTCHAS P1).
"""

from pulumi_policy import EnforcementLevel, Policy

from .alarms import ALARM_POLICIES
from .api import API_POLICIES
from .dax import DAX_POLICIES
from .dynamodb import DYNAMODB_POLICIES
from .functions import FUNCTION_POLICIES
from .iam import IAM_POLICIES
from .kms import KMS_POLICIES
from .operations import OPERATIONS_POLICIES
from .protection import PROTECTION_POLICIES

PACK_NAME = "ddb-blueprint-guardrails"
# Every policy sets its own level; this is the pack default the engine would fall back to.
PACK_ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY

# API_POLICIES stay last (tests/policies/test_guardrail_api.py reads them from the end).
POLICIES: list[Policy] = [*DYNAMODB_POLICIES, *KMS_POLICIES, *PROTECTION_POLICIES, *IAM_POLICIES, *FUNCTION_POLICIES,
                          *OPERATIONS_POLICIES, *ALARM_POLICIES, *DAX_POLICIES, *API_POLICIES]

__all__ = ["PACK_ENFORCEMENT_LEVEL", "PACK_NAME", "POLICIES"]
