"""Locally minted stand-ins for Cognito ID tokens (the local runtime has no Cognito).

A token is a JWT signed with a key kept in build/<stack>/local/signing-key, with the claims the
API uses: `sub` (a stable UUID per user name), `cognito:username`, `email`, `token_use: id`.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jwt

NAMESPACE = uuid.UUID("5f0c1b7e-6c3a-4f0e-9a51-6d2b0f1f3c11")
ALGORITHM = "HS256"


def user_sub(username: str) -> str:
    return str(uuid.uuid5(NAMESPACE, username))


@dataclass(frozen=True)
class LocalIssuer:
    key: bytes
    issuer: str
    audience: str = "local-app-client"

    @classmethod
    def for_stack(cls, build_dir: Path, stack: str) -> "LocalIssuer":
        path = build_dir / stack / "local" / "signing-key"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return cls(key=path.read_text().strip().encode(), issuer=f"https://local-cognito/{stack}")

    def mint(self, username: str, lifetime_seconds: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "sub": user_sub(username),
            "cognito:username": username,
            "email": f"{username}@example.test",
            "token_use": "id",
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + lifetime_seconds,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def verify(self, header: Optional[str]) -> Optional[dict]:
        """The token's claims, or None when absent, malformed, expired or signed by someone else."""
        if not header:
            return None
        token = header.removeprefix("Bearer ").strip()
        try:
            claims = jwt.decode(token, self.key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer)
        except jwt.PyJWTError:
            return None
        return claims if claims.get("token_use") == "id" else None
