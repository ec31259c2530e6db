"""Platform events: payments and visits streamed in through Redis, written to the graph.

Format. The platform appends one entry per event to the stream ``qz:events``
(``keys.EVENTS_STREAM``) with flat string fields::

    XADD qz:events * type payment from <platform user id> to <platform user id> at <time>
    XADD qz:events * type visit user <platform user id> merchant <platform merchant id> at <time>

``at`` is ISO-8601 with a UTC offset (``2024-05-01T12:00:00+08:00`` or ``...Z``); it is
stored normalised to UTC and identifies the event, so sending the same event twice
records it once. A payment to oneself is invalid.

Processing. Workers read the stream as the consumer group ``ingest``
(``keys.EVENTS_GROUP``) with the same machinery as the job queue (``workers.queue``):
delivery at least once, acknowledgement after the write, idle entries reclaimed. A batch
of entries is recorded by one action (``actions.interactions.record_interactions``, the
same as ``adminRecordInteractions``), in one transaction. Then:

* an invalid entry (unknown type, missing or malformed field, naive time, self-payment)
  is moved at once to the dead-letter stream ``qz:events:dead`` with the reason;
* an entry naming a user or merchant that does not exist (yet) is left pending and tried
  again after ``claim_idle_ms`` (the platform may provision the user a moment later);
  after ``max_deliveries`` attempts it is dead-lettered too;
* if the graph write itself fails, the whole batch stays pending and is retried the same
  way.

A dead letter keeps the event's fields as JSON in ``payload`` and its type in ``kind``;
``replay_dead_event`` puts one back on the stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from actions.interactions import record_interactions
from graph import interactions
from graph.errors import Problem
from workers import keys
from workers.queue import Consumer, UnknownDeadLetter
from workers.services import Services

log = logging.getLogger(__name__)

# Ask for keys.py to own this name; derived from the events stream until then.
EVENTS_DEAD_LETTER_STREAM = keys.EVENTS_DEAD_LETTER_STREAM
EVENTS_MAXLEN = 1_000_000

PAYMENT, VISIT = "payment", "visit"


class BadEvent(ValueError):
    """The entry can never be recorded as it is."""


@dataclass(frozen=True, slots=True)
class _Parsed:
    entry_id: str
    event: interactions.Payment | interactions.Visit


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadEvent(f"at {text!r} is not an ISO-8601 time") from None


def _field(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None or not value.strip():
        raise BadEvent(f"missing field {name!r}")
    return value.strip()


def _check(problems: Sequence[Problem]) -> None:
    if problems:
        raise BadEvent("; ".join(p.message for p in problems))


def parse_event(fields: Mapping[str, str]) -> interactions.Payment | interactions.Visit:
    """One stream entry as a payment or a visit; :class:`BadEvent` when it cannot be."""
    kind = fields.get("type", "")
    if kind == PAYMENT:
        payment = interactions.Payment(
            _field(fields, "from"), _field(fields, "to"), _time(_field(fields, "at"))
        )
        _check(interactions.payment_problems(payment))
        return payment
    if kind == VISIT:
        visit = interactions.Visit(
            _field(fields, "user"), _field(fields, "merchant"), _time(_field(fields, "at"))
        )
        _check(interactions.visit_problems(visit))
        return visit
    raise BadEvent(f"unknown event type {kind!r}")


async def publish_event(redis: aioredis.Redis, fields: Mapping[str, str]) -> str:
    """Append an event the way the platform does (tests, tools, replays)."""
    body: dict[FieldT, EncodableT] = dict(fields.items())
    entry_id = await redis.xadd(keys.EVENTS_STREAM, body, maxlen=EVENTS_MAXLEN, approximate=True)
    return str(entry_id)


class EventConsumer(Consumer):
    """A :class:`Consumer` of the events stream that writes each batch in bulk.

    Reuses the job consumer's reading, reclaiming, delivery counting and dead-lettering;
    only the processing of a batch differs (entries carry event fields, not jobs).
    """

    def __init__(
        self,
        services: Services,
        consumer: str,
        *,
        stream: str = keys.EVENTS_STREAM,
        group: str = keys.EVENTS_GROUP,
        dead_letter_stream: str = EVENTS_DEAD_LETTER_STREAM,
        batch_size: int = 500,
        block_ms: int = 2000,
        max_deliveries: int = 5,
        claim_idle_ms: int = 30_000,
    ) -> None:
        super().__init__(
            services.redis,
            {},
            consumer,
            stream=stream,
            group=group,
            dead_letter_stream=dead_letter_stream,
            batch_size=batch_size,
            block_ms=block_ms,
            max_deliveries=max_deliveries,
            claim_idle_ms=claim_idle_ms,
        )
        self.services = services

    async def _process(
        self,
        entries: Sequence[tuple[str, dict[str, str] | None]],
        deliveries: Mapping[str, int],
    ) -> None:
        done: list[str] = []  # acknowledge these
        payments: list[_Parsed] = []
        visits: list[_Parsed] = []
        raw: dict[str, dict[str, str]] = {}
        for entry_id, fields in entries:
            if fields is None:  # trimmed while pending
                done.append(entry_id)
                continue
            raw[entry_id] = fields
            count = deliveries.get(entry_id, 1)
            if count > self.max_deliveries:
                await self._dead_event(
                    entry_id,
                    fields,
                    f"gave up after {count - 1} deliveries without an acknowledgement",
                    count,
                )
                continue
            try:
                event = parse_event(fields)
            except BadEvent as exc:
                await self._dead_event(entry_id, fields, f"invalid event: {exc}", count)
                continue
            target = payments if isinstance(event, interactions.Payment) else visits
            target.append(_Parsed(entry_id, event))

        if payments or visits:
            try:
                recorded = await record_interactions(
                    self.services,
                    [p.event for p in payments if isinstance(p.event, interactions.Payment)],
                    [v.event for v in visits if isinstance(v.event, interactions.Visit)],
                )
                paid, visited = recorded.payments, recorded.visits
            except Exception as exc:
                # Neo4j trouble: leave the batch pending; it is reclaimed later.
                error = f"{type(exc).__name__}: {exc}"
                log.warning("event batch failed, will retry: %s", error, exc_info=True)
                for parsed in (*payments, *visits):
                    count = deliveries.get(parsed.entry_id, 1)
                    if count >= self.max_deliveries:
                        await self._dead_event(parsed.entry_id, raw[parsed.entry_id], error, count)
                if done:
                    await self.redis.xack(self.stream, self.group, *done)
                return
            for group, result in ((payments, paid), (visits, visited)):
                for index, parsed in enumerate(group):
                    missing = result.unknown.get(index)
                    if missing is None:
                        done.append(parsed.entry_id)
                        continue
                    count = deliveries.get(parsed.entry_id, 1)
                    error = "unknown " + " and ".join(missing)
                    if count >= self.max_deliveries:
                        await self._dead_event(parsed.entry_id, raw[parsed.entry_id], error, count)
                    else:
                        log.info("event %s names an %s; will retry", parsed.entry_id, error)
        if done:
            await self.redis.xack(self.stream, self.group, *done)

    async def _dead_event(
        self, entry_id: str, fields: Mapping[str, str], error: str, deliveries: int
    ) -> None:
        payload = json.dumps(dict(fields), separators=(",", ":"), ensure_ascii=False)
        await self._dead_letter(entry_id, fields.get("type", ""), payload, error, deliveries)


async def replay_dead_event(
    redis: aioredis.Redis,
    dead_letter_id: str,
    *,
    stream: str = keys.EVENTS_STREAM,
    dead_letter_stream: str = EVENTS_DEAD_LETTER_STREAM,
) -> str:
    """Put a dead-lettered event back on the stream with its original fields; delete it."""
    rows = await redis.xrange(dead_letter_stream, dead_letter_id, dead_letter_id, count=1)
    if not rows:
        raise UnknownDeadLetter(dead_letter_id)
    fields = {str(k): str(v) for k, v in (rows[0][1] or {}).items()}
    try:
        original = json.loads(fields.get("payload", ""))
    except ValueError as exc:
        raise UnknownDeadLetter(f"{dead_letter_id} has no readable event") from exc
    new_id = await redis.xadd(
        stream,
        {str(k): str(v) for k, v in original.items()},
        maxlen=EVENTS_MAXLEN,
        approximate=True,
    )
    await redis.xdel(dead_letter_stream, dead_letter_id)
    return str(new_id)
