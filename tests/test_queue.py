"""The durable job queue, against a real Redis (QUANZI_REDIS_URL).

Every test uses its own stream, group and dead-letter stream names, so tests never see
each other's jobs and never touch the real ``qz:jobs`` stream.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from api.settings import get_settings
from workers.queue import (
    Consumer,
    Handler,
    Job,
    UnknownDeadLetter,
    dead_letters,
    enqueue,
    replay_dead_letter,
)
from workers.redis import open_redis
from workers.runner import consume_until_stopped

BLOCK_MS = 10
CLAIM_IDLE_MS = 50


@dataclass
class Names:
    stream: str
    group: str
    dead: str


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = open_redis(get_settings())
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem
        await client.aclose()
        pytest.fail(f"no Redis at {get_settings().redis_url}: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def names(redis: aioredis.Redis) -> AsyncIterator[Names]:
    tag = uuid.uuid4().hex[:12]
    n = Names(stream=f"test:jobs:{tag}", group=f"g-{tag}", dead=f"test:jobs:{tag}:dead")
    yield n
    await redis.delete(n.stream, n.dead)


def make_consumer(
    redis: aioredis.Redis,
    names: Names,
    handlers: dict[str, Handler],
    name: str = "c1",
    **limits: Any,
) -> Consumer:
    limits.setdefault("block_ms", BLOCK_MS)
    limits.setdefault("claim_idle_ms", CLAIM_IDLE_MS)
    return Consumer(
        redis,
        handlers,
        name,
        stream=names.stream,
        group=names.group,
        dead_letter_stream=names.dead,
        **limits,
    )


def recorder(
    fail_times: int = 0, error: Exception | None = None
) -> tuple[list[Job], Callable[[Job], Awaitable[None]]]:
    """A handler that records every call and raises on the first ``fail_times`` calls."""
    calls: list[Job] = []

    async def handle(job: Job) -> None:
        calls.append(job)
        if len(calls) <= fail_times:
            raise error or RuntimeError(f"boom {len(calls)}")

    return calls, handle


async def pending(redis: aioredis.Redis, names: Names) -> int:
    summary = await redis.xpending(names.stream, names.group)
    return int(summary["pending"])


async def run_until(consumer: Consumer, done: Callable[[], Awaitable[bool]]) -> None:
    """Drive ``run_once`` until ``done()``; sleeps let pending entries become claimable."""
    async with asyncio.timeout(5):
        while not await done():
            if await consumer.run_once() == 0:
                await asyncio.sleep(CLAIM_IDLE_MS / 1000 / 2)


async def test_job_is_handled_and_acked_exactly_once(redis: aioredis.Redis, names: Names) -> None:
    calls, handle = recorder()
    consumer = make_consumer(redis, names, {"greet": handle})
    job_id = await enqueue(redis, "greet", {"who": "小明", "n": 1}, stream=names.stream)

    assert await consumer.run_once() == 1
    assert [(j.id, j.kind, j.payload, j.deliveries) for j in calls] == [
        (job_id, "greet", {"who": "小明", "n": 1}, 1)
    ]
    assert await pending(redis, names) == 0

    # Nothing more to do, even once the claim idle time has passed.
    await asyncio.sleep(CLAIM_IDLE_MS * 2 / 1000)
    assert await consumer.run_once() == 0
    assert await consumer.run_once() == 0
    assert len(calls) == 1
    assert await dead_letters(redis, dead_letter_stream=names.dead) == []


async def test_jobs_enqueued_before_the_group_existed_are_processed(
    redis: aioredis.Redis, names: Names
) -> None:
    calls, handle = recorder()
    for i in range(5):
        await enqueue(redis, "greet", {"i": i}, stream=names.stream)
    consumer = make_consumer(redis, names, {"greet": handle}, batch_size=2)

    async def all_done() -> bool:
        return len(calls) == 5

    await run_until(consumer, all_done)
    assert [j.payload["i"] for j in calls] == [0, 1, 2, 3, 4]
    assert await pending(redis, names) == 0


async def test_failing_handler_leaves_job_pending_and_it_is_retried(
    redis: aioredis.Redis, names: Names
) -> None:
    calls, handle = recorder(fail_times=1)
    consumer = make_consumer(redis, names, {"flaky": handle})
    job_id = await enqueue(redis, "flaky", {"x": 1}, stream=names.stream)

    assert await consumer.run_once() == 1
    assert len(calls) == 1
    assert await pending(redis, names) == 1  # not acked after the failure

    async def succeeded() -> bool:
        return len(calls) == 2

    await run_until(consumer, succeeded)
    assert [(j.id, j.deliveries) for j in calls] == [(job_id, 1), (job_id, 2)]
    assert await pending(redis, names) == 0
    assert await dead_letters(redis, dead_letter_stream=names.dead) == []


async def test_jobs_of_a_batch_run_concurrently_up_to_the_limit(
    redis: aioredis.Redis, names: Names
) -> None:
    running, most = 0, 0
    handled: list[int] = []

    async def slow(job: Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        handled.append(job.payload["i"])

    for i in range(7):
        await enqueue(redis, "slow", {"i": i}, stream=names.stream)
    consumer = make_consumer(redis, names, {"slow": slow}, batch_size=10, concurrency=3)

    assert await consumer.run_once() == 7
    assert most == 3
    assert sorted(handled) == list(range(7))
    assert await pending(redis, names) == 0


async def test_one_job_failing_among_concurrent_ones_is_retried_alone(
    redis: aioredis.Redis, names: Names
) -> None:
    calls: list[Job] = []

    async def handle(job: Job) -> None:
        calls.append(job)
        await asyncio.sleep(0.01)
        if job.payload["i"] == 2 and job.deliveries == 1:
            raise RuntimeError("boom")

    for i in range(4):
        await enqueue(redis, "mixed", {"i": i}, stream=names.stream)
    consumer = make_consumer(redis, names, {"mixed": handle}, batch_size=10, concurrency=4)

    assert await consumer.run_once() == 4
    assert await pending(redis, names) == 1  # only the failed one waits

    async def retried() -> bool:
        return len(calls) == 5

    await run_until(consumer, retried)
    assert [(j.payload["i"], j.deliveries) for j in calls[4:]] == [(2, 2)]
    assert await pending(redis, names) == 0


async def test_concurrency_below_one_is_refused(redis: aioredis.Redis, names: Names) -> None:
    with pytest.raises(ValueError, match="invalid consumer limits"):
        make_consumer(redis, names, {}, concurrency=0)


async def test_job_is_dead_lettered_after_max_deliveries(
    redis: aioredis.Redis, names: Names
) -> None:
    calls, handle = recorder(fail_times=100, error=ValueError("database on fire"))
    consumer = make_consumer(redis, names, {"doomed": handle}, max_deliveries=3)
    job_id = await enqueue(redis, "doomed", {"post": "p1"}, stream=names.stream)

    async def dead() -> bool:
        return bool(await dead_letters(redis, dead_letter_stream=names.dead))

    await run_until(consumer, dead)
    assert [j.deliveries for j in calls] == [1, 2, 3]
    assert await pending(redis, names) == 0  # acked once dead-lettered

    (letter,) = await dead_letters(redis, dead_letter_stream=names.dead)
    assert letter.original_id == job_id
    assert letter.kind == "doomed"
    assert letter.payload == '{"post":"p1"}'
    assert letter.error == "ValueError: database on fire"
    assert letter.deliveries == 3
    assert letter.consumer == "c1"
    assert letter.failed_at_ms > 0

    # And it stays dead.
    await asyncio.sleep(CLAIM_IDLE_MS * 2 / 1000)
    assert await consumer.run_once() == 0
    assert len(calls) == 3


async def test_entries_of_a_dead_consumer_are_reclaimed(
    redis: aioredis.Redis, names: Names
) -> None:
    calls, handle = recorder()
    survivor = make_consumer(redis, names, {"fanout": handle}, name="survivor")
    await survivor.run_once()  # creates the group; nothing to do yet
    first = await enqueue(redis, "fanout", {"n": 1}, stream=names.stream)
    second = await enqueue(redis, "fanout", {"n": 2}, stream=names.stream)

    # Another worker reads both jobs, then dies without acknowledging them.
    taken = await redis.xreadgroup(names.group, "doomed-worker", {names.stream: ">"}, count=10)
    assert taken
    assert await pending(redis, names) == 2

    # Not yet idle long enough: the survivor leaves them alone.
    assert await survivor.run_once() == 0
    assert calls == []

    async def both_done() -> bool:
        return len(calls) == 2

    await run_until(survivor, both_done)
    assert [(j.id, j.payload, j.deliveries) for j in calls] == [
        (first, {"n": 1}, 2),
        (second, {"n": 2}, 2),
    ]
    assert await pending(redis, names) == 0


async def test_restarted_consumer_first_drains_its_own_pending_list(
    redis: aioredis.Redis, names: Names
) -> None:
    calls, handle = recorder()
    await make_consumer(redis, names, {}, name="w1").run_once()  # create the group
    job_id = await enqueue(redis, "fanout", {"n": 1}, stream=names.stream)
    # "w1" reads the job and crashes before acknowledging it.
    await redis.xreadgroup(names.group, "w1", {names.stream: ">"}, count=10)

    # Same name after the restart; claiming is far off, so only the pending read can help.
    restarted = make_consumer(redis, names, {"fanout": handle}, name="w1", claim_idle_ms=60_000)
    assert await restarted.run_once() == 1
    assert [(j.id, j.deliveries) for j in calls] == [(job_id, 2)]
    assert await pending(redis, names) == 0


async def test_entry_redelivered_too_often_is_dead_lettered_without_running(
    redis: aioredis.Redis, names: Names
) -> None:
    calls, handle = recorder()
    consumer = make_consumer(redis, names, {"crashy": handle}, name="c2", max_deliveries=1)
    await consumer.run_once()
    job_id = await enqueue(redis, "crashy", {}, stream=names.stream)
    await redis.xreadgroup(names.group, "crashed", {names.stream: ">"}, count=10)

    async def dead() -> bool:
        return bool(await dead_letters(redis, dead_letter_stream=names.dead))

    await run_until(consumer, dead)
    assert calls == []
    (letter,) = await dead_letters(redis, dead_letter_stream=names.dead)
    assert letter.original_id == job_id
    assert letter.deliveries == 2
    assert "without an acknowledgement" in letter.error
    assert await pending(redis, names) == 0


async def test_unknown_kind_is_dead_lettered_immediately(
    redis: aioredis.Redis, names: Names
) -> None:
    consumer = make_consumer(redis, names, {})
    job_id = await enqueue(redis, "no.such.kind", {"a": [1, 2]}, stream=names.stream)

    assert await consumer.run_once() == 1
    (letter,) = await dead_letters(redis, dead_letter_stream=names.dead)
    assert (letter.original_id, letter.kind, letter.error, letter.deliveries) == (
        job_id,
        "no.such.kind",
        "unknown kind",
        1,
    )
    assert letter.payload == '{"a":[1,2]}'
    assert await pending(redis, names) == 0


async def test_malformed_payload_is_dead_lettered(redis: aioredis.Redis, names: Names) -> None:
    calls, handle = recorder()
    consumer = make_consumer(redis, names, {"greet": handle})
    await redis.xadd(names.stream, {"kind": "greet", "payload": "{not json"})

    assert await consumer.run_once() == 1
    assert calls == []
    (letter,) = await dead_letters(redis, dead_letter_stream=names.dead)
    assert letter.payload == "{not json"
    assert letter.error.startswith("malformed payload")
    assert await pending(redis, names) == 0


async def test_replay_moves_a_dead_letter_back_to_the_queue(
    redis: aioredis.Redis, names: Names
) -> None:
    handlers: dict[str, Handler] = {}
    consumer = make_consumer(redis, names, handlers)
    original = await enqueue(redis, "later", {"k": "v"}, stream=names.stream)
    await consumer.run_once()
    (letter,) = await dead_letters(redis, dead_letter_stream=names.dead)

    # The kind gets a handler (say, after a deploy); replay the dead letter.
    calls, handle = recorder()
    consumer.handlers["later"] = handle
    new_id = await replay_dead_letter(
        redis, letter.id, stream=names.stream, dead_letter_stream=names.dead
    )
    assert new_id != original
    assert await dead_letters(redis, dead_letter_stream=names.dead) == []

    assert await consumer.run_once() == 1
    assert [(j.id, j.kind, j.payload) for j in calls] == [(new_id, "later", {"k": "v"})]
    assert await pending(redis, names) == 0

    with pytest.raises(UnknownDeadLetter):
        await replay_dead_letter(
            redis, letter.id, stream=names.stream, dead_letter_stream=names.dead
        )


async def test_pending_entry_trimmed_away_is_acknowledged(
    redis: aioredis.Redis, names: Names
) -> None:
    calls, handle = recorder()
    await make_consumer(redis, names, {}, name="w1").run_once()
    await enqueue(redis, "greet", {}, stream=names.stream)
    await redis.xreadgroup(names.group, "w1", {names.stream: ">"}, count=10)
    await redis.xtrim(names.stream, maxlen=0)

    restarted = make_consumer(redis, names, {"greet": handle}, name="w1")
    assert await restarted.run_once() == 1
    assert calls == []
    assert await pending(redis, names) == 0


async def test_retire_only_when_nothing_is_pending(redis: aioredis.Redis, names: Names) -> None:
    _calls, handle = recorder(fail_times=1)
    consumer = make_consumer(redis, names, {"flaky": handle}, claim_idle_ms=60_000)
    await enqueue(redis, "flaky", {}, stream=names.stream)
    await consumer.run_once()
    assert await consumer.retire() is False  # would lose the pending entry

    other = make_consumer(redis, names, {"flaky": handle}, name="c-other", claim_idle_ms=0)
    await other.run_once()
    assert await pending(redis, names) == 0
    assert await consumer.retire() is True
    rows = await redis.xinfo_consumers(names.stream, names.group)
    assert [r["name"] for r in rows] == ["c-other"]


async def test_loop_stops_on_request_after_finishing_its_batch(
    redis: aioredis.Redis, names: Names
) -> None:
    stop = asyncio.Event()
    seen: list[int] = []

    async def handle(job: Job) -> None:
        seen.append(job.payload["i"])
        if len(seen) == 1:
            stop.set()  # asked to stop in the middle of a batch
        await asyncio.sleep(0)

    consumer = make_consumer(redis, names, {"n": handle}, batch_size=3)
    for i in range(6):
        await enqueue(redis, "n", {"i": i}, stream=names.stream)
    await asyncio.wait_for(consume_until_stopped(consumer, stop), timeout=5)
    assert seen == [0, 1, 2]  # the batch was finished, the next one not started
    assert await pending(redis, names) == 0


async def test_loop_survives_redis_being_unreachable() -> None:
    settings = get_settings().model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    client = open_redis(settings)
    consumer = Consumer(client, {}, "lonely", stream="test:unreachable", block_ms=BLOCK_MS)
    stop = asyncio.Event()
    task = asyncio.create_task(consume_until_stopped(consumer, stop))
    try:
        await asyncio.sleep(0.3)
        assert not task.done()  # still retrying, not crashed
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    finally:
        await client.aclose()
