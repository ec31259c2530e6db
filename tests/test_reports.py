"""Reports, the moderation queue and appeals, through the API."""

from __future__ import annotations

from typing import Any

import pytest

from graph.driver import Graph
from tests.conftest import GQL
from tests.test_circle_joins import create, gid, internal, join, make_moderator
from tests.test_posts import mutate, person, posted, read
from workers import ratelimit

REPORT = """mutation($input: ReportInput!) { report(input: $input) {
  report { id state reason reporter { handle } post { id } subject { handle } }
  userErrors { code field message } } }"""
QUEUE = """query($c: ID!) { moderationQueue(circleId: $c, first: 50) {
  edges { node { id reason state reporter { handle } post { id } } } } }"""
RESOLVE = """mutation($id: ID!, $dismiss: Boolean!) {
  resolveReport(reportId: $id, dismiss: $dismiss) {
  report { id state } userErrors { code field } } }"""
APPEAL = """mutation($a: ID!, $m: String!) { appeal(actionId: $a, message: $m) {
  appeal { id state message actionKind } userErrors { code field } } }"""
APPEALS = """query($c: ID!) { appeals(circleId: $c) { edges { node { id state message
  user { handle } } } } }"""
DECIDE = """mutation($id: ID!, $accept: Boolean!) { decideAppeal(appealId: $id, accept: $accept) {
  appeal { id state } userErrors { code field } } }"""


