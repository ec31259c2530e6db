"""The ``quanzi`` command line: serve, worker, migrate, stack, token, schema, demo, feeds,
insights, queries."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pathlib
import sys

import click

from api.settings import Settings
from stack.commands import get_settings, stack


def freeze_startup_objects() -> None:
    """Keep what the process built at startup (modules, the schema) out of every later
    collection: a full collection walked it all, a pause of tens of milliseconds for
    every request in flight."""
    gc.collect()
    gc.freeze()


@click.group()
def main() -> None:
    """Quanzi: circles, people you may know and feeds."""


@main.command()
@click.option("--host", default=None, help="Bind address (default QUANZI_HOST).")
@click.option("--port", type=int, default=None, help="Port (default QUANZI_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the GraphQL API with uvicorn."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    app = create_app(settings)
    freeze_startup_objects()
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
    )


@main.command()
@click.option("--name", default=None, help="Consumer name (default: host and pid).")
def worker(name: str | None) -> None:
    """Run one background worker until interrupted."""
    from api.logs import configure
    from workers.runner import run_worker

    settings = get_settings()
    configure(settings)
    freeze_startup_objects()
    asyncio.run(run_worker(settings, consumer=name))


@main.command()
def migrate() -> None:
    """Apply Neo4j constraints and indexes (idempotent)."""
    from graph.driver import connect
    from graph.migrations import apply_migrations

    async def _run() -> list[str]:
        async with connect(get_settings()) as graph:
            return await apply_migrations(graph)

    applied = asyncio.run(_run())
    click.echo(f"migrations applied: {len(applied)} statements")


@main.command()
@click.argument("platform_user_id")
@click.option("--admin", is_flag=True, help="Add the admin role.")
@click.option("--ttl", type=int, default=24 * 3600, show_default=True, help="Seconds valid.")
def token(platform_user_id: str, admin: bool, ttl: int) -> None:
    """Mint a dev token signed with the configured secret."""
    from api.auth import mint_token

    click.echo(mint_token(get_settings(), platform_user_id, admin=admin, ttl_seconds=ttl))


@main.group()
def schema() -> None:
    """The GraphQL schema."""


@schema.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None)
def schema_export(output: str | None) -> None:
    """Print the SDL (or write it to a file)."""
    from schema.root import sdl

    text = sdl()
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


@main.command()
def demo() -> None:
    """Load the demo data (idempotent) and print a dev token for the demo user."""
    from actions.demo import load_demo
    from graph.demo import DEMO_USER_PLATFORM_ID
    from workers.services import open_services

    async def _run() -> None:
        async with open_services(get_settings()) as services:
            await load_demo(services)

    asyncio.run(_run())
    click.echo(f"demo data loaded; demo user: {DEMO_USER_PLATFORM_ID}")


def console_links(settings: Settings, base: str) -> str:
    """Links that sign the console in as the demo's merchant staff member and its
    moderator: the token rides in the fragment, which browsers never send to a server."""
    from api.auth import mint_token
    from graph.demo import DEMO_MODERATOR_PLATFORM_ID, DEMO_STAFF_PLATFORM_ID

    lines = ["Console (merchants and moderators), signed in as:"]
    for who, platform_id in (
        ("the merchants' staff member", DEMO_STAFF_PLATFORM_ID),
        ("the clinic circles' moderator", DEMO_MODERATOR_PLATFORM_ID),
    ):
        lines.append(
            f"  {who} ({platform_id}): {base}/console/#token={mint_token(settings, platform_id)}"
        )
    return "\n".join(lines)


@main.command()
def dev() -> None:
    """Run the API and one worker together; Ctrl-C stops both."""
    import signal
    import subprocess
    import time
    import urllib.request

    from api.auth import mint_token
    from graph.demo import DEMO_USER_PLATFORM_ID

    settings = get_settings()
    exe = [sys.executable, "-m", "api.cli"]
    procs = [subprocess.Popen([*exe, "serve"]), subprocess.Popen([*exe, "worker"])]
    base = f"http://{settings.host}:{settings.port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise click.ClickException("the API or the worker exited during start-up")
            try:
                with urllib.request.urlopen(f"{base}/livez", timeout=1):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.2)
        token = mint_token(settings, DEMO_USER_PLATFORM_ID)
        click.echo(
            f"\nGraphQL IDE: {base}/graphql\n"
            f"Dev token for the demo user ({DEMO_USER_PLATFORM_ID}):\n{token}\n"
            "Try { me { id handle } } with header Authorization: Bearer <token>.\n"
            f"\n{console_links(settings, base)}\n"
            "Ctrl-C stops the API and the worker (the stack keeps running: quanzi stack down).\n"
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


@main.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per UNWIND write (default 10000).",
)
@click.option("--progress/--no-progress", default=True, help="Progress bars on stderr.")
def import_(directory: pathlib.Path, batch_size: int | None, progress: bool) -> None:
    """Bulk-load users, merchants, friendships, payments and visits from CSV files.

    DIRECTORY may hold users.csv, merchants.csv, friendships.csv, payments.csv and
    visits.csv (see graph/imports.py for the columns); re-running is idempotent.
    """
    import time

    from graph.driver import connect
    from graph.imports import DEFAULT_BATCH_SIZE, FileReport, ImportFailed, import_directory

    settings = get_settings()

    def show(report: FileReport) -> None:
        click.echo(
            f"{report.name}: {report.rows} rows, {report.created} {report.what} created, "
            f"{report.seconds:.1f}s, {report.rows_per_second:,.0f} rows/s"
        )

    async def _run() -> list[FileReport]:
        async with connect(settings) as graph:
            return await import_directory(
                graph,
                directory,
                pepper=settings.pepper,
                default_trust_score=settings.default_trust_score,
                batch_size=batch_size or DEFAULT_BATCH_SIZE,
                progress=progress,
                on_file=show,
            )

    started = time.perf_counter()
    try:
        reports = asyncio.run(_run())
    except ImportFailed as exc:
        raise click.ClickException(f"import failed: {exc}") from exc
    seconds = time.perf_counter() - started
    rows = sum(r.rows for r in reports)
    click.echo(
        f"imported {len(reports)} files, {rows} rows in {seconds:.1f}s "
        f"({rows / seconds if seconds > 0 else rows:,.0f} rows/s)"
    )


@main.command("bulk-import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help="Where the neo4j-admin files go (default DIRECTORY/neo4j-admin).",
)
@click.option("--replace", is_flag=True, help="Delete the stack's existing neo4j database first.")
@click.option("--max-off-heap", default="2g", show_default=True, help="neo4j-admin's memory.")
@click.option(
    "--start/--no-start",
    default=True,
    help="Start Neo4j and apply migrations afterwards (default: yes).",
)
def bulk_import(
    directory: pathlib.Path,
    work: pathlib.Path | None,
    replace: bool,
    max_off_heap: str,
    start: bool,
) -> None:
    """Offline import of DIRECTORY (as `quanzi import` reads it, plus contacts.csv) with
    neo4j-admin, into the stopped stack's Neo4j; the fast path for a fresh big graph.

    graph/bulk.py writes the files (same graph as the online import), stack/manager.py
    runs neo4j-admin, then migrations add the constraints and indexes.
    """
    import time

    from graph.bulk import write_admin_files
    from graph.driver import connect
    from graph.imports import ImportFailed
    from graph.migrations import apply_migrations
    from stack import manager

    settings = get_settings()
    if any(s.name == "neo4j" and s.pid is not None for s in manager.status(settings)):
        raise click.ClickException("neo4j is running; stop it first: quanzi stack down")
    try:
        files = write_admin_files(
            directory,
            work or directory / "neo4j-admin",
            pepper=settings.pepper,
            default_trust_score=settings.default_trust_score,
        )
    except ImportFailed as exc:
        raise click.ClickException(f"bulk import failed: {exc}") from exc
    total = sum(files.counts.values())
    click.echo(f"files written in {files.seconds:.1f}s: {files.counts}")
    try:
        seconds = manager.bulk_import(
            settings,
            files.nodes,
            files.relationships,
            replace=replace,
            max_off_heap=max_off_heap,
            echo=click.echo,
        )
    except manager.StackError as exc:
        raise click.ClickException(str(exc)) from exc
    rels = sum(files.counts.get(kind, 0) for kind, _ in files.relationships)
    click.echo(
        f"neo4j-admin: {total - rels} nodes, {rels} relationships in {seconds:.1f}s "
        f"({rels / seconds if seconds > 0 else rels:,.0f} relationships/s)"
    )
    if not start:
        click.echo("now: quanzi stack up && quanzi migrate")
        return
    try:
        manager.up(settings, ["neo4j"], echo=click.echo)
    except manager.StackError as exc:
        raise click.ClickException(str(exc)) from exc

    async def _migrate() -> list[str]:
        async with connect(settings) as graph:
            return await apply_migrations(graph)

    t0 = time.perf_counter()
    applied = asyncio.run(_migrate())
    click.echo(f"migrations applied: {len(applied)} statements in {time.perf_counter() - t0:.1f}s")


@main.group()
def feeds() -> None:
    """Home feeds: dead-lettered jobs and timeline rebuilds."""


@feeds.command("dead-letters")
@click.option(
    "--count", type=click.IntRange(min=1), default=100, show_default=True, help="Oldest N."
)
def feeds_dead_letters(count: int) -> None:
    """List dead-lettered jobs, oldest first (the ID is what `feeds replay` takes)."""
    from workers.queue import DeadLetter, dead_letters
    from workers.redis import open_redis

    async def _run() -> list[DeadLetter]:
        redis = open_redis(get_settings())
        try:
            return await dead_letters(redis, count)
        finally:
            await redis.aclose()

    letters = asyncio.run(_run())
    if not letters:
        click.echo("no dead letters")
        return
    for letter in letters:
        error = " ".join(letter.error.split())
        click.echo(
            f"{letter.id}\tkind={letter.kind or '?'}\tdeliveries={letter.deliveries}"
            f"\terror={error}\tpayload={letter.payload}"
        )
    click.echo(f"{len(letters)} dead letters shown")


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@feeds.command("replay")
@click.argument("dead_letter_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
def feeds_replay(dead_letter_id: str | None, replay_all: bool) -> None:
    """Put a dead-lettered job (or --all of them) back on the job stream."""
    if bool(dead_letter_id) == replay_all:
        raise click.UsageError("give a dead letter ID or --all (not both)")
    from redis.asyncio import Redis

    from workers.keys import DEAD_LETTER_STREAM
    from workers.queue import UnknownDeadLetter, dead_letters, replay_dead_letter
    from workers.redis import open_redis

    async def _all(redis: Redis) -> int:
        # Only what is dead now: a job replayed and dead-lettered again meanwhile (a
        # worker is running) gets a newer id and is left for the operator to look at.
        newest = await redis.xrevrange(DEAD_LETTER_STREAM, "+", "-", count=1)
        if not newest:
            return 0
        last = _stream_id(str(newest[0][0]))
        replayed = 0
        while True:
            page = [d for d in await dead_letters(redis, 500) if _stream_id(d.id) <= last]
            if not page:
                return replayed
            for letter in page:
                with contextlib.suppress(UnknownDeadLetter):  # replayed by someone else
                    await replay_dead_letter(redis, letter.id)
                    replayed += 1

    async def _run() -> str:
        redis = open_redis(get_settings())
        try:
            if replay_all:
                return f"replayed {await _all(redis)} dead letters"
            assert dead_letter_id is not None
            try:
                new_id = await replay_dead_letter(redis, dead_letter_id)
            except UnknownDeadLetter as exc:
                raise click.ClickException(f"no dead letter {dead_letter_id}") from exc
            return f"replayed {dead_letter_id} as job {new_id}"
        finally:
            await redis.aclose()

    click.echo(asyncio.run(_run()))


@feeds.command("rebuild")
@click.option("--user", "platform_ids", multiple=True, metavar="PLATFORM_ID", help="Repeatable.")
@click.option("--all", "rebuild_all", is_flag=True, help="Every user, in pages.")
@click.option("--page-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
def feeds_rebuild(
    platform_ids: tuple[str, ...], rebuild_all: bool, page_size: int, progress: bool
) -> None:
    """Rebuild home timelines from Neo4j (--user PLATFORM_ID or --all).

    Users not active lately only have their timeline dropped; it is rebuilt when they
    next read their feed.
    """
    if bool(platform_ids) == rebuild_all:
        raise click.UsageError("give --user PLATFORM_ID or --all (not both)")
    from tqdm import tqdm

    from graph import feeds as graph_feeds
    from graph.users import user_by_platform_id
    from workers.fanout import RebuildResult, rebuild_timelines
    from workers.services import open_services

    settings = get_settings()

    async def _run() -> RebuildResult:
        async with open_services(settings) as services:
            graph = services.graph
            if not rebuild_all:
                ids = []
                for pid in platform_ids:
                    user = await user_by_platform_id(graph, pid)
                    if user is None:
                        raise click.ClickException(f"no user with platform id {pid}")
                    ids.append(user.id)
                return await rebuild_timelines(services, ids)
            total = await graph_feeds.count_users(graph)
            rebuilt = dropped = 0
            after = ""
            with tqdm(total=total, unit="user", disable=not progress) as bar:
                while page := await graph_feeds.user_ids_page(graph, after=after, limit=page_size):
                    done = await rebuild_timelines(services, page)
                    rebuilt += done.rebuilt
                    dropped += done.dropped
                    bar.update(len(page))
                    after = page[-1]
            return RebuildResult(rebuilt=rebuilt, dropped=dropped)

    result = asyncio.run(_run())
    click.echo(
        f"timelines rebuilt: {result.rebuilt}; "
        f"dropped (inactive users, rebuilt on their next read): {result.dropped}"
    )


@main.group()
def insights() -> None:
    """Merchant insights: snapshots of the aggregates behind every release."""


@insights.command("refresh")
def insights_refresh() -> None:
    """Compute a new snapshot now and publish it (later questions get new releases)."""
    from workers.insight_snapshots import SnapshotReport, compute
    from workers.services import open_services

    async def _run() -> SnapshotReport:
        async with open_services(get_settings()) as services:
            return await compute(services)

    report = asyncio.run(_run())
    click.echo(
        f"insights snapshot {report.id} computed at {report.computed_at.isoformat()}: "
        f"{report.people} people, {report.merchants} merchants, {report.places} places "
        f"in the area index, {report.seconds:.1f}s"
    )


@main.group()
def queries() -> None:
    """Persisted queries: the allow-list of operations (QUANZI_PERSISTED_QUERIES)."""


@queries.command("register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
def queries_register(file: pathlib.Path) -> None:
    """Register the operations of FILE: a .graphql document (each operation with its
    fragments) or an Apollo persisted-query manifest (.json). Prints each id and name."""
    from graphql import build_schema

    from actions.queries import register_operations
    from schema.persisted import operations_of
    from schema.root import sdl
    from workers.services import open_services

    try:
        operations = operations_of(
            file.read_text(encoding="utf-8"),
            build_schema(sdl()),
            manifest=file.suffix == ".json",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc

    async def _run() -> int:
        async with open_services(get_settings()) as services:
            return await register_operations(services, operations)

    created = asyncio.run(_run())
    for operation in operations:
        click.echo(f"{operation.id}  {operation.name or '(anonymous)'}")
    click.echo(f"{len(operations)} operations, {created} new")


@queries.command("list")
def queries_list() -> None:
    """The registered operations, by id and name."""
    from graph import queries as registered
    from graph.driver import connect

    async def _run() -> list[str]:
        async with connect(get_settings()) as graph:
            return [
                f"{o.id}  {o.name or '(anonymous)'}" for o in await registered.registered(graph)
            ]

    for line in asyncio.run(_run()):
        click.echo(line)


main.add_command(stack)


@main.group()
def pymk() -> None:
    """People you may know: the learned ranker."""


@pymk.command("train")
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    help="Friendships formed in the last DAYS are the positives.",
)
@click.option(
    "--viewers",
    type=click.IntRange(min=2),
    default=2000,
    help="At most this many users who made a friend since (sampled).",
)
@click.option(
    "--friendships-only", is_flag=True, help="Only the features that use friendships alone."
)
@click.option(
    "--learner",
    type=click.Choice(["boosted_trees", "logistic"]),
    default="boosted_trees",
    show_default=True,
    help="Gradient-boosted trees or a logistic regression (scikit-learn).",
)
@click.option("--seed", type=int, default=1)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=pathlib.Path("models/pymk.json"),
    show_default=True,
)
def pymk_train(
    days: float, viewers: int, friendships_only: bool, learner: str, seed: int, out: pathlib.Path
) -> None:
    """Train the ranker on the graph's own history and write the model file.

    Serve it with QUANZI_PYMK_MODEL_PATH=OUT (API and workers read it at start).
    """
    import json

    from graph.driver import connect
    from graph.pymk_features import FEATURES, FRIENDSHIP_FEATURES
    from workers.pymk_train import train, write_model

    async def _run() -> object:
        async with connect(get_settings()) as graph:
            return await train(
                graph,
                days=days,
                max_viewers=viewers,
                seed=seed,
                features=FRIENDSHIP_FEATURES if friendships_only else FEATURES,
                learner=learner,
            )

    try:
        model = asyncio.run(_run())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    from graph.pymk_model import RankerModel

    assert isinstance(model, RankerModel)
    write_model(model, out)
    click.echo(json.dumps({"model": str(out), **model.metrics}, indent=2))


if __name__ == "__main__":
    main()
