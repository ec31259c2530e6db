"""Payments, visits and friendships written in batches (API, events, import).

Every writer takes a batch of rows keyed by **platform ids** and writes it with one
``UNWIND $rows`` query, so callers choose the batch size. All of them are idempotent:

* ``(a)-[:PAID {at}]->(b)`` and ``(u)-[:VISITED {at}]->(m)`` are ``MERGE``d on the event
  time, so replaying an event (at-least-once delivery, a re-run import) writes nothing new.
  Times are stored as Neo4j ``DateTime`` normalised to UTC, so that the same instant sent
  with two different offsets is still the same event.
* Friendships are one ``FRIEND`` relationship per pair, from the smaller internal id to
  the larger (``graph/MODEL.md``). Merchants are written by ``graph/merchants.py``.

Rows are validated before anything is written (``payment_problems`` and friends return
the problems of one row, with field names relative to the row); rows that reference
unknown users or merchants are skipped and reported back by index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph.driver import Graph
from graph.errors import ActionError, Problem, invalid
from graph.validation import check_platform_id

# --- rows -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment event from user ``from_platform_id`` to user ``to_platform_id``."""

    from_platform_id: str
    to_platform_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Visit:
    """One visit or purchase of user ``user_platform_id`` at a merchant."""

    user_platform_id: str
    merchant_platform_id: str
    at: datetime


@dataclass(frozen=True)
class WriteResult:
    """What a batch writer did.

    ``written`` counts the rows whose ends all exist (written now or already present);
    ``unknown`` maps the index of every skipped row to the fields that named nobody
    (``"from"``, ``"to"``, ``"user"``, ``"merchant"``, or ``"a"``/``"b"`` for pairs);
    ``user_ids`` are the internal ids of the users the written rows touched;
    ``created`` is how many relationships are new.
    """

    written: int = 0
    created: int = 0
    unknown: dict[int, list[str]] = field(default_factory=dict)
    user_ids: set[str] = field(default_factory=set)


# --- validation -------------------------------------------------------------------------


def check_at(name: str, value: datetime) -> list[Problem]:
    """An event time must carry its offset: a naive time is ambiguous by up to a day."""
    if value.tzinfo is None or value.utcoffset() is None:
        return [invalid(name, f"{name} must include a UTC offset, e.g. 2024-05-01T12:00:00+08:00")]
    return []


def to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def payment_problems(
    row: Payment, *, from_field: str = "from", to_field: str = "to", at_field: str = "at"
) -> list[Problem]:
    problems = [
        *check_platform_id(from_field, row.from_platform_id),
        *check_platform_id(to_field, row.to_platform_id),
        *check_at(at_field, row.at),
    ]
    if not problems and row.from_platform_id.strip() == row.to_platform_id.strip():
        problems.append(invalid(to_field, "a payment to oneself is not a payment"))
    return problems


def visit_problems(
    row: Visit, *, user_field: str = "user", merchant_field: str = "merchant", at_field: str = "at"
) -> list[Problem]:
    return [
        *check_platform_id(user_field, row.user_platform_id),
        *check_platform_id(merchant_field, row.merchant_platform_id),
        *check_at(at_field, row.at),
    ]


def friendship_problems(a: str, b: str) -> list[Problem]:
    problems = [*check_platform_id("a", a), *check_platform_id("b", b)]
    if not problems and a.strip() == b.strip():
        problems.append(invalid("b", "a user cannot befriend themselves"))
    return problems


def _prefixed(index: int, problems: Sequence[Problem], what: str) -> list[Problem]:
    return [
        Problem(p.code, p.message, f"{what}[{index}].{p.field}" if p.field else None)
        for p in problems
    ]


# --- writers ----------------------------------------------------------------------------


async def _write(
    tx: AsyncManagedTransaction, query: LiteralString, rows: list[dict[str, Any]]
) -> tuple[list[Any], int]:
    result = await tx.run(query, rows=rows)
    records = [record async for record in result]
    summary = await result.consume()
    return records, summary.counters.relationships_created


async def record_payments(tx: AsyncManagedTransaction, rows: Sequence[Payment]) -> WriteResult:
    """MERGE one ``PAID`` per payment; rows naming an unknown user are skipped.

    Raises :class:`ActionError` (nothing written) if any row is invalid.
    """
    problems = [p for i, r in enumerate(rows) for p in _prefixed(i, payment_problems(r), "rows")]
    if problems:
        raise ActionError(*problems)
    if not rows:
        return WriteResult()
    params = [
        {
            "i": i,
            "from": r.from_platform_id.strip(),
            "to": r.to_platform_id.strip(),
            "at": to_utc(r.at),
        }
        for i, r in enumerate(rows)
    ]
    records, created = await _write(
        tx,
        """
        UNWIND $rows AS row
        OPTIONAL MATCH (a:User {platformId: row.from})
        OPTIONAL MATCH (b:User {platformId: row.to})
        CALL (row, a, b) {
            WITH row, a, b WHERE a IS NOT NULL AND b IS NOT NULL
            MERGE (a)-[:PAID {at: row.at}]->(b)
        }
        RETURN row.i AS i, a.id AS left, b.id AS right
        """,
        params,
    )
    return _result(records, created, "from", "to")


