"""Address-book uploads: numbers are matched, then only their keyed hashes are kept.

Raw numbers exist only in the request: they are normalised, hashed with the pepper and
dropped. Nothing here logs, and no error message names a number except the invalid
examples handed back to the viewer who sent them. An upload is no registration oracle:
the uploader learns only of matches they could know anyway (``Stored.mutual``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import LiteralString

from neo4j import AsyncManagedTransaction

from graph.errors import ActionError, Problem, invalid
from graph.validation import normalize_e164, phone_hash

MAX_NUMBERS_PER_UPLOAD = 5000
BATCH_SIZE = 1000
INVALID_EXAMPLES = 3
# An example longer than this is cut short in the message.
EXAMPLE_MAX_CHARS = 24
FIELD = "phoneNumbers"


@dataclass(frozen=True)
class PreparedUpload:
    """Distinct keyed hashes of the valid numbers, in first-seen order, and what was not."""

    hashes: list[str]
    invalid_count: int = 0
    invalid_examples: list[str] = field(default_factory=list)

    def problems(self) -> list[Problem]:
        if not self.invalid_count:
            return []
        examples = ", ".join(f'"{e}"' for e in self.invalid_examples)
        noun = "entry is" if self.invalid_count == 1 else "entries are"
        return [
            invalid(
                FIELD,
                f"{self.invalid_count} {noun} not an E.164 phone number "
                f"such as +8613800138000 (e.g. {examples}); the rest were matched",
            )
        ]


def _example(raw: str) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in raw.strip())
    return text if len(text) <= EXAMPLE_MAX_CHARS else text[: EXAMPLE_MAX_CHARS - 1] + "…"


def prepare_upload(phone_numbers: Sequence[str], *, pepper: bytes) -> PreparedUpload:
    """Normalise and hash; refuses an upload that is too large before looking at it."""
    if len(phone_numbers) > MAX_NUMBERS_PER_UPLOAD:
        raise ActionError(
            invalid(FIELD, f"at most {MAX_NUMBERS_PER_UPLOAD} numbers per upload; send batches")
        )
    seen: dict[str, None] = {}
    invalid_count = 0
    examples: list[str] = []
    for raw in phone_numbers:
        e164 = normalize_e164(raw)
        if e164 is None:
            invalid_count += 1
            if len(examples) < INVALID_EXAMPLES:
                examples.append(_example(raw))
            continue
        seen.setdefault(phone_hash(pepper, e164), None)
    return PreparedUpload(list(seen), invalid_count, examples)


@dataclass(frozen=True)
class Stored:
    """Who an upload matched: everyone (their suggestions change), and those the uploader
    may be told of (they have the uploader's number too, and may be found)."""

    matched: list[str]
    mutual: list[str]


async def store(tx: AsyncManagedTransaction, user_id: str, hashes: Sequence[str]) -> Stored:
    """Keep the hashes as the user's contacts; return whom they match.

    The user's own number is neither kept nor matched. A match is another user whose
    ``phoneHash`` is among the hashes, with no block between the two either way; it is
    mutual when that user is discoverable, not suspended and holds the uploader's number
    too. Written in UNWIND batches; idempotent (MERGE), so a retry or a repeated upload
    changes nothing but ``at``.
    """
    at = datetime.now(UTC)
    matched: dict[str, None] = {}
    mutual: dict[str, None] = {}
    for start in range(0, len(hashes), BATCH_SIZE):
        batch = list(hashes[start : start + BATCH_SIZE])
        result = await tx.run(_STORE_BATCH, userId=user_id, hashes=batch, at=at)
        record = await result.single(strict=True)
        matched.update(dict.fromkeys(record["matched"]))
        mutual.update(dict.fromkeys(record["mutual"]))
    return Stored(list(matched), list(mutual))


_STORE_BATCH: LiteralString = """
    MATCH (me:User {id: $userId})
    WITH me, [h IN $hashes WHERE h <> coalesce(me.phoneHash, '')] AS hashes
    UNWIND hashes AS h
    MERGE (p:Phone {hash: h})
    MERGE (me)-[r:HAS_CONTACT]->(p)
    SET r.at = $at
    WITH me, h
    OPTIONAL MATCH (u:User {phoneHash: h})
    WHERE u <> me AND NOT (me)-[:BLOCKED]-(u)
    RETURN collect(DISTINCT u.id) AS matched,
           collect(DISTINCT CASE
               WHEN coalesce(u.discoverable, true) AND NOT coalesce(u.suspended, false)
                    AND EXISTS { (u)-[:HAS_CONTACT]->(:Phone {hash: me.phoneHash}) }
               THEN u.id END) AS mutual
"""
