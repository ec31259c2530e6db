"""One async Neo4j driver per process, and the two ways the code talks through it.

On a Neo4j cluster (Enterprise or Aura, URI ``neo4j://`` or ``neo4j+s://``) every read
goes to a reader (``routing_=READ``) and every write to the leader. All of a process's
queries and transactions share the driver's bookmark manager, so a process always reads
its own writes; work handed to another process (a queued job) carries the bookmarks of
the write that caused it (``bookmarks``), and that process ``follow``s them before it
reads. On the single community server bookmarks cost nothing and change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, LiteralString, TypeVar

from neo4j import (
    READ_ACCESS,
    AsyncDriver,
    AsyncGraphDatabase,
    AsyncManagedTransaction,
    EagerResult,
    NotificationDisabledClassification,
    RoutingControl,
)
from neo4j.exceptions import ConstraintError

from api.settings import Settings


def open_driver(settings: Settings) -> AsyncDriver:
    auth = (settings.neo4j_user, settings.neo4j_password) if settings.neo4j_password else None
    return AsyncGraphDatabase.driver(
        settings.neo4j_uri,
        auth=auth,
        max_connection_pool_size=100,
        connection_acquisition_timeout=10.0,
        connection_timeout=5.0,
        # "label/property does not exist yet" on a young database is noise, not a bug.
        notifications_disabled_classifications=[NotificationDisabledClassification.UNRECOGNIZED],
    )


class Graph:
    """The driver plus the database name, so domain modules need only one argument.

    Reads and writes go through ``execute_query``: each call is its own managed
    transaction (retried on transient errors), never a session shared by resolvers.
    """

    def __init__(self, driver: AsyncDriver, database: str) -> None:
        self.driver = driver
        self.database = database

    async def read(self, query: LiteralString, **params: Any) -> EagerResult:
        return await self.driver.execute_query(
            query, params, database_=self.database, routing_=RoutingControl.READ
        )

    async def write(self, query: LiteralString, **params: Any) -> EagerResult:
        return await self.driver.execute_query(
            query, params, database_=self.database, routing_=RoutingControl.WRITE
        )

    async def ping(self) -> None:
        await self.read("RETURN 1 AS ok")

    async def bookmarks(self) -> list[str]:
        """This process's latest bookmarks: what another process waits for to see the
        writes made here so far."""
        marks = await self.driver.execute_query_bookmark_manager.get_bookmarks()
        return sorted(marks)

    async def follow(self, bookmarks: Iterable[str]) -> None:
        """Make this process's next reads and writes wait for the writes these bookmarks
        stand for (they join the process's bookmark manager)."""
        marks = frozenset(str(b) for b in bookmarks)
        if marks:
            manager = self.driver.execute_query_bookmark_manager
            await manager.update_bookmarks(frozenset(), marks)


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Graph]:
    """A graph for a command-line run: opened, used, closed."""
    driver = open_driver(settings)
    try:
        yield Graph(driver, settings.neo4j_database)
    finally:
        await driver.close()


T = TypeVar("T")


async def write_transaction(
    graph: Graph,
    work: Callable[[AsyncManagedTransaction], Awaitable[T]],
    *,
    id_attempts: int = 1,
) -> T:
    """Several statements in one write transaction, retried on transient errors.

    ``work`` must be idempotent; raising inside it rolls everything back. With
    ``id_attempts`` above one, a unique-constraint conflict runs ``work`` again: it makes
    its ids inside (time-ordered ids of one millisecond collide once in 2^20).
    """
    for attempt in range(id_attempts):
        try:
            async with graph.driver.session(
                database=graph.database,
                # the bookmarks execute_query uses: the process reads what it wrote
                bookmark_manager=graph.driver.execute_query_bookmark_manager,
            ) as session:
                return await session.execute_write(work)
        except ConstraintError:
            if attempt >= id_attempts - 1:
                raise
    raise AssertionError("unreachable")


async def read_transaction(
    graph: Graph, work: Callable[[AsyncManagedTransaction], Awaitable[T]]
) -> T:
    """Several reads in one read transaction (on a reader, with this process's
    bookmarks), for reads whose later statements use what the earlier ones returned."""
    async with graph.driver.session(
        database=graph.database,
        default_access_mode=READ_ACCESS,
        bookmark_manager=graph.driver.execute_query_bookmark_manager,
    ) as session:
        return await session.execute_read(work)
