"""Platform safety through the API: cross-posting holds, and suspension."""

from __future__ import annotations

import pytest

from tests.conftest import GQL
from tests.test_circle_joins import create, join
from tests.test_posts import COMMENT, mutate, person, post, posted, read
from tests.test_reports import QUEUE, circle_with, codes
from workers import ratelimit

SUSPEND = """mutation($u: ID!, $s: Boolean!) { adminSuspendUser(userId: $u, suspended: $s) {
  user { handle } userErrors { code field } } }"""
ME = "{ me { handle } }"
FEED = "{ homeFeed(first: 50) { edges { node { id body } } } }"
COMMENTS = (
    """query($id: ID!) { post(id: $id) { comments(first: 50) { edges { node { body } } } } }"""
)


@pytest.fixture(autouse=True)
def roomy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(1000, 1.0))


async def test_cross_posting_holds_third_circle(client: GQL) -> None:
    spammer = await person(client, "spammer")
    owner = await person(client, "owner")
    circles = [await create(client, owner, name=f"Circle {i}") for i in range(4)]
    for c in circles:
        assert (await join(client, spammer, c))["userErrors"] == []
    results = [await post(client, spammer, "Great  DEAL at my shop", c) for c in circles[:2]]
    assert all(r["post"] is not None for r in results)
    third = await post(client, spammer, "great deal at MY shop", circles[2])
    assert third["userErrors"] == [] and third["post"] is None  # held for review
    queue = (await client(QUEUE, {"c": circles[2]}, token=owner["token"]))["data"]
    (node,) = [e["node"] for e in queue["moderationQueue"]["edges"]]
    assert node["reason"].startswith("cross-posting")
    assert (await post(client, spammer, "great deal at my shop", circles[3]))["post"] is None
    # other text is fine; the same text anywhere stays held while the window lasts
    assert (await post(client, spammer, "something else", circles[3]))["post"] is not None
    assert (await post(client, spammer, "great deal at my shop", circles[0]))["post"] is None


async def test_suspension(client: GQL) -> None:
    cid, _owner, (bad, good) = await circle_with(client, 2)
    pid = await posted(client, bad, "I am here", cid)
    own = await posted(client, good, "hello", cid)
    c = await mutate(client, COMMENT, "commentOnPost", bad, id=own, body="bad comment")
    assert c["userErrors"] == []
    assert len((await client(FEED, token=good["token"]))["data"]["homeFeed"]["edges"]) == 2
    assert (await client(ME, token=bad["token"]))["data"]["me"]["handle"] == "member0"

    r = await mutate(client, SUSPEND, "adminSuspendUser", good, u=bad["id"], s=True)
    assert codes(r) == ["FORBIDDEN"]
    r = await client(SUSPEND, {"u": bad["id"], "s": True}, token=client.admin)
    assert r["data"]["adminSuspendUser"]["userErrors"] == []

    response = await client.post(ME, token=bad["token"])  # the cached card was refreshed
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await read(client, good, pid) is None
    feed = (await client(FEED, token=good["token"]))["data"]["homeFeed"]["edges"]
    assert [e["node"]["id"] for e in feed] == [own]
    comments = (await client(COMMENTS, {"id": own}, token=good["token"]))["data"]["post"]
    assert comments["comments"]["edges"] == []

    r = await client(SUSPEND, {"u": bad["id"], "s": False}, token=client.admin)
    assert r["data"]["adminSuspendUser"]["user"]["handle"] == "member0"
    assert (await client(ME, token=bad["token"]))["data"]["me"]["handle"] == "member0"
    assert await read(client, good, pid) is not None
    assert len((await client(FEED, token=good["token"]))["data"]["homeFeed"]["edges"]) == 2
