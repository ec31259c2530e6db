"""A platform admin moderates every circle, member or not: the moderation queue, appeals
and mod log read as the circle's own moderator reads them, and reports and appeals are
decided by the same "moderates this circle" check. Everything goes through the API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GQL
from tests.test_circle_joins import create, invite, join
from tests.test_moderation import MOD_LOG, MODERATE
from tests.test_posts import mutate, person, posted
from tests.test_reports import APPEAL, APPEALS, DECIDE, QUEUE, RESOLVE, codes, report
from workers import ratelimit

pytestmark = pytest.mark.usefixtures("generous_post_limit")

VIEWER_MEMBERSHIP = "query($id: ID!) { circle(id: $id) { id viewerMembership viewerRole } }"


@pytest.fixture(autouse=True)
def roomy_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ratelimit.POLICIES, "report", ratelimit.Policy(1000, 1.0))


async def moderate(client: GQL, who: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = await mutate(client, MODERATE, "moderate", who, input=fields)
    assert payload["userErrors"] == [], payload
    return payload


async def admit(client: GQL, owner: dict[str, Any], cid: str, who: dict[str, Any]) -> None:
    """Into the circle through the front door: PRIVATE circles are invite-only."""
    assert (await invite(client, owner, cid, who))["userErrors"] == []
    payload = await join(client, who, cid)
    assert payload["userErrors"] == [], payload
    assert payload["membership"]["state"] == "MEMBER"


async def desk(client: GQL, who: dict[str, Any], cid: str) -> dict[str, Any]:
    """The three moderation reads of one circle as ``who`` sees them (None when refused)."""
    seen: dict[str, Any] = {}
    for name, query in (("moderationQueue", QUEUE), ("appeals", APPEALS), ("modLog", MOD_LOG)):
        body = await client(query, {"c": cid}, token=who["token"])
        assert "errors" not in body, body
        seen[name] = body["data"][name]
    return seen


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in connection["edges"]]


async def world(client: GQL, visibility: str) -> dict[str, Any]:
    """A circle with a moderator, an open report on a post, a ban and its pending appeal;
    an admin who provisioned a user of their own but never joined; a signed-in stranger."""
    owner = await person(client, "owner")
    policy = "INVITE" if visibility == "PRIVATE" else "OPEN"
    cid = await create(client, owner, visibility=visibility, joinPolicy=policy)
    moderator, reporter, author, troll = [
        await person(client, h) for h in ("moderator", "reporter", "author", "troll")
    ]
    for who in (moderator, reporter, author, troll):
        await admit(client, owner, cid, who)
    await moderate(
        client, owner, circleId=cid, kind="SET_ROLE", userId=moderator["id"], role="MODERATOR"
    )
    pid = await posted(client, author, "buy my stuff", cid)
    filed = await report(client, reporter, postId=pid)
    assert filed["userErrors"] == [], filed
    ban = await moderate(
        client, moderator, circleId=cid, kind="BAN", userId=troll["id"], reason="trolling"
    )
    appealed = await mutate(
        client, APPEAL, "appeal", troll, a=ban["action"]["id"], m="I was only joking"
    )
    assert appealed["userErrors"] == [], appealed

    admin = await client.make_user("admin")
    admin = {**admin, "token": client.token(admin["platformId"], admin=True)}
    stranger = await person(client, "stranger")
    return {
        "circle": cid,
        "post": pid,
        "report": filed["report"]["id"],
        "ban": ban["action"]["id"],
        "appeal": appealed["appeal"]["id"],
        "owner": owner,
        "moderator": moderator,
        "troll": troll,
        "admin": admin,
        "stranger": stranger,
    }


@pytest.mark.parametrize("visibility", ["SEMI_PUBLIC", "PRIVATE"])
async def test_admin_reads_the_moderation_desk_of_a_circle_they_are_not_in(
    client: GQL, visibility: str
) -> None:
    w = await world(client, visibility)
    cid = w["circle"]
    # the admin holds no membership at all (their own user exists and is signed in)
    body = await client(VIEWER_MEMBERSHIP, {"id": cid}, token=w["admin"]["token"])
    assert "errors" not in body, body
    assert body["data"]["circle"]["viewerMembership"] == "NONE"
    assert body["data"]["circle"]["viewerRole"] is None

    seen = await desk(client, w["admin"], cid)
    assert all(seen[name] is not None for name in seen), seen
    assert nodes(seen["moderationQueue"]) == [
        {
            "id": w["report"],
            "reason": "spam",
            "state": "OPEN",
            "reporter": {"handle": "reporter"},
            "post": {"id": w["post"]},
        }
    ]
    assert nodes(seen["appeals"]) == [
        {
            "id": w["appeal"],
            "state": "PENDING",
            "message": "I was only joking",
            "user": {"handle": "troll"},
        }
    ]
    log = nodes(seen["modLog"])
    assert [(n["kind"], n["moderator"]["handle"], n["targetUser"]["handle"]) for n in log] == [
        ("BAN", "moderator", "troll"),
        ("SET_ROLE", "owner", "moderator"),
    ]
    assert log[0]["id"] == w["ban"]
    assert log[0]["reason"] == "trolling"

    # the control: the circle's moderator reads exactly the same; a stranger reads nothing
    assert await desk(client, w["moderator"], cid) == seen
    assert await desk(client, w["stranger"], cid) == {
        "moderationQueue": None,
        "appeals": None,
        "modLog": None,
    }


@pytest.mark.parametrize("visibility", ["SEMI_PUBLIC", "PRIVATE"])
async def test_admin_resolves_reports_and_decides_appeals_of_a_circle_they_are_not_in(
    client: GQL, visibility: str
) -> None:
    w = await world(client, visibility)
    cid = w["circle"]
    # the control: a signed-in stranger may do neither (a PRIVATE circle is not even there)
    refused = ["NOT_FOUND"] if visibility == "PRIVATE" else ["FORBIDDEN"]
    r = await mutate(client, RESOLVE, "resolveReport", w["stranger"], id=w["report"], dismiss=False)
    assert codes(r) == refused
    r = await mutate(client, DECIDE, "decideAppeal", w["stranger"], id=w["appeal"], accept=True)
    assert codes(r) == refused

    r = await mutate(client, RESOLVE, "resolveReport", w["admin"], id=w["report"], dismiss=False)
    assert r == {"report": {"id": w["report"], "state": "RESOLVED"}, "userErrors": []}
    r = await mutate(client, DECIDE, "decideAppeal", w["admin"], id=w["appeal"], accept=True)
    assert r == {"appeal": {"id": w["appeal"], "state": "ACCEPTED"}, "userErrors": []}

    # both left the desk, and the lifted ban is logged as the admin's UNBAN
    seen = await desk(client, w["moderator"], cid)
    assert seen["moderationQueue"]["edges"] == []
    assert seen["appeals"]["edges"] == []
    log = nodes(seen["modLog"])
    assert [(n["kind"], n["moderator"]["handle"], n["targetUser"]["handle"]) for n in log] == [
        ("UNBAN", "admin", "troll"),
        ("BAN", "moderator", "troll"),
        ("SET_ROLE", "owner", "moderator"),
    ]
    assert await desk(client, w["admin"], cid) == seen
    # the troll is no longer banned: after a fresh invitation (PRIVATE) they join again
    if visibility == "PRIVATE":
        await admit(client, w["owner"], cid, w["troll"])
    else:
        assert (await join(client, w["troll"], cid))["userErrors"] == []
