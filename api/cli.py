"""The ``quanzi`` command line: serve, worker, migrate, stack, token, schema, demo."""

from __future__ import annotations

import asyncio
import pathlib
import sys

import click

from api.settings import Settings
from api.settings import get_settings as _load_settings


def get_settings() -> Settings:
    """The settings, or a clear message (not a traceback) when they are unusable."""
    from pydantic import ValidationError

    try:
        return _load_settings()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        raise click.ClickException(f"invalid configuration: {problems}") from exc


@click.group()
def main() -> None:
    """Quanzi: circles, people you may know and feeds."""


@main.command()
@click.option("--host", default=None, help="Bind address (default QUANZI_HOST).")
@click.option("--port", type=int, default=None, help="Port (default QUANZI_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the GraphQL API with uvicorn."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
    )


@main.command()
@click.option("--name", default=None, help="Consumer name (default: host and pid).")
def worker(name: str | None) -> None:
    """Run one background worker until interrupted."""
    from workers.runner import run_worker

    asyncio.run(run_worker(get_settings(), consumer=name))


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
    from graph.demo import DEMO_USER_PLATFORM_ID, load_demo

    asyncio.run(load_demo(get_settings()))
    click.echo(f"demo data loaded; demo user: {DEMO_USER_PLATFORM_ID}")


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


def _register_stack() -> None:
    from stack.commands import stack

    main.add_command(stack)


_register_stack()

if __name__ == "__main__":
    main()
