"""Load a generated social graph straight into Neo4j (UNWIND batches), per graph/MODEL.md.

Used by the benchmarks (``quanzi import`` reads the same CSVs, but contacts are not part of
it and the benchmarks need the held-out split anyway). A ``(:BenchMeta {key: 'dataset'})``
node records what is loaded, so a re-run with the same dataset skips the load.

By default the CSV part goes through ``quanzi import`` (users, merchants, training
friendships, payments, visits) and only the contacts are written here; ``direct``
(``--direct``) writes everything here instead (about 1.5x faster for the CSV part). Either
way the internal ids are read back by platform id afterwards (``Dataset.ids``).

CLI: ``python -m bench.load --users N --seed S [--holdout 0.1] [--force] [--direct]``
loads into the database named by the ``QUANZI_*`` environment.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from api.settings import Settings, get_settings
from bench.common import clear_graph
from bench.socialgen import (
    EPOCH,
    GEN_VERSION,
    HISTORY_SECONDS,
    GenConfig,
    SocialGraph,
    generate,
    write_csv,
)
from graph.driver import Graph, connect
from graph.migrations import apply_migrations
from graph.validation import phone_hash

BATCH = 10_000
# unknown-label notices on an empty database are noise here
logging.getLogger("neo4j").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Dataset:
    """A generated graph and the training/held-out split of its friendships."""

    sg: SocialGraph
    ids: list[str]  # internal id per user index
    train: np.ndarray  # (m, 2) user indexes
    held_out: np.ndarray  # (k, 2)
    holdout: float
    train_since: np.ndarray | None = None  # seconds before EPOCH, aligned with train

    @property
    def key(self) -> str:
        c = self.sg.config
        key = (
            f"gen={GEN_VERSION};users={c.users};seed={c.seed};deg={c.avg_degree};"
            f"holdout={self.holdout}"
        )
        # Only a non-default merchant density changes the key (loaded datasets stay valid).
        if c.users_per_merchant != GenConfig.users_per_merchant:
            key += f";upm={c.users_per_merchant}"
        if c.closure_share != GenConfig.closure_share:
            key += f";closure={c.closure_share};since=gen"
        return key


def make_dataset(config: GenConfig, holdout: float = 0.0) -> Dataset:
    sg = generate(config)
    rnd = random.Random(config.seed * 1_000_003 + 17)
    ids = [uuid.UUID(int=rnd.getrandbits(128), version=4).hex for _ in range(sg.n)]
    rng = np.random.default_rng(config.seed + 99_991)
    mask = rng.random(len(sg.edges)) < holdout
    return Dataset(sg, ids, sg.edges[~mask], sg.edges[mask], holdout, sg.since[~mask])


def _chunks(rows: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


async def _batched(graph: Graph, label: str, query: str, rows: Sequence[Any]) -> None:
    t0 = time.perf_counter()
    for chunk in _chunks(rows):
        await graph.write(query, rows=list(chunk))  # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    print(f"  {label}: {len(rows)} in {dt:.1f}s ({len(rows) / max(dt, 1e-9):.0f}/s)", flush=True)


async def loaded_key(graph: Graph) -> str | None:
    result = await graph.read("MATCH (m:BenchMeta {key: 'dataset'}) RETURN m.value AS v")
    return result.records[0]["v"] if result.records else None


async def wipe(graph: Graph) -> None:
    """Delete everything, in transactions small enough for a modest heap."""
    await clear_graph(graph)


async def sync_ids(graph: Graph, ds: Dataset) -> None:
    """Replace ``ds.ids`` by the internal ids stored for each platform id."""
    result = await graph.read("MATCH (u:User) RETURN u.platformId AS p, u.id AS id")
    stored = {r["p"]: r["id"] for r in result.records}
    missing = [p for p in ds.sg.platform_ids if p not in stored]
    if missing:
        raise RuntimeError(f"{len(missing)} users missing from the graph, e.g. {missing[:3]}")
    ds.ids[:] = [stored[p] for p in ds.sg.platform_ids]


async def load(
    graph: Graph,
    ds: Dataset,
    settings: Settings,
    *,
    force: bool = False,
    direct: bool = False,
) -> bool:
    """Load ``ds`` (training friendships and every side signal); False if already there."""
    key = ds.key
    if not force and await loaded_key(graph) == key:
        print(f"dataset {key} already loaded")
        await sync_ids(graph, ds)
        return False
    t0 = time.perf_counter()
    print(f"loading {key} {'directly' if direct else 'via quanzi import'} ...", flush=True)
    await wipe(graph)
    # a fresh stack has no constraints yet: every MATCH by id would scan all users
    await apply_migrations(graph)
    if direct:
        await _load_direct(graph, ds, settings)
    else:
        await _import_csv(graph, ds)
    await _load_contacts(graph, ds, settings)
    await graph.write("MERGE (m:BenchMeta {key: 'dataset'}) SET m.value = $v", v=key)
    print(f"loaded in {time.perf_counter() - t0:.0f}s", flush=True)
    return True


async def _import_csv(graph: Graph, ds: Dataset) -> None:
    """Users, merchants, training friendships, payments, visits through ``quanzi import``."""
    tmp = Path(tempfile.mkdtemp(prefix="qz-bench-csv-"))
    try:
        write_csv(ds.sg, tmp, edges=ds.train)
        (tmp / "contacts.csv").unlink()
        cli = Path(sys.executable).parent / "quanzi"
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(str(cli), "import", str(tmp), "--no-progress")
        if await proc.wait() != 0:
            raise RuntimeError(f"quanzi import failed with {proc.returncode}")
        print(f"  quanzi import: {time.perf_counter() - t0:.1f}s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    await sync_ids(graph, ds)


async def _load_direct(graph: Graph, ds: Dataset, settings: Settings) -> None:
    sg, ids = ds.sg, ds.ids
    pepper = settings.pepper
    rng = np.random.default_rng(sg.config.seed + 7)
    created = rng.integers(HISTORY_SECONDS, 3 * HISTORY_SECONDS, sg.n)
    epoch = int(EPOCH.timestamp())
    users = [
        {
            "id": ids[i],
            "platformId": sg.platform_ids[i],
            "handle": sg.handles[i],
            "displayName": sg.display_names[i],
            "trustScore": int(sg.trust[i]),
            "phoneHash": phone_hash(pepper, sg.phones[i]),
            "t": epoch - int(created[i]),
        }
        for i in range(sg.n)
    ]
    await _batched(
        graph,
        "users",
        """
        UNWIND $rows AS r
        CREATE (:User {id: r.id, platformId: r.platformId, handle: r.handle,
                       handleKey: toLower(r.handle), displayName: r.displayName,
                       trustScore: r.trustScore, discoverable: true, suspended: false,
                       phoneHash: r.phoneHash,
                       createdAt: datetime({epochSeconds: r.t}),
                       updatedAt: datetime({epochSeconds: r.t})})
        """,
        users,
    )
    merchants = [
        {"id": uuid.UUID(int=(j + 1) * 7_919_000_003 + sg.config.seed, version=4).hex, **m}
        for j, m in enumerate(sg.merchants)
    ]
    await _batched(
        graph,
        "merchants",
        """
        UNWIND $rows AS r
        CREATE (:Merchant {id: r.id, platformId: r.platform_id, name: r.name,
                           category: r.category,
                           location: point({latitude: r.latitude, longitude: r.longitude}),
                           createdAt: datetime(), updatedAt: datetime()})
        """,
        merchants,
    )
    since = rng.integers(0, 2 * HISTORY_SECONDS, len(ds.train))
    if ds.sg.config.closure_share != GenConfig.closure_share and ds.train_since is not None:
        since = ds.train_since  # the generator's formation times (temporal hold-out)
    friends = []
    for (a, b), s in zip(ds.train.tolist(), since.tolist(), strict=True):
        x, y = ids[a], ids[b]
        if x > y:
            x, y = y, x
        friends.append({"a": x, "b": y, "t": epoch - s})
    await _batched(
        graph,
        "friendships",
        """
        UNWIND $rows AS r
        MATCH (a:User {id: r.a}) MATCH (b:User {id: r.b})
        CREATE (a)-[:FRIEND {since: datetime({epochSeconds: r.t})}]->(b)
        """,
        friends,
    )
    await _batched(
        graph,
        "payments",
        """
        UNWIND $rows AS r
        MATCH (a:User {id: r.a}) MATCH (b:User {id: r.b})
        CREATE (a)-[:PAID {at: datetime({epochSeconds: r.t})}]->(b)
        """,
        [{"a": ids[a], "b": ids[b], "t": epoch - t} for a, b, t in sg.payments.tolist()],
    )
    await _batched(
        graph,
        "visits",
        """
        UNWIND $rows AS r
        MATCH (u:User {id: r.u}) MATCH (m:Merchant {id: r.m})
        CREATE (u)-[:VISITED {at: datetime({epochSeconds: r.t})}]->(m)
        """,
        [{"u": ids[u], "m": merchants[m]["id"], "t": epoch - t} for u, m, t in sg.visits.tolist()],
    )


async def _load_contacts(graph: Graph, ds: Dataset, settings: Settings) -> None:
    """Address books as (u)-[:HAS_CONTACT]->(:Phone {hash}); not part of quanzi import."""
    sg, ids, pepper = ds.sg, ds.ids, settings.pepper
    hashes: dict[str, str] = {}
    contacts = []
    for owner, e164 in sg.contacts:
        h = hashes.get(e164)
        if h is None:
            h = hashes[e164] = phone_hash(pepper, e164)
        contacts.append({"u": ids[owner], "h": h})
    await _batched(
        graph,
        "phones",
        "UNWIND $rows AS h CREATE (:Phone {hash: h})",
        sorted(set(hashes.values())),
    )
    await _batched(
        graph,
        "contacts",
        """
        UNWIND $rows AS r
        MATCH (u:User {id: r.u}) MATCH (p:Phone {hash: r.h})
        CREATE (u)-[:HAS_CONTACT {at: datetime()}]->(p)
        """,
        contacts,
    )


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    ds = make_dataset(GenConfig(users=args.users, seed=args.seed), args.holdout)
    async with connect(settings) as graph:
        await load(graph, ds, settings, force=args.force, direct=args.direct)


def main() -> None:
    parser = argparse.ArgumentParser(description="Load a synthetic graph into Neo4j")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--holdout", type=float, default=0.0)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--direct", action="store_true", help="not via quanzi import")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
