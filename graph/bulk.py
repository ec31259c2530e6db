"""``quanzi bulk-import DIR``: the import CSVs as ``neo4j-admin database import`` input.

``quanzi import`` writes through Bolt in ``UNWIND`` batches; at a million users (25M
friendships) that takes hours on a busy machine. Neo4j's offline importer writes the
store files directly, but it needs every node and relationship spelled out. This module
turns the same directory ``quanzi import`` reads (users, merchants, friendships, payments,
visits; see ``graph/imports.py``) plus ``contacts.csv`` (``owner,phone``, what each
user's ``uploadContacts`` would send) into those files, producing exactly the graph the
online path would (``tests/test_bulk.py`` compares the two):

- ``User``: ``id`` (new), ``platformId``, ``handle``, ``handleKey``, ``displayName``,
  ``trustScore`` (the default when empty), ``phoneHash`` (keyed hash, when a phone is
  given), ``discoverable: true``, ``createdAt``/``updatedAt``;
- ``Merchant``: ``id``, ``platformId``, ``name``, ``category``, ``location`` (WGS-84
  point, when both coordinates are given), ``createdAt``/``updatedAt``;
- ``Phone {hash}`` for every contact number, ``(User)-[:HAS_CONTACT {at}]->(Phone)``
  (the owner's own number is left out, as ``graph/contacts.py store`` does);
- ``(low)-[:FRIEND {since}]->(high)`` ordered by internal id as ``create_friend_pairs``
  does, de-duplicated; ``PAID {at}`` and ``VISITED {at}`` de-duplicated on (ends, at) as
  their ``MERGE`` does, times in UTC.

Pure file writing (no driver): the store is written by ``stack/manager.py bulk_import``
against a stopped Neo4j, then ``graph/migrations`` adds constraints and indexes. Rows are
validated with the online importer's own checks; a bad one stops with
``FILE line N: problem`` (raised as :class:`graph.imports.ImportFailed`).
"""

from __future__ import annotations

import array
import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graph import interactions
from graph.imports import FRIENDSHIPS, MERCHANTS, PAYMENTS, USERS, VISITS, ImportFailed, read_rows
from graph.merchants import UpsertMerchant, merchant_problems
from graph.users import UpsertUser, new_id, user_row_params
from graph.validation import normalize_e164, phone_hash

CONTACTS = "contacts.csv"
CONTACT_HEADER = ("owner", "phone")
# Rows handed to one writelines call when writing the big relationship files.
CHUNK = 200_000


