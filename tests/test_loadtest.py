"""The load harness end to end, briefly: a seeded world, a worker, one API process and a
few seconds of locust after its warm-up (short runs until two agree on req/s: on a
freshly started Neo4j the first seconds answer only a handful of requests); it must
produce a row per operation with zero failures. On one Redis it runs the first one-Redis
row; run on a cluster (``make test-cluster``) it runs the first cluster row, the stack's
cluster as its cluster. (What it measures is reported by ``make load``; nothing here is
timed.)"""

from __future__ import annotations

import argparse
from pathlib import Path

from api.settings import Settings
from bench import loadtest
from tests.conftest import free_port


async def test_load_harness_produces_rows_without_errors(
    settings: Settings, clean: None, tmp_path: Path
) -> None:
    out = tmp_path / "load.md"
    row = next(
        n
        for n, config in enumerate(loadtest.CONFIGS, start=1)
        if config.cluster == settings.redis_cluster and config.api_processes == 1
    )
    args = argparse.Namespace(
        users=300,
        circles=30,
        seed=5,
        locust_users=8,
        spawn_rate=8.0,
        run_time=8,
        warmup=4,
        iterations=400,
        configs=[row],
        cluster_redis_url=settings.redis_url if settings.redis_cluster else None,
        port=free_port(),
        out=str(out),
    )
    result = await loadtest._main(args)
    rows = result["results"][loadtest.CONFIGS[row - 1].label]
    total = rows["Aggregated"]
    assert total["requests"] > 0
    assert total["failures"] == 0, rows
    # the mix reached the reads and the writes
    assert rows["homeFeed"]["requests"] > 0
    assert any(rows.get(op, {}).get("requests", 0) > 0 for op in ("createPost", "joinCircle"))
    text = out.read_text()
    assert "`homeFeed`" in text and "**all**" in text
