"""Time ``quanzi import`` on a directory of CSVs: rows/s and relationships/s per file.

    python -m bench.import_rate DIR [--batch-size N] [--runs 2]

Runs the same code as the command (``graph.imports.import_directory``) against the
configured Neo4j (``QUANZI_NEO4J_URI``; use a throwaway stack), prints one line per file
and the total. ``--runs 2`` imports twice: the second run measures the idempotent re-run
(everything already there). Generate a dataset with
``python -m bench.socialgen --users 100000 --out DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from api.settings import get_settings
from graph.driver import connect
from graph.imports import DEFAULT_BATCH_SIZE, FileReport, import_directory


def show(report: FileReport) -> None:
    print(
        f"  {report.name:<16} {report.rows:>10,} rows {report.seconds:>8.1f}s "
        f"{report.rows_per_second:>10,.0f} rows/s  {report.created:>10,} {report.what} new "
        f"({report.created_per_second:,.0f}/s)",
        flush=True,
    )


async def run(directory: Path, batch_size: int, runs: int, progress: bool) -> None:
    settings = get_settings()
    async with connect(settings) as graph:
        for attempt in range(1, runs + 1):
            print(f"run {attempt} (batch size {batch_size}):", flush=True)
            started = time.perf_counter()
            reports = await import_directory(
                graph,
                directory,
                pepper=settings.pepper,
                default_trust_score=settings.default_trust_score,
                batch_size=batch_size,
                progress=progress,
                on_file=show,
            )
            seconds = time.perf_counter() - started
            rows = sum(r.rows for r in reports)
            rels = sum(r.created for r in reports if r.what == "relationships")
            print(
                f"  total            {rows:>10,} rows {seconds:>8.1f}s "
                f"{rows / seconds:>10,.0f} rows/s  {rels:>10,} relationships new",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--progress", action="store_true", help="tqdm bars on stderr")
    args = parser.parse_args()
    asyncio.run(run(args.directory, args.batch_size, args.runs, args.progress))


if __name__ == "__main__":
    main()