@dataclass
class BulkFiles:
    """What ``neo4j-admin`` gets: (label or type, file) pairs, and how many rows each."""

    nodes: list[tuple[str, Path]] = field(default_factory=list)
    relationships: list[tuple[str, Path]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _fail(name: str, line: int, message: str) -> ImportFailed:
    return ImportFailed(f"{name} line {line}: {message}")


class _Users:
    """The users file read once: internal id and phone hash per platform id."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.phone_hashes: list[str | None] = []


def _write_users(
    src: Path, out: Path, pepper: bytes, default_trust_score: int, now: str
) -> tuple[_Users, int]:
    users = _Users()
    handles: dict[str, int] = {}
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            (
                "id:ID(User)",
                "platformId",
                "handle",
                "handleKey",
                "displayName",
                "trustScore:long",
                "phoneHash",
                "discoverable:boolean",
                "createdAt:datetime",
                "updatedAt:datetime",
            )
        )
        for line, (pid, handle, display_name, phone, trust) in read_rows(src):
            text = trust.strip()
            if text and not text.lstrip("-").isdigit():
                raise _fail(USERS, line, "trust_score must be a whole number")
            row = UpsertUser(
                platform_id=pid.strip(),
                handle=handle.strip(),
                display_name=display_name,
                phone=phone.strip() or None,
                trust_score=int(text) if text else None,
            )
            problems, params = user_row_params(row, pepper)
            if problems:
                raise _fail(USERS, line, "; ".join(p.message for p in problems))
            if row.platform_id in users.index:
                raise _fail(USERS, line, f"platform_id {row.platform_id!r} repeats an earlier row")
            key = row.handle.lower()
            if key in handles:
                raise _fail(USERS, line, f"handle {row.handle!r} repeats line {handles[key]}")
            handles[key] = line
            users.index[row.platform_id] = len(users.ids)
            users.ids.append(params["newId"])
            users.phone_hashes.append(params["phoneHash"])
            trust_score = params["trustScore"]
            w.writerow(
                (
                    params["newId"],
                    params["platformId"],
                    params["handle"],
                    key,
                    params["displayName"],
                    default_trust_score if trust_score is None else trust_score,
                    params["phoneHash"] or "",
                    "true",
                    now,
                    now,
                )
            )
    return users, len(users.ids)


def _write_merchants(src: Path, out: Path, now: str) -> tuple[dict[str, str], int]:
    ids: dict[str, str] = {}
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            (
                "id:ID(Merchant)",
                "platformId",
                "name",
                "category",
                "location:point{crs:WGS-84}",
                "createdAt:datetime",
                "updatedAt:datetime",
            )
        )
        for line, (pid, name, category, lat, lon) in read_rows(src):
            try:
                latitude = float(lat) if lat.strip() else None
                longitude = float(lon) if lon.strip() else None
            except ValueError:
                raise _fail(MERCHANTS, line, "latitude and longitude must be numbers") from None
            row = UpsertMerchant(pid.strip(), name, category, latitude, longitude)
            problems = merchant_problems(row)
            if problems:
                raise _fail(MERCHANTS, line, "; ".join(p.message for p in problems))
            if row.platform_id in ids:
                raise _fail(MERCHANTS, line, f"platform_id {row.platform_id!r} repeats")
            ids[row.platform_id] = new_id()
            location = (
                f"{{latitude:{latitude!r}, longitude:{longitude!r}}}"
                if latitude is not None and longitude is not None
                else ""
            )
            mid = ids[row.platform_id]
            w.writerow((mid, row.platform_id, name.strip(), category.strip(), location, now, now))
    return ids, len(ids)


def _user(users: _Users, name: str, line: int, column: str, pid: str) -> int:
    found = users.index.get(pid)
    if found is None:
        raise _fail(name, line, f"{column} {pid!r} is not a known id")
    return found


def _write_friendships(src: Path, out: Path, users: _Users, now: str) -> int:
    """Pairs as ranks of the internal ids (so low < high is the online direction), kept
    as int64 arrays: 25M pairs as Python tuples would take gigabytes."""
    n = len(users.ids)
    order = sorted(range(n), key=users.ids.__getitem__)
    rank = np.empty(n, dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(n, dtype=np.int64)
    ends = array.array("q")
    index = users.index
    for line, (a, b) in read_rows(src):
        a, b = a.strip(), b.strip()
        ia, ib = index.get(a), index.get(b)
        if ia is None or ib is None:
            problems = interactions.friendship_problems(a, b)
            if problems:
                raise _fail(FRIENDSHIPS, line, "; ".join(p.message for p in problems))
            _user(users, FRIENDSHIPS, line, "a", a)
            _user(users, FRIENDSHIPS, line, "b", b)
        elif ia == ib:
            raise _fail(FRIENDSHIPS, line, "a user cannot befriend themselves")
        else:
            ends.append(ia)
            ends.append(ib)
    pairs = rank[np.frombuffer(ends, dtype=np.int64).reshape(-1, 2)] if ends else None
    del ends
    by_rank = [users.ids[i] for i in order]
    with out.open("w", encoding="utf-8") as fh:
        fh.write(":START_ID(User),:END_ID(User),since:datetime\n")
        if pairs is None:
            return 0
        keys = np.unique(pairs.min(axis=1) * n + pairs.max(axis=1))
        del pairs
        tail = f",{now}\n"
        for start in range(0, len(keys), CHUNK):
            part = keys[start : start + CHUNK]
            fh.writelines(
                f"{by_rank[lo]},{by_rank[hi]}{tail}"
                for lo, hi in zip((part // n).tolist(), (part % n).tolist(), strict=True)
            )
        return len(keys)


def _parse_at(name: str, line: int, text: str) -> str:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _fail(
            name, line, "at must be an ISO-8601 time such as 2024-05-01T12:00:00+08:00"
        ) from None
    problems = interactions.check_at("at", value)
    if problems:
        raise _fail(name, line, problems[0].message)
    return _time(value)


def _write_events(
    out: Path, header: str, rows: Iterable[tuple[str, str, str]], counts: dict[str, int], key: str
) -> None:
    seen: set[tuple[str, str, str]] = set()
    with out.open("w", encoding="utf-8") as fh:
        fh.write(header)
        for row in rows:
            if row not in seen:
                seen.add(row)
                fh.write(f"{row[0]},{row[1]},{row[2]}\n")
    counts[key] = len(seen)


def _payments(src: Path, users: _Users) -> Iterable[tuple[str, str, str]]:
    for line, (a, b, at) in read_rows(src):
        a, b = a.strip(), b.strip()
        if a == b:
            raise _fail(PAYMENTS, line, "a payment to oneself is not a payment")
        ia = _user(users, PAYMENTS, line, "from", a)
        ib = _user(users, PAYMENTS, line, "to", b)
        yield users.ids[ia], users.ids[ib], _parse_at(PAYMENTS, line, at)


def _visits(src: Path, users: _Users, merchants: dict[str, str]) -> Iterable[tuple[str, str, str]]:
    for line, (u, m, at) in read_rows(src):
        iu = _user(users, VISITS, line, "user", u.strip())
        merchant = merchants.get(m.strip())
        if merchant is None:
            raise _fail(VISITS, line, f"merchant {m.strip()!r} is not a known id")
        yield users.ids[iu], merchant, _parse_at(VISITS, line, at)


def _write_contacts(
    src: Path, phones_out: Path, out: Path, users: _Users, pepper: bytes, now: str
) -> tuple[int, int]:
    """One ``Phone`` per distinct hash; the owner's own number is not kept (as ``store``).

    A million address books are 30M rows of a few million numbers: each distinct number is
    normalised and hashed once, and the (owner, number) pairs are de-duplicated as int64.
    """
    phone_of: dict[str, int] = {}  # raw number -> index in hashes, -1 when invalid
    hashes: list[str] = []
    keys = array.array("q")
    for line, (owner, raw) in read_rows(src, CONTACT_HEADER):
        io = _user(users, CONTACTS, line, "owner", owner.strip())
        ip = phone_of.get(raw)
        if ip is None:
            e164 = normalize_e164(raw)  # an upload matches the rest, so does this
            ip = phone_of[raw] = -1 if e164 is None else len(hashes)
            if e164 is not None:
                hashes.append(phone_hash(pepper, e164))
        if ip >= 0 and hashes[ip] != users.phone_hashes[io]:
            keys.append(io << 32 | ip)
    del phone_of
    unique = np.unique(np.frombuffer(keys, dtype=np.int64)) if keys else np.zeros(0, np.int64)
    del keys
    owners, numbers = (unique >> 32).tolist(), (unique & 0xFFFFFFFF).tolist()
    used = np.unique(unique & 0xFFFFFFFF).tolist()
    with out.open("w", encoding="utf-8") as fh:
        fh.write(":START_ID(User),:END_ID(Phone),at:datetime\n")
        tail = f",{now}\n"
        fh.writelines(
            f"{users.ids[o]},{hashes[p]}{tail}" for o, p in zip(owners, numbers, strict=True)
        )
    with phones_out.open("w", encoding="utf-8") as fh:
        fh.write("hash:ID(Phone)\n")
        fh.writelines(f"{hashes[p]}\n" for p in used)
    return len(used), len(owners)


def write_admin_files(
    src: Path,
    out: Path,
    *,
    pepper: bytes,
    default_trust_score: int,
    now: datetime | None = None,
) -> BulkFiles:
    """Write the ``neo4j-admin`` node and relationship files for ``src`` into ``out``.

    ``users.csv`` is required (every other file names users); the others are optional.
    """
    started = time.perf_counter()
    if not (src / USERS).is_file():
        raise ImportFailed(f"{src / USERS}: a bulk import needs the users file")
    out.mkdir(parents=True, exist_ok=True)
    stamp = _time(now or datetime.now(UTC))
    files = BulkFiles()
    try:
        users, files.counts["User"] = _write_users(
            src / USERS, out / "users.csv", pepper, default_trust_score, stamp
        )
        files.nodes.append(("User", out / "users.csv"))
        merchants: dict[str, str] = {}
        if (src / MERCHANTS).is_file():
            merchants, files.counts["Merchant"] = _write_merchants(
                src / MERCHANTS, out / "merchants.csv", stamp
            )
            files.nodes.append(("Merchant", out / "merchants.csv"))
        if (src / FRIENDSHIPS).is_file():
            files.counts["FRIEND"] = _write_friendships(
                src / FRIENDSHIPS, out / "friend.csv", users, stamp
            )
            files.relationships.append(("FRIEND", out / "friend.csv"))
        if (src / PAYMENTS).is_file():
            _write_events(
                out / "paid.csv",
                ":START_ID(User),:END_ID(User),at:datetime\n",
                _payments(src / PAYMENTS, users),
                files.counts,
                "PAID",
            )
            files.relationships.append(("PAID", out / "paid.csv"))
        if (src / VISITS).is_file():
            _write_events(
                out / "visited.csv",
                ":START_ID(User),:END_ID(Merchant),at:datetime\n",
                _visits(src / VISITS, users, merchants),
                files.counts,
                "VISITED",
            )
            files.relationships.append(("VISITED", out / "visited.csv"))
        if (src / CONTACTS).is_file():
            files.counts["Phone"], files.counts["HAS_CONTACT"] = _write_contacts(
                src / CONTACTS, out / "phones.csv", out / "has_contact.csv", users, pepper, stamp
            )
            files.nodes.append(("Phone", out / "phones.csv"))
            files.relationships.append(("HAS_CONTACT", out / "has_contact.csv"))
    except OSError as exc:
        raise ImportFailed(str(exc)) from exc
    files.seconds = time.perf_counter() - started
    return files
