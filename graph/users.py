"""Users: the platform's provisioning and each user's own profile."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction
from neo4j.exceptions import ConstraintError

from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem, invalid
from graph.validation import (
    DISPLAY_NAME_MAX,
    check_handle,
    check_platform_id,
    check_text,
    check_trust_score,
    normalize_e164,
    phone_hash,
)

# The properties every read of a user returns; never the phone hash.
USER_FIELDS: LiteralString = """
    u {.id, .platformId, .handle, .displayName, .trustScore, .discoverable,
       .createdAt, .suspended} AS user
"""


@dataclass(frozen=True)
class UserRecord:
    id: str
    platform_id: str
    handle: str
    display_name: str
    trust_score: int
    discoverable: bool
    created_at: datetime
    suspended: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> UserRecord:
        return cls(
            id=row["id"],
            platform_id=row["platformId"],
            handle=row["handle"],
            display_name=row["displayName"],
            trust_score=row["trustScore"],
            discoverable=row["discoverable"],
            created_at=row["createdAt"].to_native(),
            suspended=bool(row.get("suspended")),
        )


@dataclass(frozen=True)
class UpsertUser:
    platform_id: str
    handle: str
    display_name: str
    phone: str | None = None
    trust_score: int | None = None


def new_id() -> str:
    return uuid.uuid4().hex


async def users_by_ids(graph: Graph, ids: Iterable[str]) -> dict[str, UserRecord]:
    result = await graph.read(
        "UNWIND $ids AS id MATCH (u:User {id: id}) RETURN " + USER_FIELDS,
        ids=list(set(ids)),
    )
    return {r["user"]["id"]: UserRecord.from_row(r["user"]) for r in result.records}


async def user_by_platform_id(graph: Graph, platform_id: str) -> UserRecord | None:
    result = await graph.read(
        "MATCH (u:User {platformId: $pid}) RETURN " + USER_FIELDS, pid=platform_id
    )
    return UserRecord.from_row(result.records[0]["user"]) if result.records else None


def upsert_problems(data: UpsertUser, pepper: bytes) -> tuple[list[Problem], str | None]:
    """What is wrong with a user row, and the keyed hash of its phone when it has one."""
    problems = [
        *check_platform_id("platformId", data.platform_id),
        *check_handle(data.handle),
        *check_text("displayName", data.display_name, min_len=1, max_len=DISPLAY_NAME_MAX),
        *check_trust_score("trustScore", data.trust_score),
    ]
    hashed = None
    if data.phone is not None:
        e164 = normalize_e164(data.phone)
        if e164 is None:
            problems.append(
                invalid("phone", "phone must be an E.164 number such as +8613800138000")
            )
        else:
            hashed = phone_hash(pepper, e164)
    return problems, hashed


def handle_taken(exc: ConstraintError) -> ActionError | None:
    """The user-facing error for a unique-constraint failure on handles, if it is one."""
    if "handleKey" in (exc.message or ""):
        return ActionError(Problem(ErrorCode.ALREADY_EXISTS, "handle is taken", "handle"))
    return None


async def upsert(
    tx: AsyncManagedTransaction,
    data: UpsertUser,
    phone_hash_value: str | None,
    *,
    default_trust_score: int,
) -> UserRecord:
    """Create or update a user by platform id; repeating the call changes nothing.

    A phone or trust score left out keeps the stored one. The phone is kept only as a
    keyed hash (from ``upsert_problems``), for contact matching.
    """
    result = await tx.run(
        """
        MERGE (u:User {platformId: $platformId})
        ON CREATE SET u.id = $newId, u.createdAt = datetime(), u.discoverable = true,
                      u.trustScore = coalesce($trustScore, $defaultTrust)
        SET u.handle = $handle, u.handleKey = toLower($handle),
            u.displayName = $displayName, u.updatedAt = datetime(),
            u.trustScore = coalesce($trustScore, u.trustScore),
            u.phoneHash = coalesce($phoneHash, u.phoneHash)
        RETURN """
        + USER_FIELDS,
        platformId=data.platform_id.strip(),
        newId=new_id(),
        handle=data.handle,
        displayName=data.display_name.strip(),
        trustScore=data.trust_score,
        defaultTrust=default_trust_score,
        phoneHash=phone_hash_value,
    )
    record = await result.single(strict=True)
    return UserRecord.from_row(record["user"])


def profile_problems(display_name: str | None) -> list[Problem]:
    if display_name is None:
        return []
    return check_text("displayName", display_name, min_len=1, max_len=DISPLAY_NAME_MAX)


async def update_profile(
    tx: AsyncManagedTransaction,
    user_id: str,
    *,
    display_name: str | None,
    discoverable: bool | None,
) -> UserRecord:
    """The user's own edits; fields left out stay as they are."""
    result = await tx.run(
        """
        MATCH (u:User {id: $id})
        SET u.displayName = coalesce($displayName, u.displayName),
            u.discoverable = coalesce($discoverable, u.discoverable),
            u.updatedAt = datetime()
        RETURN """
        + USER_FIELDS,
        id=user_id,
        displayName=display_name.strip() if display_name is not None else None,
        discoverable=discoverable,
    )
    record = await result.single()
    if record is None:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "user not found"))
    return UserRecord.from_row(record["user"])


