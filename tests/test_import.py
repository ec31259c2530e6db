"""``quanzi import DIR`` through the command line, against the test stack."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

from api.cli import main
from graph.driver import Graph

USERS = """platform_id,handle,display_name,phone,trust_score
u1,alice_1,Alice,+8613800138001,700
u2,bob_2,Bob,,
u3,carol_3,"Carol, Jr.",,300
"""
MERCHANTS = """platform_id,name,category,latitude,longitude
m1,Noodle Bar,restaurant,31.2304,121.4737
m2,Gym,fitness,,
"""
FRIENDSHIPS = """a,b
u1,u2
u2,u3
u2,u1
"""
PAYMENTS = """from,to,at
u1,u2,2024-05-01T12:00:00+08:00
u3,u1,2024-05-02T08:00:00Z
"""
VISITS = """user,merchant,at
u1,m1,2024-05-01T12:00:00+08:00
u3,m2,2024-05-03T19:00:00+08:00
"""


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.csv").write_text(text, encoding="utf-8")
    return directory


async def run_import(directory: Path) -> Result:
    # The command runs its own event loop: give it a thread of its own.
    return await asyncio.to_thread(
        CliRunner().invoke, main, ["import", str(directory), "--no-progress"]
    )


async def counts(graph: Graph) -> dict[str, int]:
    result = await graph.read(
        """
        CALL () { MATCH (u:User) RETURN count(u) AS users }
        CALL () { MATCH (m:Merchant) RETURN count(m) AS merchants }
        CALL () { MATCH ()-[r:FRIEND]->() RETURN count(r) AS friends }
        CALL () { MATCH ()-[r:PAID]->() RETURN count(r) AS paid }
        CALL () { MATCH ()-[r:VISITED]->() RETURN count(r) AS visited }
        RETURN users, merchants, friends, paid, visited
        """
    )
    return dict(result.records[0])


async def test_import_everything_then_again(tmp_path: Path, graph: Graph, clean: None) -> None:
    directory = write(
        tmp_path / "data",
        users=USERS,
        merchants=MERCHANTS,
        friendships=FRIENDSHIPS,
        payments=PAYMENTS,
        visits=VISITS,
    )
    first = await run_import(directory)
    assert first.exit_code == 0, first.output
    assert "friendships.csv: 3 rows, 2 relationships created" in first.output
    expected = {"users": 3, "merchants": 2, "friends": 2, "paid": 2, "visited": 2}
    assert await counts(graph) == expected

    again = await run_import(directory)
    assert again.exit_code == 0, again.output
    assert "friendships.csv: 3 rows, 0 relationships created" in again.output
    assert await counts(graph) == expected

    users = await graph.read(
        "MATCH (u:User) RETURN u.platformId AS p, u.id AS id, u.displayName AS name, "
        "u.trustScore AS trust, u.phoneHash IS NOT NULL AS phone ORDER BY p"
    )
    rows = [(r["p"], r["name"], r["trust"], r["phone"]) for r in users.records]
    assert rows == [
        ("u1", "Alice", 700, True),
        ("u2", "Bob", 500, False),
        ("u3", "Carol, Jr.", 300, False),
    ]
    # One FRIEND per pair, from the smaller internal id to the larger.
    wrong_way = await graph.read("MATCH (a)-[:FRIEND]->(b) WHERE a.id >= b.id RETURN count(*) AS n")
    assert wrong_way.records[0]["n"] == 0
    shop = await graph.read(
        "MATCH (m:Merchant {platformId: 'm1'}) RETURN m.location.latitude AS lat, m.id AS id"
    )
    assert shop.records[0]["lat"] == 31.2304 and len(shop.records[0]["id"]) == 32


async def test_missing_files_are_fine(tmp_path: Path, graph: Graph, clean: None) -> None:
    only_users = await run_import(write(tmp_path / "u", users=USERS))
    assert only_users.exit_code == 0, only_users.output
    nothing = await run_import(write(tmp_path / "empty"))
    assert nothing.exit_code == 0, nothing.output
    assert (await counts(graph))["users"] == 3


async def test_bad_row_names_file_and_line_and_writes_nothing_of_it(
    tmp_path: Path, graph: Graph, clean: None
) -> None:
    bad_friends = FRIENDSHIPS + "u3,u3\n"
    result = await run_import(write(tmp_path / "d", users=USERS, friendships=bad_friends))
    assert result.exit_code != 0
    assert "friendships.csv line 5" in result.output, result.output
    # users.csv came first and stays; nothing of friendships.csv was written.
    assert (await counts(graph))["users"] == 3
    assert (await counts(graph))["friends"] == 0

    unknown = await run_import(
        write(tmp_path / "e", payments=PAYMENTS + "u1,ghost,2024-05-01T00:00:00Z\n")
    )
    assert unknown.exit_code != 0
    assert "payments.csv line 4" in unknown.output and "ghost" in unknown.output
    assert (await counts(graph))["paid"] == 0

    naive = await run_import(
        write(tmp_path / "f", visits="user,merchant,at\nu1,m1,2024-05-01T12:00:00\n")
    )
    assert naive.exit_code != 0 and "visits.csv line 2" in naive.output

    bad_user = USERS.replace("bob_2", "b")
    before = await counts(graph)
    handle = await run_import(write(tmp_path / "g", users=bad_user.replace("Bob,,", "Bob,,")))
    assert handle.exit_code != 0 and "users.csv line 3" in handle.output
    assert await counts(graph) == before


async def test_wrong_header_is_a_clear_error(tmp_path: Path, graph: Graph, clean: None) -> None:
    result = await run_import(write(tmp_path / "h", friendships="from,to\nu1,u2\n"))
    assert result.exit_code != 0
    assert "friendships.csv line 1: header is from,to, expected a,b" in result.output
    short = await run_import(
        write(tmp_path / "i", users="platform_id,handle,display_name,phone,trust_score\nu9,zed_9\n")
    )
    assert short.exit_code != 0 and "users.csv line 2" in short.output
    assert (await counts(graph))["users"] == 0
