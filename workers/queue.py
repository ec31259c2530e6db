"""A durable job queue on a Redis stream read by a consumer group.

Delivery is **at least once**: a job is acknowledged (``XACK``) only after its handler
returned, so a crash, a timeout or a lost connection after the work was done but before the
acknowledgement makes the job run again. Every handler must therefore be idempotent
(writing the same feed entry twice, or re-adding a member to a sorted set, must be
harmless).

Life of a job:

* ``enqueue`` appends ``{kind, payload}`` to the stream (approximately trimmed).
* A :class:`Consumer` first re-reads its *own* pending list (``XREADGROUP ... 0``), which
  matters when a worker restarts under the same consumer name, then reads new entries
  (``XREADGROUP ... >``).
* A handler that raises leaves the entry pending. Once the entry has been idle for
  ``claim_idle_ms`` any consumer (this one included) takes it over with ``XAUTOCLAIM`` and
  runs it again; the same mechanism rescues entries a dead consumer left behind. The idle
  time thus doubles as the retry delay.
* When a delivery fails and the entry has been delivered ``max_deliveries`` times, or an
  entry arrives having been delivered more often than that (its worker kept dying
  mid-job), it is copied to the dead-letter stream with its original id, kind, payload
  and last error, then acknowledged. Entries of an unknown kind or with an unreadable
  payload are dead-lettered at once.
* ``dead_letters`` lists dead letters and ``replay_dead_letter`` re-enqueues one.

Trimming the job stream does not clear pending lists: an entry trimmed away while pending
comes back with no fields (or in XAUTOCLAIM's list of deleted ids) and is simply
acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from workers.keys import DEAD_LETTER_STREAM, JOBS_GROUP, JOBS_STREAM

log = logging.getLogger(__name__)

# Approximate caps (``MAXLEN ~``); generous so that a backlog is never trimmed in practice.
JOBS_MAXLEN = 1_000_000
DEAD_LETTER_MAXLEN = 100_000
# The payload field carrying a job's Neo4j bookmarks (``enqueue``).
BOOKMARKS = "bookmarks"
# Longest error text kept in a dead letter.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery of a queued job."""

    id: str
    kind: str
    payload: dict[str, Any]
    deliveries: int