async def record_visits(tx: AsyncManagedTransaction, rows: Sequence[Visit]) -> WriteResult:
    """MERGE one ``VISITED`` per visit; rows naming an unknown user or merchant are skipped.

    Raises :class:`ActionError` (nothing written) if any row is invalid.
    """
    problems = [p for i, r in enumerate(rows) for p in _prefixed(i, visit_problems(r), "rows")]
    if problems:
        raise ActionError(*problems)
    if not rows:
        return WriteResult()
    params = [
        {
            "i": i,
            "user": r.user_platform_id.strip(),
            "merchant": r.merchant_platform_id.strip(),
            "at": to_utc(r.at),
        }
        for i, r in enumerate(rows)
    ]
    records, created = await _write(
        tx,
        """
        UNWIND $rows AS row
        OPTIONAL MATCH (u:User {platformId: row.user})
        OPTIONAL MATCH (m:Merchant {platformId: row.merchant})
        CALL (row, u, m) {
            WITH row, u, m WHERE u IS NOT NULL AND m IS NOT NULL
            MERGE (u)-[:VISITED {at: row.at}]->(m)
        }
        RETURN row.i AS i, u.id AS left, m.id AS right
        """,
        params,
    )
    # Only the user side is a person whose neighbourhood changed.
    return _result(
        records,
        created,
        "user",
        "merchant",
        right_is_user=False,
    )


def _result(
    records: Sequence[Any], created: int, left: str, right: str, *, right_is_user: bool = True
) -> WriteResult:
    unknown: dict[int, list[str]] = {}
    user_ids: set[str] = set()
    written = 0
    for record in records:
        missing = [name for name, key in ((left, "left"), (right, "right")) if record[key] is None]
        if missing:
            unknown[record["i"]] = missing
            continue
        written += 1
        user_ids.add(record["left"])
        if right_is_user:
            user_ids.add(record["right"])
    return WriteResult(written, created, unknown, user_ids)


async def upsert_friendships(graph: Graph, pairs: Sequence[tuple[str, str]]) -> WriteResult:
    """One ``FRIEND {since}`` per pair of platform ids, smaller internal id to larger.

    Existing friendships are left as they are (``since`` keeps its value); pairs naming an
    unknown user are skipped and reported. Raises :class:`ActionError` (nothing written)
    if a pair is invalid (empty id, a user paired with themselves).
    """
    problems = [
        p
        for i, (a, b) in enumerate(pairs)
        for p in _prefixed(i, friendship_problems(a, b), "pairs")
    ]
    if problems:
        raise ActionError(*problems)
    if not pairs:
        return WriteResult()
    params = [{"i": i, "a": a.strip(), "b": b.strip()} for i, (a, b) in enumerate(pairs)]
    result = await graph.write(
        """
        UNWIND $rows AS row
        OPTIONAL MATCH (a:User {platformId: row.a})
        OPTIONAL MATCH (b:User {platformId: row.b})
        CALL (a, b) {
            WITH a, b WHERE a IS NOT NULL AND b IS NOT NULL
            WITH CASE WHEN a.id < b.id THEN a ELSE b END AS low,
                 CASE WHEN a.id < b.id THEN b ELSE a END AS high
            MERGE (low)-[f:FRIEND]->(high)
            ON CREATE SET f.since = datetime()
        }
        RETURN row.i AS i, a.id AS left, b.id AS right
        """,
        rows=params,
    )
    return _result(result.records, result.summary.counters.relationships_created, "a", "b")


async def existing_friend_pairs(graph: Graph, ids: Sequence[str]) -> set[tuple[str, str]]:
    """The ``(low, high)`` internal ids of every ``FRIEND`` starting at one of ``ids``."""
    if not ids:
        return set()
    result = await graph.read(
        """
        UNWIND $ids AS id
        MATCH (low:User {id: id})-[:FRIEND]->(high:User)
        RETURN low.id AS low, high.id AS high
        """,
        ids=list(ids),
    )
    return {(r["low"], r["high"]) for r in result.records}


async def create_friend_pairs(graph: Graph, pairs: Sequence[tuple[str, str]]) -> int:
    """Import fast path: ``CREATE`` ``FRIEND`` between users given by **internal** ids,
    ordered (smaller first), known to exist and known not to be friends yet (see
    ``existing_friend_pairs``). A ``MERGE`` would have to scan a hub's thousands of
    relationships for every new one. Returns how many were created."""
    if not pairs:
        return 0
    result = await graph.write(
        """
        UNWIND $rows AS row
        MATCH (low:User {id: row[0]})
        MATCH (high:User {id: row[1]})
        CREATE (low)-[:FRIEND {since: datetime()}]->(high)
        """,
        rows=[list(p) for p in pairs],
    )
    return result.summary.counters.relationships_created
