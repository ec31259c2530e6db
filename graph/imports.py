"""``quanzi import DIR``: bulk-load users, merchants, friendships, payments and visits.

A directory holds any of these CSV files (UTF-8, a header row, ids are platform ids);
they are processed in this order, and a missing file is skipped:

=================== ============================================================
file                columns
=================== ============================================================
``users.csv``       ``platform_id,handle,display_name,phone,trust_score``
                    (``phone`` and ``trust_score`` may be empty)
``merchants.csv``   ``platform_id,name,category,latitude,longitude``
                    (both coordinates or neither)
``friendships.csv`` ``a,b``
``payments.csv``    ``from,to,at`` (``at``: ISO-8601 with a UTC offset)
``visits.csv``      ``user,merchant,at``
=================== ============================================================

Each file is read and validated in full before any of it is written, so a bad row
(including one that names a user or merchant that exists neither in the graph nor in an
earlier file) stops the import with ``FILE line N: problem`` and writes nothing of that
file; files before it stay imported. Writes go in ``UNWIND`` batches and are idempotent
(users and merchants are upserted by platform id, friendships and events are merged), so
re-running an import after fixing a file is safe.

Friendships are the bulk of a social graph: their endpoints are resolved to internal ids
once, in Python, the pairs are ordered and de-duplicated there, and each batch then
the friendships that exist already are read and left out, and each batch then creates
``FRIEND`` between two nodes found through the ``User.id`` unique index (a ``MERGE``
would scan a hub's thousands of relationships for each new one). A friendship created by
someone else while the import runs may thus end up doubled; import into a quiet graph.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, LiteralString, TypeVar

from tqdm import tqdm

from graph import interactions
from graph.driver import Graph, write_transaction
from graph.errors import ActionError, Problem
from graph.merchants import UpsertMerchant, merchant_problems, upsert_merchants
from graph.users import UpsertUser, user_row_params, write_user_rows

DEFAULT_BATCH_SIZE = 10_000
# Platform ids resolved per lookup query.
LOOKUP_CHUNK = 50_000

USERS, MERCHANTS, FRIENDSHIPS, PAYMENTS, VISITS = (
    "users.csv",
    "merchants.csv",
    "friendships.csv",
    "payments.csv",
    "visits.csv",
)
HEADERS: dict[str, tuple[str, ...]] = {
    USERS: ("platform_id", "handle", "display_name", "phone", "trust_score"),
    MERCHANTS: ("platform_id", "name", "category", "latitude", "longitude"),
    FRIENDSHIPS: ("a", "b"),
    PAYMENTS: ("from", "to", "at"),
    VISITS: ("user", "merchant", "at"),
}
ORDER = (USERS, MERCHANTS, FRIENDSHIPS, PAYMENTS, VISITS)

T = TypeVar("T")


class ImportFailed(Exception):
    """A file cannot be imported; the message names the file and, for a row, its line."""


@dataclass(frozen=True)
class FileReport:
    name: str
    rows: int
    created: int  # nodes for users and merchants, relationships for the others
    seconds: float
    what: str  # "nodes" or "relationships"

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float(self.rows)

    @property
    def created_per_second(self) -> float:
        return self.created / self.seconds if self.seconds > 0 else float(self.created)


# --- reading ----------------------------------------------------------------------------


def read_rows(
    path: Path, expected: tuple[str, ...] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of every data row, after checking the header (by default
    the one ``HEADERS`` gives the file's name); ``graph/bulk.py`` reads the same files."""
    name = path.name
    expected = expected or HEADERS[name]
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFailed(
                f"{name}: empty file, expected the header {','.join(expected)}"
            ) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFailed(f"{name} line 1: {exc}") from exc
        if tuple(h.strip().lower() for h in header) != expected:
            raise ImportFailed(
                f"{name} line 1: header is {','.join(header) or '(empty)'}, "
                f"expected {','.join(expected)}"
            )
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise ImportFailed(f"{name} line {reader.line_num}: {exc}") from exc
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if len(cells) != len(expected):
                raise ImportFailed(
                    f"{name} line {reader.line_num}: {len(cells)} columns, "
                    f"expected {len(expected)} ({','.join(expected)})"
                )
            yield reader.line_num, cells


def _fail(name: str, line: int, problems: Sequence[Problem]) -> ImportFailed:
    detail = "; ".join(p.message for p in problems)
    return ImportFailed(f"{name} line {line}: {detail}")


