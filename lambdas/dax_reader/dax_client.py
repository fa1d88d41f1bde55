"""The one place the reader gets its DynamoDB-shaped client: the official DAX client in AWS, the
local runtime's stand-in on a developer's machine. The handler is the same code in both.

DAX_ENDPOINT comes from the stack: the cluster's discovery endpoint with the TLS scheme (daxs://).
`local-dax://` is only ever set by the local runtime, which registers its cache client under
LOCAL_HOOK before loading the function.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

LOCAL_HOOK = "ddb_blueprint_local_dax"


def make_client(endpoint: str, region: Optional[str]) -> Any:
    if endpoint.startswith("daxs://"):
        from amazondax import AmazonDaxClient  # bundled with the function (requirements.txt)

        return AmazonDaxClient(endpoint_url=endpoint, region_name=region)
    if endpoint.startswith("local-dax://"):
        return importlib.import_module(LOCAL_HOOK).client(endpoint, region)
    raise ValueError(f"DAX_ENDPOINT must be the cluster's TLS endpoint (daxs://...), got {endpoint!r}")
