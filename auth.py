"""API tokens: creating, listing and revoking them, and finding the viewer a bearer token names."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from citylinks.db.engine import Database
from citylinks.db.errors import InvalidInput, NotFound
from citylinks.db.models import ApiToken
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

READER = "reader"
EDITOR = "editor"
ADMIN = "admin"
ROLES = (READER, EDITOR, ADMIN)
WRITE_ROLES = frozenset({EDITOR, ADMIN})

# A prefix lets secret scanners (and people) recognise a leaked token.
TOKEN_PREFIX = "cl_"
_BEARER = "bearer"


@dataclass(frozen=True)
class TokenInfo:
    """What `citylinks token list` shows: never the token itself, which is not stored."""

    id: int
    role: str
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class Bearer:
    """A live token's identity, as permissions need it."""

    token_id: int
    role: str


_LIFETIME = re.compile(r"(\d+)([smhdw])")
_LIFETIME_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_lifetime(text: str) -> dt.timedelta:
    """`30d`, `12h`, `90m`, `45s`, `2w`: how long a new token lives."""
    match = _LIFETIME.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"a lifetime is a positive number and a unit (s, m, h, d or w), "
                           f"as in 30d; got {text[:40]!r}", "expiresIn")
    amount, unit = match.groups()
    try:
        return dt.timedelta(**{_LIFETIME_UNITS[unit]: int(amount)})
    except OverflowError:
        raise InvalidInput(f"the lifetime {text[:40]!r} is too long", "expiresIn") from None


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def new_token() -> str:
    # 32 random bytes: guessing is hopeless, so one unsalted SHA-256 is a sound lookup key.
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if the request has one."""
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != _BEARER or not token:
        return None
    return token


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.role, row.label, row.created_at, row.revoked_at,
                     _utc(row.expires_at) if row.expires_at is not None else None)


async def create_token(session: AsyncSession, role: str, label: str | None = None,
                       expires_in: dt.timedelta | None = None) -> tuple[TokenInfo, str]:
    """Store the hash of a new token; the token itself is returned once and never kept.
    With `expires_in` it stops working that long from now, on its own."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", "role")
    token = new_token()
    now = dt.datetime.now(dt.UTC)
    try:
        expires_at = now + expires_in if expires_in is not None else None
    except OverflowError:
        raise InvalidInput("the lifetime reaches past the year 9999", "expiresIn") from None
    row = ApiToken(token_hash=hash_token(token), role=role, created_at=now,
                   expires_at=expires_at, label=(label.strip() or None) if label else None)
    session.add(row)
    await session.flush()
    return _info(row), token


async def list_tokens(session: AsyncSession) -> list[TokenInfo]:
    rows = await session.scalars(select(ApiToken).order_by(ApiToken.id))
    return [_info(row) for row in rows]


async def revoke_token(session: AsyncSession, token_id: int) -> TokenInfo:
    """Revoking twice keeps the first revocation time."""
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = dt.datetime.now(dt.UTC)
        await session.flush()
    return _info(row)


async def authenticate(database: Database, token: str) -> Bearer | None:
    """The live token `token` names; None for an unknown, revoked or expired token. Every
    request and every socket operation asks again, so a token stops working on sockets
    opened before too, at its revocation or expiry."""
    async with database.read() as conn:
        row = (await conn.execute(
            select(ApiToken.id, ApiToken.role, ApiToken.expires_at)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        )).first()
    if row is None or row.role not in ROLES:
        return None
    # Compared here, not in SQL: SQLite keeps timestamps as text without their zone.
    if row.expires_at is not None and _utc(row.expires_at) <= dt.datetime.now(dt.UTC):
        return None
    return Bearer(token_id=row.id, role=row.role)
