"""One async Neo4j driver per process, and the two ways the code talks through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, LiteralString, TypeVar

from neo4j import (
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
            async with graph.driver.session(database=graph.database) as session:
                return await session.execute_write(work)
        except ConstraintError:
            if attempt >= id_attempts - 1:
                raise
    raise AssertionError("unreachable")
