"""``quanzi stack up|down|status``: the local Neo4j + Redis stack, as click commands."""

from __future__ import annotations

import sys

import click

from api.settings import InvalidSettings, Settings, checked_settings
from stack import manager


def get_settings() -> Settings:
    """The settings, or a clear message (not a traceback) when they are unusable (every
    ``quanzi`` command reads them this way)."""
    try:
        return checked_settings()
    except InvalidSettings as exc:
        raise click.ClickException(str(exc)) from exc


EXIT_UNHEALTHY = 1
EXIT_STOPPED = 3


@click.group(name="stack")
def stack() -> None:
    """Local Neo4j 5.26 (embedded, Bolt on 127.0.0.1) and Redis 7, without Docker.

    Ports come from QUANZI_NEO4J_URI and QUANZI_REDIS_URL, state lives in QUANZI_STACK_DIR
    (default .quanzi), Neo4j jars are cached in ${XDG_CACHE_HOME:-~/.cache}/quanzi.
    """


@stack.command()
def up() -> None:
    """Start the stack (idempotent) and wait until Bolt and Redis answer.

    Exits 1 on port conflicts, startup failures or timeout (QUANZI_STACK_TIMEOUT_SECONDS).
    """
    try:
        manager.up(get_settings(), echo=click.echo)
    except manager.StackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@stack.command()
def down() -> None:
    """Stop the processes started by `up` (SIGTERM, SIGKILL after 30 s). Idempotent."""
    try:
        manager.down(get_settings(), echo=click.echo)
    except manager.StackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@stack.command()
def status() -> None:
    """Show pid, port and health of each service.

    Exit status: 0 if all services are healthy, 3 if all are stopped, 1 otherwise
    (some stopped or unhealthy).
    """
    statuses = manager.status(get_settings())
    for item in statuses:
        click.echo(item.line())
    if all(item.healthy for item in statuses):
        sys.exit(0)
    if all(item.health == "stopped" for item in statuses):
        sys.exit(EXIT_STOPPED)
    sys.exit(EXIT_UNHEALTHY)