Handler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job that was given up on, as stored in the dead-letter stream."""

    id: str  # id in the dead-letter stream (what replay_dead_letter takes)
    original_id: str  # id the job had in the job stream
    kind: str
    payload: str  # the raw JSON text, kept verbatim even if it does not parse
    error: str
    deliveries: int
    failed_at_ms: int
    consumer: str


class UnknownDeadLetter(LookupError):
    """``replay_dead_letter`` was given an id that is not in the dead-letter stream."""


async def enqueue(
    redis: aioredis.Redis,
    kind: str,
    payload: Mapping[str, Any],
    *,
    stream: str = JOBS_STREAM,
    bookmarks: Sequence[str] = (),
) -> str:
    """Append a job and return its stream id. ``payload`` must be JSON-serialisable.

    ``bookmarks``: Neo4j bookmarks of the write the job is about; the worker follows them
    before it runs the job, so on a Neo4j cluster its reads see that write."""
    if not kind:
        raise ValueError("job kind must not be empty")
    content = dict(payload)
    if bookmarks:
        content[BOOKMARKS] = list(bookmarks)
    body = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    entry_id = await redis.xadd(
        stream,
        {"kind": kind, "payload": body},
        maxlen=JOBS_MAXLEN,
        approximate=True,
    )
    return _text(entry_id)


async def ensure_group(
    redis: aioredis.Redis, *, stream: str = JOBS_STREAM, group: str = JOBS_GROUP
) -> None:
    """Create the consumer group (and the stream) unless it already exists.

    A new group starts at ``0`` so that jobs enqueued before any worker ever ran are
    processed too.
    """
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _stream_entries(reply: Any, stream: str) -> list[tuple[str, dict[str, str] | None]]:
    """Normalise an XREADGROUP reply (RESP2 list or RESP3 map) to ``[(id, fields)]``."""
    if not reply:
        return []
    if isinstance(reply, Mapping):
        groups: list[Any] = [reply.get(stream) or []]
    else:
        groups = [entries for name, entries in reply if name == stream]
    out: list[tuple[str, dict[str, str] | None]] = []
    for group in groups:
        # RESP3 wraps the entry list in one more list.
        items = group[0] if group and isinstance(group[0], list) else group
        for entry_id, fields in items:
            out.append((_text(entry_id), _fields(fields) if fields else None))
    return out


def _text(value: Any) -> str:
    """A reply value as ``str`` (the client decodes responses; this keeps mypy honest)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (raw or {}).items()}


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class Consumer:
    """Reads the job stream as one named member of a consumer group.

    ``run_once`` processes at most one batch and is what tests drive; the worker process
    calls it in a loop (see ``workers.runner``). Up to ``concurrency`` jobs of a batch
    are handled at once (a fan-out waits on Redis most of the time; while one waits the
    next builds its commands); jobs are not ordered anyway once two workers share the
    stream. Run more worker processes to use more cores.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        handlers: Mapping[str, Handler],
        consumer: str,
        *,
        stream: str = JOBS_STREAM,
        group: str = JOBS_GROUP,
        dead_letter_stream: str = DEAD_LETTER_STREAM,
        batch_size: int = 32,
        block_ms: int = 2000,
        max_deliveries: int = 5,
        claim_idle_ms: int = 30_000,
        concurrency: int = 1,
    ) -> None:
        limits = (batch_size, max_deliveries, concurrency)
        if min(limits) < 1 or block_ms < 0 or claim_idle_ms < 0:
            raise ValueError("invalid consumer limits")
        self.redis = redis
        self.handlers = dict(handlers)
        self.name = consumer
        self.stream = stream
        self.group = group
        self.dead_letter_stream = dead_letter_stream
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.max_deliveries = max_deliveries
        self.claim_idle_ms = claim_idle_ms
        self.concurrency = concurrency
        self._group_ready = False
        # Cursor through our own pending list; None once it has been drained.
        self._own_pending_cursor: str | None = "0"
        self._claim_cursor = "0-0"

    async def run_once(self) -> int:
        """Fetch and process one batch; return how many entries were dealt with.

        Order of sources: our own pending list (until drained), then entries other
        consumers (or we) left idle for ``claim_idle_ms``, then new entries, waiting up to
        ``block_ms`` for them only when there was nothing else to do.
        """
        if not self._group_ready:
            await ensure_group(self.redis, stream=self.stream, group=self.group)
            self._group_ready = True
        try:
            return await self._run_once()
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                # Stream or group vanished (FLUSHDB, a failover to an empty replica...).
                log.warning("consumer group %s on %s is gone; recreating", self.group, self.stream)
                self._group_ready = False
                self._own_pending_cursor = "0"
                self._claim_cursor = "0-0"
                return 0
            raise

    async def _run_once(self) -> int:
        if self._own_pending_cursor is not None:
            entries = await self._read(self._own_pending_cursor, block=None)
            if entries:
                self._own_pending_cursor = entries[-1][0]
                deliveries = await self._delivery_counts([e[0] for e in entries])
                await self._process(entries, deliveries)
                return len(entries)
            self._own_pending_cursor = None

        claimed = await self._autoclaim()
        if claimed:
            deliveries = await self._delivery_counts([e[0] for e in claimed])
            await self._process(claimed, deliveries)
            return len(claimed)

        entries = await self._read(">", block=self.block_ms)
        # A fresh entry has been delivered exactly once: no need to ask.
        await self._process(entries, dict.fromkeys((e[0] for e in entries), 1))
        return len(entries)

    async def _read(
        self, start: str, *, block: int | None
    ) -> list[tuple[str, dict[str, str] | None]]:
        reply = await self.redis.xreadgroup(
            self.group,
            self.name,
            {self.stream: start},
            count=self.batch_size,
            block=block,
        )
        return _stream_entries(reply, self.stream)

    async def _autoclaim(self) -> list[tuple[str, dict[str, str] | None]]:
        reply = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch_size,
        )
        next_cursor, raw_entries = str(reply[0]), reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        self._claim_cursor = next_cursor
        if deleted:
            # Redis 7 already dropped these from the pending list.
            log.warning("%d pending jobs were trimmed before they were handled", len(deleted))
        entries: list[tuple[str, dict[str, str] | None]] = []
        for entry_id, fields in raw_entries:
            entries.append((_text(entry_id), _fields(fields) if fields else None))
        if entries:
            log.info("claimed %d idle jobs from %s", len(entries), self.stream)
        return entries

    async def _delivery_counts(self, ids: Sequence[str]) -> dict[str, int]:
        """Delivery counters from XPENDING, one pipelined round trip for the batch."""
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(self.stream, self.group, entry_id, entry_id, 1)
        replies = await pipe.execute()
        counts: dict[str, int] = {}
        for entry_id, rows in zip(ids, replies, strict=True):
            # Absent means someone else acked it meanwhile; treat as a first delivery.
            counts[entry_id] = int(rows[0]["times_delivered"]) if rows else 1
        return counts

    async def _process(
        self,
        entries: Sequence[tuple[str, dict[str, str] | None]],
        deliveries: Mapping[str, int],
    ) -> None:
        if self.concurrency == 1 or len(entries) == 1:
            for entry_id, fields in entries:
                await self._process_one(entry_id, fields, deliveries.get(entry_id, 1))
            return
        slots = asyncio.Semaphore(self.concurrency)

        async def one(entry_id: str, fields: dict[str, str] | None) -> None:
            async with slots:
                await self._process_one(entry_id, fields, deliveries.get(entry_id, 1))

        # Every job runs to its end (a handler's failure is dealt with inside); what
        # escapes is Redis failing, raised once they are all done: no job is left running.
        results = await asyncio.gather(
            *(one(entry_id, fields) for entry_id, fields in entries), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _process_one(
        self, entry_id: str, fields: dict[str, str] | None, deliveries: int
    ) -> None:
        if fields is None:
            log.warning("job %s was trimmed from %s while pending; dropping", entry_id, self.stream)
            await self.redis.xack(self.stream, self.group, entry_id)
            return
        kind = fields.get("kind", "")
        raw_payload = fields.get("payload", "")

        if deliveries > self.max_deliveries:
            await self._dead_letter(
                entry_id,
                kind,
                raw_payload,
                f"gave up after {deliveries - 1} deliveries without an acknowledgement "
                "(the worker died or was stopped while handling it)",
                deliveries,
            )
            return
        handler = self.handlers.get(kind)
        if handler is None:
            await self._dead_letter(entry_id, kind, raw_payload, "unknown kind", deliveries)
            return
        try:
            payload = json.loads(raw_payload)
            if not isinstance(payload, dict):
                raise ValueError("payload is not a JSON object")
        except ValueError as exc:
            await self._dead_letter(
                entry_id, kind, raw_payload, f"malformed payload: {exc}", deliveries
            )
            return

        job = Job(id=entry_id, kind=kind, payload=payload, deliveries=deliveries)
        try:
            await handler(job)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if deliveries >= self.max_deliveries:
                log.error("job %s (%s) failed for good: %s", entry_id, kind, error)
                await self._dead_letter(entry_id, kind, raw_payload, error, deliveries)
            else:
                log.warning(
                    "job %s (%s) failed on delivery %d/%d, will retry: %s",
                    entry_id,
                    kind,
                    deliveries,
                    self.max_deliveries,
                    error,
                    exc_info=True,
                )
            return
        await self.redis.xack(self.stream, self.group, entry_id)

    async def _dead_letter(
        self, entry_id: str, kind: str, raw_payload: str, error: str, deliveries: int
    ) -> None:
        # Not one transaction: the two streams may live in different cluster slots. Should
        # we die in between, the entry is delivered again and dead-lettered a second time,
        # which is the at-least-once contract.
        await self.redis.xadd(
            self.dead_letter_stream,
            {
                "original_id": entry_id,
                "kind": kind,
                "payload": raw_payload,
                "error": _truncate(error),
                "deliveries": str(deliveries),
                "failed_at_ms": str(int(time.time() * 1000)),
                "consumer": self.name,
            },
            maxlen=DEAD_LETTER_MAXLEN,
            approximate=True,
        )
        await self.redis.xack(self.stream, self.group, entry_id)
        log.error("job %s (%s) dead-lettered: %s", entry_id, kind or "?", error)

    async def pending_count(self) -> int:
        """How many entries this consumer holds unacknowledged."""
        summary = await self.redis.xpending(self.stream, self.group)
        for row in summary.get("consumers") or []:
            if row["name"] == self.name:
                return int(row["pending"])
        return 0

    async def retire(self) -> bool:
        """Remove this consumer from the group if it holds no pending entries.

        Consumer names include the pid, so without this every restart would leave a stale
        member behind. A consumer with pending entries is kept: deleting it would drop
        those entries from the group's pending list.
        """
        if await self.pending_count():
            return False
        await self.redis.xgroup_delconsumer(self.stream, self.group, self.name)
        return True


def _dead_letter_from_fields(entry_id: str, fields: Mapping[str, str]) -> DeadLetter:
    return DeadLetter(
        id=entry_id,
        original_id=fields.get("original_id", ""),
        kind=fields.get("kind", ""),
        payload=fields.get("payload", ""),
        error=fields.get("error", ""),
        deliveries=int(fields.get("deliveries") or 0),
        failed_at_ms=int(fields.get("failed_at_ms") or 0),
        consumer=fields.get("consumer", ""),
    )


async def dead_letters(
    redis: aioredis.Redis,
    count: int = 100,
    *,
    dead_letter_stream: str = DEAD_LETTER_STREAM,
) -> list[DeadLetter]:
    """The oldest ``count`` dead letters, oldest first."""
    rows = await redis.xrange(dead_letter_stream, "-", "+", count=count) or []
    return [_dead_letter_from_fields(_text(entry_id), _fields(raw)) for entry_id, raw in rows]


async def replay_dead_letter(
    redis: aioredis.Redis,
    dead_letter_id: str,
    *,
    stream: str = JOBS_STREAM,
    dead_letter_stream: str = DEAD_LETTER_STREAM,
) -> str:
    """Re-enqueue a dead letter (as a new job) and delete it; return the new job id.

    The payload goes back verbatim, so a dead letter with a malformed payload fails the
    same way again. Raises :class:`UnknownDeadLetter` if the id is not there.
    """
    rows = await redis.xrange(dead_letter_stream, dead_letter_id, dead_letter_id, count=1)
    if not rows:
        raise UnknownDeadLetter(dead_letter_id)
    fields = _fields(rows[0][1])
    new_id = await redis.xadd(
        stream,
        {"kind": fields.get("kind", ""), "payload": fields.get("payload", "")},
        maxlen=JOBS_MAXLEN,
        approximate=True,
    )
    await redis.xdel(dead_letter_stream, dead_letter_id)
    return _text(new_id)
