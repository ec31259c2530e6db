"""Bearer JWTs (HS256): who is asking, and whether they may act for the platform."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import jwt

from api.settings import Settings
from graph.users import UserRecord

ADMIN_ROLE = "admin"
ALGORITHM = "HS256"


class AuthError(Exception):
    """The request carried credentials that cannot be trusted."""


@dataclass(frozen=True)
class Claims:
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    expires_at: float | None = None  # unix time (``exp``)


@dataclass(frozen=True)
class Viewer:
    """The person behind a request; ``user`` is None for anonymous requests."""

    user: UserRecord | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def id(self) -> str | None:
        return self.user.id if self.user else None


ANONYMOUS = Viewer()


def mint_token(
    settings: Settings, platform_user_id: str, *, admin: bool = False, ttl_seconds: int = 86400
) -> str:
    now = int(time.time())
    payload: dict[str, object] = {"sub": platform_user_id, "iat": now, "exp": now + ttl_seconds}
    if admin:
        payload["roles"] = [ADMIN_ROLE]
    return jwt.encode(payload, settings.signing_secret, algorithm=ALGORITHM)


# Tokens verified lately (a client sends the same one with every request): the signature
# and claims are checked once; a hit only checks the expiry again. Bounded: emptied when full.
_VERIFIED: dict[tuple[str, str], Claims] = {}
_VERIFIED_MAX = 20_000
_LEEWAY_SECONDS = 30


def decode_token(settings: Settings, token: str) -> Claims:
    key = (settings.signing_secret, token)
    claims = _VERIFIED.get(key)
    if claims is not None:
        if claims.expires_at is None or time.time() <= claims.expires_at + _LEEWAY_SECONDS:
            return claims
        del _VERIFIED[key]
    claims = _verify(settings, token)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = claims
    return claims


def _verify(settings: Settings, token: str) -> Claims:
    try:
        payload = jwt.decode(
            token,
            settings.signing_secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"]},
            leeway=_LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("invalid token") from exc
    subject = payload.get("sub")
    roles = payload.get("roles") or []
    if not isinstance(subject, str) or not subject or not isinstance(roles, list):
        raise AuthError("invalid token claims")
    expires = payload.get("exp")
    return Claims(
        subject=subject,
        roles=frozenset(str(r) for r in roles),
        expires_at=float(expires) if isinstance(expires, int | float) else None,
    )


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None when there is no header."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("authorization header must be 'Bearer <token>'")
    return token.strip()
