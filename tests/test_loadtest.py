"""The load harness end to end, briefly: a seeded world, a worker, one API process and a
few seconds of locust; it must produce a row per operation with zero failures. (What it
measures is reported by ``make load``; nothing here is timed.)"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import loadtest
from tests.conftest import free_port


async def test_load_harness_produces_rows_without_errors(clean: None, tmp_path: Path) -> None:
    out = tmp_path / "load.md"
    args = argparse.Namespace(
        users=300,
        circles=30,
        seed=5,
        locust_users=8,
        spawn_rate=8.0,
        run_time=8,
        iterations=400,
        configs=1,
        port=free_port(),
        out=str(out),
    )
    result = await loadtest._main(args)
    rows = result["results"][loadtest.CONFIGS[0].label]
    total = rows["Aggregated"]
    assert total["requests"] > 0
    assert total["failures"] == 0, rows
    # the mix reached the reads and the writes
    assert rows["homeFeed"]["requests"] > 0
    assert any(rows.get(op, {}).get("requests", 0) > 0 for op in ("createPost", "joinCircle"))
    text = out.read_text()
    assert "`homeFeed`" in text and "**all**" in text