@pytest.fixture(autouse=True)
def roomy_reports(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "rate_limit" not in request.node.name:
        monkeypatch.setitem(ratelimit.POLICIES, "report", ratelimit.Policy(1000, 1.0))


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def circle_with(client: GQL, n: int) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    owner = await person(client, "owner")
    cid = await create(client, owner)
    members = []
    for i in range(n):
        m = await person(client, f"member{i}")
        assert (await join(client, m, cid))["userErrors"] == []
        members.append(m)
    return cid, owner, members


async def report(client: GQL, who: dict[str, Any], **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = await mutate(
        client, REPORT, "report", who, input={"reason": "spam", **fields}
    )
    return result


async def test_report_twice_is_already_exists_and_reporter_hidden(client: GQL) -> None:
    cid, owner, (a, b) = await circle_with(client, 2)
    pid = await posted(client, b, "buy my stuff", cid)
    first = await report(client, a, postId=pid)
    assert first["userErrors"] == []
    assert first["report"]["state"] == "OPEN"
    assert first["report"]["reporter"] is None  # the reporter is no moderator
    assert codes(await report(client, a, postId=pid)) == ["ALREADY_EXISTS"]
    # a user report: fellow members only, never oneself
    assert (await report(client, a, userId=b["id"], circleId=cid))["userErrors"] == []
    assert codes(await report(client, a, userId=b["id"], circleId=cid)) == ["ALREADY_EXISTS"]
    assert codes(await report(client, a, userId=a["id"], circleId=cid)) == ["INVALID_INPUT"]
    stranger = await person(client, "stranger")
    assert codes(await report(client, stranger, postId=pid)) == ["FORBIDDEN"]
    assert codes(await report(client, a, postId=pid, reason="")) == ["INVALID_INPUT"]
    assert codes(await report(client, a, userId=stranger["id"], circleId=cid)) == ["NOT_FOUND"]

    queue = (await client(QUEUE, {"c": cid}, token=owner["token"]))["data"]["moderationQueue"]
    nodes = [e["node"] for e in queue["edges"]]
    assert len(nodes) == 2
    assert {n["reporter"]["handle"] for n in nodes} == {"member0"}  # moderators see who
    for who in (a, b, stranger, None):
        data = await client(QUEUE, {"c": cid}, token=who["token"] if who else None)
        assert data["data"]["moderationQueue"] is None


async def test_threshold_hides_then_dismissal_unhides(client: GQL) -> None:
    cid, owner, members = await circle_with(client, 4)
    author = members[3]
    pid = await posted(client, author, "questionable", cid)
    for m in members[:2]:
        assert (await report(client, m, postId=pid))["userErrors"] == []
    assert await read(client, members[0], pid) is not None
    assert (await report(client, members[2], postId=pid))["userErrors"] == []
    # hidden: gone for members and the author, still there for the owner
    assert await read(client, members[0], pid) is None
    assert await read(client, author, pid) is None
    assert await read(client, owner, pid) is not None

    queue = (await client(QUEUE, {"c": cid}, token=owner["token"]))["data"]["moderationQueue"]
    ids = [e["node"]["id"] for e in queue["edges"]]
    assert len(ids) == 3
    # a member may not resolve
    r = await mutate(client, RESOLVE, "resolveReport", members[0], id=ids[0], dismiss=True)
    assert codes(r) == ["FORBIDDEN"]
    for i, rid in enumerate(ids):
        r = await mutate(client, RESOLVE, "resolveReport", owner, id=rid, dismiss=True)
        assert r["report"]["state"] == "DISMISSED"
        assert (await read(client, members[0], pid) is None) == (i < 2)
    r = await mutate(client, RESOLVE, "resolveReport", owner, id=ids[0], dismiss=False)
    assert codes(r) == ["INVALID_INPUT"]  # closed already
    queue = (await client(QUEUE, {"c": cid}, token=owner["token"]))["data"]["moderationQueue"]
    assert queue["edges"] == []


async def test_moderator_resolves(client: GQL, graph: Graph) -> None:
    cid, _owner, (a, b) = await circle_with(client, 2)
    moderator = a
    await make_moderator(graph, moderator, cid)
    pid = await posted(client, b, "x", cid)
    # one report from the moderator is below the threshold
    rep = await report(client, moderator, postId=pid)
    assert rep["report"]["reporter"]["handle"] == "member0"  # a moderator sees themself
    r = await mutate(
        client, RESOLVE, "resolveReport", moderator, id=rep["report"]["id"], dismiss=False
    )
    assert r["report"]["state"] == "RESOLVED"


async def ban_action(
    graph: Graph, mod: dict[str, Any], who: dict[str, Any], cid: str, kind: str
) -> str:
    """A BAN or MUTE as graph/moderation.py writes it (MODEL.md), returning its global id."""
    action = f"act-{kind}-{internal(who['id'])}"
    await graph.write(
        """
        MATCH (m:User {id: $m}), (u:User {id: $u}), (c:Circle {id: $c}),
              (u)-[r:MEMBER_OF]->(c)
        SET r.state = CASE WHEN $kind = 'BAN' THEN 'BANNED' ELSE r.state END,
            r.mutedUntil = CASE WHEN $kind = 'MUTE' THEN datetime() + duration('P1D') END,
            c.memberCount = c.memberCount - CASE WHEN $kind = 'BAN' THEN 1 ELSE 0 END
        CREATE (m)-[:TOOK]->(a:ModAction {id: $id, kind: $kind, reason: 'x',
                createdAt: datetime()})-[:IN]->(c)
        CREATE (a)-[:ON_USER]->(u)
        """,
        m=internal(mod["id"]),
        u=internal(who["id"]),
        c=internal(cid),
        kind=kind,
        id=action,
    )
    return gid("ModAction", action)


async def test_appeals_once_and_decisions(client: GQL, graph: Graph) -> None:
    cid, owner, (a, b, c) = await circle_with(client, 3)
    ban = await ban_action(graph, owner, a, cid, "BAN")
    mute = await ban_action(graph, owner, b, cid, "MUTE")
    # only the target appeals
    r = await mutate(client, APPEAL, "appeal", c, a=ban, m="please")
    assert codes(r) == ["NOT_FOUND"]
    first = await mutate(client, APPEAL, "appeal", a, a=ban, m="I was wrongly banned")
    assert first["userErrors"] == [] and first["appeal"]["state"] == "PENDING"
    assert first["appeal"]["actionKind"] == "BAN"
    assert codes(await mutate(client, APPEAL, "appeal", a, a=ban, m="again")) == ["ALREADY_EXISTS"]
    second = await mutate(client, APPEAL, "appeal", b, a=mute, m="sorry")
    assert second["userErrors"] == []

    assert (await client(APPEALS, {"c": cid}, token=c["token"]))["data"]["appeals"] is None
    listed = (await client(APPEALS, {"c": cid}, token=owner["token"]))["data"]["appeals"]
    assert len(listed["edges"]) == 2

    r = await mutate(client, DECIDE, "decideAppeal", c, id=first["appeal"]["id"], accept=True)
    assert codes(r) == ["FORBIDDEN"]
    r = await mutate(client, DECIDE, "decideAppeal", owner, id=first["appeal"]["id"], accept=True)
    assert r["appeal"]["state"] == "ACCEPTED"
    r = await mutate(client, DECIDE, "decideAppeal", owner, id=second["appeal"]["id"], accept=False)
    assert r["appeal"]["state"] == "REJECTED"
    r = await mutate(client, DECIDE, "decideAppeal", owner, id=second["appeal"]["id"], accept=True)
    assert codes(r) == ["INVALID_INPUT"]

    # the ban is lifted (they may join again) and logged as UNBAN; the mute stands
    assert (await join(client, a, cid))["userErrors"] == []
    logged = await graph.read(
        """
        MATCH (:User {id: $owner})-[:TOOK]->(x:ModAction {kind: 'UNBAN'})
              -[:ON_USER]->(:User {id: $a})
        RETURN count(x) AS n
        """,
        owner=internal(owner["id"]),
        a=internal(a["id"]),
    )
    assert logged.records[0]["n"] == 1
    muted = await graph.read(
        "MATCH (:User {id: $b})-[r:MEMBER_OF]->() RETURN r.mutedUntil IS NOT NULL AS m",
        b=internal(b["id"]),
    )
    assert muted.records[0]["m"] is True
    # an appeal against a mute that was lifted: accepted, the mute is gone
    mute_c = await ban_action(graph, owner, c, cid, "MUTE")
    ap = await mutate(client, APPEAL, "appeal", c, a=mute_c, m="pls")
    await mutate(client, DECIDE, "decideAppeal", owner, id=ap["appeal"]["id"], accept=True)
    muted = await graph.read(
        "MATCH (:User {id: $c})-[r:MEMBER_OF]->() RETURN r.mutedUntil IS NOT NULL AS m",
        c=internal(c["id"]),
    )
    assert muted.records[0]["m"] is False


async def test_reports_rate_limit(client: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(1000, 1.0))
    cid, owner, members = await circle_with(client, 1)
    posts = [await posted(client, owner, f"post {i}", cid) for i in range(8)]
    seen = [codes(await report(client, members[0], postId=p)) for p in posts]
    assert ["RATE_LIMITED"] in seen  # a new account's bucket is small
