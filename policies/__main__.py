"""Entry point of the guardrails policy pack (`pulumi preview --policy-pack policies`).

Constructing a PolicyPack starts the analyzer server and blocks (GOTCHAS P1), so this file only
registers the policies defined in the importable `guardrails` package.
"""

from pulumi_policy import PolicyPack

from guardrails import PACK_ENFORCEMENT_LEVEL, PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, enforcement_level=PACK_ENFORCEMENT_LEVEL, policies=POLICIES)