def _optional_int(name: str, line: int, column: str, text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ImportFailed(f"{name} line {line}: {column} must be a whole number") from None


def _optional_float(name: str, line: int, column: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ImportFailed(f"{name} line {line}: {column} must be a number") from None


def _datetime(name: str, line: int, text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ImportFailed(
            f"{name} line {line}: at must be an ISO-8601 time such as 2024-05-01T12:00:00+08:00"
        ) from None


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _resolve(
    graph: Graph, query: LiteralString, platform_ids: Iterable[str]
) -> dict[str, str]:
    """platform id -> internal id for those that exist, a chunk per query."""
    wanted = sorted(set(platform_ids))
    found: dict[str, str] = {}
    for chunk in _batches(wanted, LOOKUP_CHUNK):
        result = await graph.read(query, pids=list(chunk))
        found.update((r["pid"], r["id"]) for r in result.records)
    return found


_USER_IDS: LiteralString = (
    "UNWIND $pids AS pid MATCH (u:User {platformId: pid}) RETURN pid, u.id AS id"
)
_MERCHANT_IDS: LiteralString = (
    "UNWIND $pids AS pid MATCH (m:Merchant {platformId: pid}) RETURN pid, m.id AS id"
)


def _unknown(name: str, lines: Sequence[tuple[int, str, str]], known: dict[str, str]) -> None:
    """Fail on the first ``(line, column, platform id)`` not in ``known``."""
    for line, column, pid in lines:
        if pid not in known:
            raise ImportFailed(f"{name} line {line}: {column} {pid!r} is not a known id")


# --- the files --------------------------------------------------------------------------


@dataclass
class _Plan:
    """A validated file, ready to write: the batches and how to write one."""

    rows: int
    batches: list[Sequence[Any]]
    write: Callable[[Sequence[Any]], Awaitable[int]]
    what: str


async def _plan_users(
    graph: Graph, path: Path, batch_size: int, pepper: bytes, default_trust_score: int
) -> _Plan:
    name = path.name
    rows: list[UpsertUser] = []
    params: list[dict[str, Any]] = []
    seen_pids: dict[str, int] = {}
    seen_handles: dict[str, int] = {}
    for line, (pid, handle, display_name, phone, trust) in read_rows(path):
        row = UpsertUser(
            platform_id=pid.strip(),
            handle=handle.strip(),
            display_name=display_name,
            phone=phone.strip() or None,
            trust_score=_optional_int(name, line, "trust_score", trust),
        )
        problems, row_params = user_row_params(row, pepper)
        if problems:
            raise _fail(name, line, problems)
        if row.platform_id in seen_pids:
            raise ImportFailed(
                f"{name} line {line}: platform_id {row.platform_id!r} "
                f"repeats line {seen_pids[row.platform_id]}"
            )
        key = row.handle.lower()
        if key in seen_handles:
            raise ImportFailed(
                f"{name} line {line}: handle {row.handle!r} repeats line {seen_handles[key]}"
            )
        seen_pids[row.platform_id] = seen_handles[key] = line
        rows.append(row)
        params.append(row_params)
    # A handle held by a user with another platform id would fail the whole batch.
    owners = {row.handle.lower(): row.platform_id for row in rows}
    for chunk in _batches(sorted(owners), LOOKUP_CHUNK):
        result = await graph.read(
            "UNWIND $keys AS k MATCH (u:User {handleKey: k}) RETURN k, u.platformId AS pid",
            keys=list(chunk),
        )
        for record in result.records:
            if record["pid"] != owners[record["k"]]:
                raise ImportFailed(
                    f"{name} line {seen_handles[record['k']]}: handle is taken by another user"
                )

    async def write(batch: Sequence[Any]) -> int:
        return await write_user_rows(graph, batch, default_trust_score=default_trust_score)

    return _Plan(len(rows), list(_batches(params, batch_size)), write, "nodes")


async def _plan_merchants(graph: Graph, path: Path, batch_size: int) -> _Plan:
    name = path.name
    rows: list[UpsertMerchant] = []
    seen: dict[str, int] = {}
    for line, (pid, mname, category, lat, lon) in read_rows(path):
        row = UpsertMerchant(
            platform_id=pid.strip(),
            name=mname,
            category=category,
            latitude=_optional_float(name, line, "latitude", lat),
            longitude=_optional_float(name, line, "longitude", lon),
        )
        problems = merchant_problems(row)
        if problems:
            raise _fail(name, line, problems)
        if row.platform_id in seen:
            raise ImportFailed(
                f"{name} line {line}: platform_id {row.platform_id!r} repeats line "
                f"{seen[row.platform_id]}"
            )
        seen[row.platform_id] = line
        rows.append(row)
    before = await _count(graph, "MATCH (m:Merchant) RETURN count(m) AS n")

    async def write(batch: Sequence[Any]) -> int:
        nonlocal before
        await upsert_merchants(graph, batch)
        after = await _count(graph, "MATCH (m:Merchant) RETURN count(m) AS n")
        created, before = after - before, after
        return created

    return _Plan(len(rows), list(_batches(rows, batch_size)), write, "nodes")


async def _count(graph: Graph, query: LiteralString) -> int:
    result = await graph.read(query)
    return int(result.records[0]["n"])


async def _plan_friendships(graph: Graph, path: Path, batch_size: int) -> _Plan:
    name = path.name
    raw: list[tuple[int, str, str]] = []
    for line, (a, b) in read_rows(path):
        a, b = a.strip(), b.strip()
        problems = interactions.friendship_problems(a, b)
        if problems:
            raise _fail(name, line, problems)
        raw.append((line, a, b))
    known = await _resolve(graph, _USER_IDS, (p for _, a, b in raw for p in (a, b)))
    pairs: set[tuple[str, str]] = set()
    for line, a, b in raw:
        if a not in known or b not in known:
            _unknown(name, [(line, "a", a), (line, "b", b)], known)
        ia, ib = known[a], known[b]
        if ia == ib:  # two platform ids cannot share a user, but stay safe
            raise ImportFailed(f"{name} line {line}: a user cannot befriend themselves")
        pairs.add((ia, ib) if ia < ib else (ib, ia))
    # Re-runs: leave out the friendships that exist already, then CREATE the rest.
    lows = sorted({low for low, _ in pairs})
    for chunk in _batches(lows, LOOKUP_CHUNK):
        pairs -= await interactions.existing_friend_pairs(graph, chunk)
    ordered = sorted(pairs)  # neighbouring writes touch neighbouring nodes

    async def write(batch: Sequence[Any]) -> int:
        return await interactions.create_friend_pairs(graph, batch)

    return _Plan(len(raw), list(_batches(ordered, batch_size)), write, "relationships")


async def _plan_payments(graph: Graph, path: Path, batch_size: int) -> _Plan:
    name = path.name
    rows: list[interactions.Payment] = []
    refs: list[tuple[int, str, str]] = []
    for line, (src, dst, at) in read_rows(path):
        row = interactions.Payment(src.strip(), dst.strip(), _datetime(name, line, at))
        problems = interactions.payment_problems(row)
        if problems:
            raise _fail(name, line, problems)
        rows.append(row)
        refs += [(line, "from", row.from_platform_id), (line, "to", row.to_platform_id)]
    _unknown(name, refs, await _resolve(graph, _USER_IDS, (r[2] for r in refs)))

    async def write(batch: Sequence[Any]) -> int:
        return (
            await write_transaction(graph, lambda tx: interactions.record_payments(tx, batch))
        ).created

    return _Plan(len(rows), list(_batches(rows, batch_size)), write, "relationships")


async def _plan_visits(graph: Graph, path: Path, batch_size: int) -> _Plan:
    name = path.name
    rows: list[interactions.Visit] = []
    users: list[tuple[int, str, str]] = []
    merchants: list[tuple[int, str, str]] = []
    for line, (user, merchant, at) in read_rows(path):
        row = interactions.Visit(user.strip(), merchant.strip(), _datetime(name, line, at))
        problems = interactions.visit_problems(row)
        if problems:
            raise _fail(name, line, problems)
        rows.append(row)
        users.append((line, "user", row.user_platform_id))
        merchants.append((line, "merchant", row.merchant_platform_id))
    known_users = await _resolve(graph, _USER_IDS, (r[2] for r in users))
    known_merchants = await _resolve(graph, _MERCHANT_IDS, (r[2] for r in merchants))
    for user_ref, merchant_ref in zip(users, merchants, strict=True):
        _unknown(name, [user_ref], known_users)
        _unknown(name, [merchant_ref], known_merchants)

    async def write(batch: Sequence[Any]) -> int:
        return (
            await write_transaction(graph, lambda tx: interactions.record_visits(tx, batch))
        ).created

    return _Plan(len(rows), list(_batches(rows, batch_size)), write, "relationships")


# --- driving ----------------------------------------------------------------------------


async def import_directory(
    graph: Graph,
    directory: Path,
    *,
    pepper: bytes,
    default_trust_score: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    on_file: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """Import every known file of ``directory`` in order; see the module docstring.

    Raises :class:`ImportFailed` on the first unusable file (earlier files stay written).
    """
    # A command-line batch job: nothing else shares this loop, so blocking reads are fine.
    if not directory.is_dir():  # noqa: ASYNC240
        raise ImportFailed(f"{directory}: not a directory")
    if batch_size < 1:
        raise ImportFailed("batch size must be at least 1")
    reports: list[FileReport] = []
    for name in ORDER:
        path = directory / name
        if not path.is_file():
            continue
        started = time.perf_counter()
        try:
            if name == USERS:
                plan = await _plan_users(graph, path, batch_size, pepper, default_trust_score)
            elif name == MERCHANTS:
                plan = await _plan_merchants(graph, path, batch_size)
            elif name == FRIENDSHIPS:
                plan = await _plan_friendships(graph, path, batch_size)
            elif name == PAYMENTS:
                plan = await _plan_payments(graph, path, batch_size)
            else:
                plan = await _plan_visits(graph, path, batch_size)
        except OSError as exc:
            raise ImportFailed(f"{name}: {exc}") from exc
        created = 0
        with tqdm(
            total=plan.rows, desc=name, unit="rows", unit_scale=True, disable=not progress
        ) as bar:
            for batch in plan.batches:
                try:
                    created += await plan.write(batch)
                except ActionError as exc:  # a race with another writer since validation
                    raise ImportFailed(f"{name}: {exc}") from exc
                bar.update(len(batch))
            if plan.rows > sum(len(b) for b in plan.batches):  # de-duplicated pairs
                bar.update(plan.rows - bar.n)
        report = FileReport(name, plan.rows, created, time.perf_counter() - started, plan.what)
        reports.append(report)
        if on_file is not None:
            on_file(report)
    return reports