# --- bulk provisioning (import) ---------------------------------------------------------


def user_row_params(data: UpsertUser, pepper: bytes) -> tuple[list[Problem], dict[str, Any]]:
    """Validate one row as ``upsert_user`` does (plain field names in the problems) and
    return the query parameters ``write_user_rows`` takes for it."""
    problems, hashed = upsert_problems(data, pepper)
    params = {
        "platformId": data.platform_id.strip(),
        "newId": new_id(),
        "handle": data.handle,
        "displayName": data.display_name.strip(),
        "trustScore": data.trust_score,
        "phoneHash": hashed,
    }
    return problems, params


async def upsert_users(
    graph: Graph,
    rows: Sequence[UpsertUser],
    *,
    pepper: bytes,
    default_trust_score: int,
) -> int:
    """``upsert_user`` for a batch, in one ``UNWIND`` query; returns how many are new.

    Same rules and same effect per row as ``upsert_user``. Raises :class:`ActionError`
    (nothing written) when a row is invalid (fields prefixed ``users[i].``) or a handle
    belongs to another user.
    """
    params: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for i, data in enumerate(rows):
        found, row = user_row_params(data, pepper)
        problems += [
            Problem(p.code, p.message, f"users[{i}].{p.field}" if p.field else None) for p in found
        ]
        params.append(row)
    if problems:
        raise ActionError(*problems)
    return await write_user_rows(graph, params, default_trust_score=default_trust_score)


async def write_user_rows(
    graph: Graph, rows: Sequence[dict[str, Any]], *, default_trust_score: int
) -> int:
    """Write rows made by ``user_row_params`` (already validated); returns how many are new.

    Importers validate whole files first (to name lines) and then write through this.
    """
    if not rows:
        return 0
    try:
        result = await graph.write(
            """
            UNWIND $rows AS row
            MERGE (u:User {platformId: row.platformId})
            ON CREATE SET u.id = row.newId, u.createdAt = datetime(), u.discoverable = true,
                          u.trustScore = coalesce(row.trustScore, $defaultTrust)
            SET u.handle = row.handle, u.handleKey = toLower(row.handle),
                u.displayName = row.displayName, u.updatedAt = datetime(),
                u.trustScore = coalesce(row.trustScore, u.trustScore),
                u.phoneHash = coalesce(row.phoneHash, u.phoneHash)
            """,
            rows=list(rows),
            defaultTrust=default_trust_score,
        )
    except ConstraintError as exc:
        if "handleKey" in (exc.message or ""):
            raise ActionError(
                Problem(ErrorCode.ALREADY_EXISTS, "a handle is taken by another user", "handle")
            ) from exc
        raise
    return result.summary.counters.nodes_created
