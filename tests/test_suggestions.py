"""People you may know: sources, reasons, exclusions, the cache and its invalidation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from actions import safety
from actions.interactions import record_interactions
from graph import interactions, merchants
from graph.driver import Graph
from schema.pagination import decode_cursor, encode_cursor
from tests.conftest import GQL, RoundTrips
from tests.test_friends import BLOCK, befriend, send
from workers import jobs, keys, suggestions
from workers.queue import Job
from workers.services import Services

PYMK = """query($first: Int, $after: String) { peopleYouMayKnow(first: $first, after: $after) {
  edges { cursor node { user { id handle } score reasons { kind count text } } }
  pageInfo { hasNextPage endCursor } } }"""


async def pymk(client: GQL, user: dict[str, Any], first: int = 20) -> list[dict[str, Any]]:
    body = await client(PYMK, {"first": first}, token=user["token"])
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["peopleYouMayKnow"]["edges"]]


def handles(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["user"]["handle"] for n in nodes]


async def triangle(client: GQL) -> tuple[dict[str, Any], ...]:
    """lin and zhao share two friends (chen, wang); zhao is lin's obvious suggestion."""
    lin, chen, wang, zhao = (
        await client.make_user("lin"),
        await client.make_user("chen"),
        await client.make_user("wang"),
        await client.make_user("zhao"),
    )
    for middle in (chen, wang):
        await befriend(client, lin, middle)
        await befriend(client, zhao, middle)
    return lin, chen, wang, zhao


async def test_friends_of_friends_with_mutual_reason(client: GQL) -> None:
    lin, _, _, _zhao = await triangle(client)
    nodes = await pymk(client, lin)
    assert handles(nodes) == ["zhao"]
    assert nodes[0]["reasons"] == [
        {"kind": "MUTUAL_FRIENDS", "count": 2, "text": "2 mutual friends"}
    ]
    assert nodes[0]["score"] > 0


async def test_anonymous_gets_nothing(client: GQL) -> None:
    body = await client(PYMK)
    assert body["data"]["peopleYouMayKnow"]["edges"] == []


async def test_never_self_or_friends(client: GQL) -> None:
    lin, _chen, _wang, zhao = await triangle(client)
    assert set(handles(await pymk(client, lin))) == {"zhao"}
    await befriend(client, lin, zhao)
    assert handles(await pymk(client, lin)) == []


async def test_new_friend_disappears_at_once(client: GQL) -> None:
    lin, _, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    await befriend(client, lin, zhao)
    assert handles(await pymk(client, lin)) == []


async def test_blocked_by_viewer_excluded(client: GQL) -> None:
    lin, _, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]  # cache the list first
    await client(BLOCK, {"id": zhao["id"]}, token=lin["token"])
    assert handles(await pymk(client, lin)) == []


async def test_blocked_by_candidate_excluded(client: GQL) -> None:
    lin, _, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    assert handles(await pymk(client, zhao)) == ["lin"]
    await client(BLOCK, {"id": lin["id"]}, token=zhao["token"])
    assert handles(await pymk(client, lin)) == []
    assert "lin" not in handles(await pymk(client, zhao))


async def test_pending_request_from_viewer_excluded(client: GQL) -> None:
    lin, _, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    await send(client, lin, zhao["id"])
    assert handles(await pymk(client, lin)) == []


async def test_pending_request_to_viewer_excluded(client: GQL) -> None:
    lin, _, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    await send(client, zhao, lin["id"])
    assert handles(await pymk(client, lin)) == []


async def test_dismissed_excluded_for_good(client: GQL) -> None:
    lin, _chen, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    body = await client(
        "mutation($id: ID!) { dismissSuggestion(userId: $id) { ok userErrors { code } } }",
        {"id": zhao["id"]},
        token=lin["token"],
    )
    assert body["data"]["dismissSuggestion"]["ok"] is True
    assert handles(await pymk(client, lin)) == []
    # still gone after more evidence arrives
    third = await client.make_user("third")
    await befriend(client, lin, third)
    await befriend(client, zhao, third)
    assert "zhao" not in handles(await pymk(client, lin))


async def test_undiscoverable_excluded(client: GQL) -> None:
    lin, _, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    await client(
        "mutation { updateProfile(input: {discoverable: false}) { userErrors { code } } }",
        token=zhao["token"],
    )
    assert handles(await pymk(client, lin)) == []


async def test_suspended_excluded(client: GQL, graph: Graph, services: Services) -> None:
    lin, _, _, _zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    assert handles(await pymk(client, lin)) == ["zhao"]  # served from the cached list
    await safety.suspend_user(services, (await _ids(graph))["zhao"], suspended=True)
    assert handles(await pymk(client, lin)) == []


async def test_stale_cache_entry_is_rechecked(client: GQL, graph: Graph, redis: Redis) -> None:
    """A list written before a block (say by a slow worker) still never shows the user."""
    lin, _, _, zhao = await triangle(client)
    assert handles(await pymk(client, lin)) == ["zhao"]
    internal = await graph.read("MATCH (u:User) RETURN u.handle AS h, u.id AS id")
    ids = {r["h"]: r["id"] for r in internal.records}
    stale = await redis.get(keys.suggestions(ids["lin"]))
    assert stale is not None and ids["zhao"] in stale
    await client(BLOCK, {"id": zhao["id"]}, token=lin["token"])
    await redis.set(keys.suggestions(ids["lin"]), stale)  # the stale list comes back
    assert handles(await pymk(client, lin)) == []


async def _ids(graph: Graph) -> dict[str, str]:
    result = await graph.read("MATCH (u:User) RETURN u.handle AS h, u.id AS id")
    return {r["h"]: r["id"] for r in result.records}


async def test_contacts_name_only_the_viewers_own_book(client: GQL) -> None:
    lin = await client.make_user("lin", phone="+8613800138001")
    chen = await client.make_user("chen", phone="+8613800138002")
    wang = await client.make_user("wang", phone="+8613800138003")
    upload = "mutation($n: [String!]!) { uploadContacts(phoneNumbers: $n) { matched } }"
    # wang has both lin and chen in the address book
    body = await client(upload, {"n": ["+8613800138001", "+8613800138002"]}, token=wang["token"])
    assert body["data"]["uploadContacts"]["matched"] == 0  # neither has wang's number
    wang_sees = await pymk(client, wang)
    assert sorted(handles(wang_sees)) == ["chen", "lin"]
    assert wang_sees[0]["reasons"] == [
        {"kind": "CONTACT", "count": None, "text": "In your phone contacts"}
    ]
    # lin's own data shows nothing about wang: that wang holds lin's number is wang's
    # secret, so it never suggests wang to lin on its own nor shows as a reason
    assert handles(await pymk(client, lin)) == []
    # and lin and chen are never suggested to each other because wang knows both
    assert handles(await pymk(client, chen)) == []


async def test_the_other_direction_only_ranks(client: GQL) -> None:
    """Holding the viewer's number lifts someone the viewer has another reason for."""
    lin = await client.make_user("lin", phone="+8613800138001")
    chen, dong, wang, zhao = (
        await client.make_user("chen"),
        await client.make_user("dong"),
        await client.make_user("wang", phone="+8613800138003"),
        await client.make_user("zhao", phone="+8613800138004"),
    )
    for friend in (chen, dong):
        await befriend(client, lin, friend)
        await befriend(client, wang, friend)
    await befriend(client, zhao, chen)
    upload = "mutation($n: [String!]!) { uploadContacts(phoneNumbers: $n) { matched } }"
    await client(upload, {"n": ["+8613800138001"]}, token=zhao["token"])
    nodes = await pymk(client, lin)
    # wang shares two friends with lin, zhao one; zhao holds lin's number and ranks first
    assert handles(nodes) == ["zhao", "wang"]
    # but each shows only what lin can see
    assert [n["reasons"] for n in nodes] == [
        [{"kind": "MUTUAL_FRIENDS", "count": 1, "text": "1 mutual friend"}],
        [{"kind": "MUTUAL_FRIENDS", "count": 2, "text": "2 mutual friends"}],
    ]


async def test_payments_and_shared_merchants(client: GQL, graph: Graph) -> None:
    lin = await client.make_user("lin")
    chen = await client.make_user("chen")
    wang = await client.make_user("wang")
    zhao = await client.make_user("zhao")
    await merchants.upsert_merchants(
        graph,
        [
            merchants.UpsertMerchant("m-noodles", "兰州拉面", "dining"),
            merchants.UpsertMerchant("m-clinic", "仁和诊所", "medical"),
        ],
    )
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    body = await client(
        """mutation($input: AdminRecordInteractionsInput!) {
             adminRecordInteractions(input: $input) { accepted userErrors { code } } }""",
        {
            "input": {
                "payments": [
                    {
                        "fromPlatformUserId": lin["platformId"],
                        "toPlatformUserId": chen["platformId"],
                        "at": at.isoformat(),
                    },
                ],
                "visits": [
                    {
                        "platformUserId": u["platformId"],
                        "platformMerchantId": m,
                        "at": at.isoformat(),
                    }
                    for u, m in (
                        (lin, "m-noodles"),
                        (wang, "m-noodles"),
                        (lin, "m-clinic"),
                        (zhao, "m-clinic"),
                    )
                ],
            }
        },
        token=client.admin,
    )
    assert body["data"]["adminRecordInteractions"] == {"accepted": 5, "userErrors": []}
    nodes = {n["user"]["handle"]: n for n in await pymk(client, lin)}
    # the clinic is a sensitive category: zhao is not suggested because of it
    assert set(nodes) == {"chen", "wang"}
    assert nodes["chen"]["reasons"] == [
        {"kind": "PAYMENT", "count": None, "text": "You have paid each other"}
    ]
    assert nodes["wang"]["reasons"] == [
        {"kind": "SHARED_MERCHANT", "count": 1, "text": "1 place you both visit"}
    ]
    # a payment between the two outweighs one shared noodle shop; the score says only
    # which quarter of lin's list each is in, nothing about how much was paid
    assert (nodes["chen"]["score"], nodes["wang"]["score"]) == (1.0, 0.5)
    for node in nodes.values():
        for reason in node["reasons"]:
            assert "兰州" not in reason["text"] and "诊所" not in reason["text"]


async def test_stable_pagination(client: GQL, redis: Redis) -> None:
    lin = await client.make_user("lin")
    hub = await client.make_user("hub")
    await befriend(client, lin, hub)
    for i in range(7):
        await befriend(client, hub, await client.make_user(f"cand_{i}"))
    seen: list[str] = []
    after = None
    while True:
        body = await client(PYMK, {"first": 3, "after": after}, token=lin["token"])
        page = body["data"]["peopleYouMayKnow"]
        seen += [e["node"]["user"]["handle"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        # the cursor is (place in the list, user id): no score travels in it
        position, _user_id = decode_cursor(after, int, str) or ()
        assert position == len(seen) - 1
        # a recomputation between pages does not move the cursor's place
        await redis.flushdb()
    assert sorted(seen) == [f"cand_{i}" for i in range(7)]
    assert len(seen) == len(set(seen))


async def test_cached_pages_walk_past_candidates_hidden_since(
    client: GQL, graph: Graph, redis: Redis
) -> None:
    """A page re-checks the cached list a chunk at a time; when most of a chunk went
    undiscoverable after the list was stored, the page goes on into the next ones."""
    lin = await client.make_user("lin")
    hub = await client.make_user("hub")
    await befriend(client, lin, hub)
    cands = [await client.make_user(f"cand_{i:02d}") for i in range(14)]
    for cand in cands:
        await befriend(client, cand, hub)  # hub's own requests would hit its rate limit
    listed = handles(await pymk(client, lin, first=20))
    assert sorted(listed) == [f"cand_{i:02d}" for i in range(14)]
    assert await redis.exists(keys.suggestions((await _ids(graph))["lin"]))
    hidden = set(listed[:10])
    for cand in cands:
        if cand["handle"] in hidden:
            await client(
                "mutation { updateProfile(input: {discoverable: false}) { userErrors { code } } }",
                token=cand["token"],
            )
    seen: list[str] = []
    after = None
    while True:
        body = await client(PYMK, {"first": 3, "after": after}, token=lin["token"])
        page = body["data"]["peopleYouMayKnow"]
        seen += [e["node"]["user"]["handle"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == listed[10:]  # in the list's order, none twice, none hidden


async def test_bad_cursor_is_a_client_error(client: GQL) -> None:
    lin = await client.make_user("lin")
    body = await client(PYMK, {"after": "not-a-cursor"}, token=lin["token"])
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    for forged in (encode_cursor(-1, "x"), encode_cursor(0.5, "x"), encode_cursor(3)):
        body = await client(PYMK, {"after": forged}, token=lin["token"])
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", forged


async def test_list_is_cached_and_refreshed_by_the_worker_job(
    client: GQL, graph: Graph, redis: Redis, services: Services
) -> None:
    lin, _chen, _, _zhao = await triangle(client)
    await pymk(client, lin)
    ids = await _ids(graph)
    cached = json.loads(await redis.get(keys.suggestions(ids["lin"])))
    assert [item[0] for item in cached["items"]] == [ids["zhao"]]

    # a neighbourhood change (lin's new friend, who has a friend) drops the list and
    # queues a refresh
    third, fourth = await client.make_user("third"), await client.make_user("fourth")
    await befriend(client, third, fourth)
    await befriend(client, lin, third)
    ids = await _ids(graph)
    assert await redis.get(keys.suggestions(ids["lin"])) is None
    entries = await redis.xrange(keys.JOBS_STREAM)
    queued = [
        json.loads(fields["payload"])
        for _, fields in entries
        if fields["kind"] == jobs.PYMK_REFRESH
    ]
    assert any(ids["lin"] in job["users"] for job in queued)

    # the handler recomputes it for active users (lin read lately; third never did)
    await suggestions.refresh(
        services, Job("1-0", jobs.PYMK_REFRESH, {"users": [ids["lin"], ids["third"]]}, 1)
    )
    refreshed = json.loads(await redis.get(keys.suggestions(ids["lin"])))
    assert {item[0] for item in refreshed["items"]} == {ids["zhao"], ids["fourth"]}
    assert await redis.get(keys.suggestions(ids["third"])) is None


async def test_user_without_friends_gets_suggestions_from_other_sources(
    client: GQL, services: Services
) -> None:
    lin = await client.make_user("lin")
    chen = await client.make_user("chen")
    payment = interactions.Payment(
        chen["platformId"], lin["platformId"], datetime(2026, 10, 1, tzinfo=UTC)
    )
    await record_interactions(services, [payment], [])
    assert handles(await pymk(client, lin)) == ["chen"]


CREATE_CIRCLE = """mutation($input: CreateCircleInput!) { createCircle(input: $input) {
  circle { id } userErrors { code } } }"""
JOIN = "mutation($id: ID!) { joinCircle(circleId: $id) { userErrors { code } } }"


async def test_shared_circles_suggest_and_smaller_circles_weigh_more(client: GQL) -> None:
    lin = await client.make_user("lin")
    small_peer = await client.make_user("small_peer")
    big_peers = [await client.make_user(f"big_{i}") for i in range(6)]

    async def circle(owner: dict[str, Any], name: str, visibility: str) -> str:
        policy = "INVITE" if visibility == "PRIVATE" else "OPEN"
        body = await client(
            CREATE_CIRCLE,
            {"input": {"name": name, "visibility": visibility, "joinPolicy": policy}},
            token=owner["token"],
        )
        circle_id: str = body["data"]["createCircle"]["circle"]["id"]
        return circle_id

    small = await circle(small_peer, "读书会", "SEMI_PUBLIC")
    big = await circle(big_peers[0], "望京跑团", "PUBLIC")
    await client(JOIN, {"id": small}, token=lin["token"])
    for user in (lin, *big_peers[1:]):
        await client(JOIN, {"id": big}, token=user["token"])

    nodes = await pymk(client, lin)
    by_handle = {n["user"]["handle"]: n for n in nodes}
    assert set(by_handle) == {"small_peer", *(u["handle"] for u in big_peers)}
    assert nodes[0]["user"]["handle"] == "small_peer"
    assert by_handle["small_peer"]["reasons"] == [
        {"kind": "SHARED_CIRCLE", "count": 1, "text": "1 circle in common"}
    ]
    for node in nodes:
        assert all("读书会" not in r["text"] and "跑团" not in r["text"] for r in node["reasons"])


PYMK_PAGE = """query { peopleYouMayKnow(first: 10) { edges { node { score
  user { id handle displayName } reasons { kind count text } } } } }"""


async def test_cached_page_costs_no_neo4j_round_trip(
    client: GQL, graph: Graph, round_trips: RoundTrips
) -> None:
    lin, _chen, _wang, zhao = await triangle(client)
    first = await client(PYMK_PAGE, token=lin["token"])  # computes and caches the list
    with round_trips.counting() as trips:
        second = await client(PYMK_PAGE, token=lin["token"])
    assert second == first
    assert [e["node"]["user"]["handle"] for e in second["data"]["peopleYouMayKnow"]["edges"]] == [
        "zhao"
    ]
    assert trips.sessions == 0, (trips.sessions, trips.calls)
    # a write that hides zhao (a block) bumps the version: the next page asks Neo4j again
    await client(BLOCK, {"id": zhao["id"]}, token=lin["token"])
    with round_trips.counting() as trips:
        third = await client(PYMK_PAGE, token=lin["token"])
    assert third["data"]["peopleYouMayKnow"]["edges"] == []
    assert trips.sessions > 0


async def test_list_computed_before_a_write_is_not_served_after_it(
    client: GQL, graph: Graph, redis: Redis, services: Services
) -> None:
    """A slow refresh that read the graph before a block, and stores after it, stores a
    list of the older version: it is recomputed, never shown."""
    lin, _, _, zhao = await triangle(client)
    ids = await _ids(graph)
    version = await suggestions.current_version(redis, ids["lin"])
    slow = await suggestions.compute_entry(services, ids["lin"], version)  # before the block
    await client(BLOCK, {"id": zhao["id"]}, token=lin["token"])
    await suggestions.store(redis, ids["lin"], slow)  # ... stored after it
    assert ids["zhao"] in (await redis.get(keys.suggestions(ids["lin"])) or "")
    assert handles(await pymk(client, lin)) == []


HUB_FRIENDS = 120


async def hub_with_friends(graph: Graph) -> None:
    """A viewer with HUB_FRIENDS friends f000.. (f119 the newest), each with one friend
    c000.. of their own whom only they lead to, who has a friend d000.. (three steps)."""
    await graph.write(
        """
        CREATE (h:User {id: 'hub', platformId: 'hub', handle: 'hub', handleKey: 'hub',
                        displayName: 'Hub', discoverable: true, trustScore: 500,
                        createdAt: datetime()})
        WITH h
        UNWIND range(0, $n - 1) AS i
        WITH h, i, right('00' + toString(i), 3) AS k
        CREATE (f:User {id: 'f' + k, platformId: 'f' + k, handle: 'f' + k,
                        handleKey: 'f' + k, displayName: 'F', discoverable: true,
                        trustScore: 500, createdAt: datetime()})
        CREATE (c:User {id: 'c' + k, platformId: 'c' + k, handle: 'c' + k,
                        handleKey: 'c' + k, displayName: 'C', discoverable: true,
                        trustScore: 500, createdAt: datetime()})
        CREATE (h)-[:FRIEND {since: datetime('2026-01-01T00:00:00Z') + duration({days: i})}]->(f)
        CREATE (d:User {id: 'd' + k, platformId: 'd' + k, handle: 'd' + k,
                        handleKey: 'd' + k, displayName: 'D', discoverable: true,
                        trustScore: 500, createdAt: datetime()})
        CREATE (f)-[:FRIEND {since: datetime('2025-01-01T00:00:00Z')}]->(c)
        CREATE (c)-[:FRIEND {since: datetime('2025-01-01T00:00:00Z')}]->(d)
        """,
        n=HUB_FRIENDS,
    )


async def test_hub_viewer_scans_only_its_newest_friends(graph: Graph, clean: None) -> None:
    """A hub's friends of friends come through its newest ``max_scanned_friends`` friends
    (a degree per friend of 60,000 took seconds); under the cap nothing changes. The
    model's two-step features follow the same rule."""
    from graph.pymk_features import pair_features
    from graph.suggestions import SuggestionConfig, compute_suggestions

    await hub_with_friends(graph)
    everyone = {f"c{i:03d}" for i in range(HUB_FRIENDS)}
    newest = {f"c{i:03d}" for i in range(HUB_FRIENDS - 50, HUB_FRIENDS)}

    uncapped = await compute_suggestions(graph, "hub", limit=500, config=SuggestionConfig())
    assert {s.user_id for s in uncapped} == everyone

    capped_config = SuggestionConfig(max_scanned_friends=50)
    capped = await compute_suggestions(graph, "hub", limit=500, config=capped_config)
    assert {s.user_id for s in capped} == newest
    assert all(r.kind == "MUTUAL_FRIENDS" and r.count == 1 for s in capped for r in s.reasons)

    async def lp3(max_scanned: int) -> dict[str, float]:
        features = await pair_features(
            graph,
            "hub",
            ["d000", "d119"],
            hub_cap=300,
            max_intermediaries=400,
            max_scanned=max_scanned,
            sensitive=[],
            now=datetime(2026, 12, 1, tzinfo=UTC),
        )
        return {c: v["lp3"] for c, v in features.items()}

    assert (await lp3(2000))["d000"] > 0
    capped_lp3 = await lp3(50)
    assert capped_lp3["d119"] > 0 and capped_lp3["d000"] == 0


async def test_mutual_counts_are_exact_whichever_side_has_more_friends(
    graph: Graph, clean: None
) -> None:
    """The source leaves intermediaries out here; the reason still counts all three
    mutual friends, from the hub's side (120 friends) and from the candidate's (4)."""
    from graph.suggestions import SuggestionConfig, compute_suggestions

    await hub_with_friends(graph)
    await graph.write(
        "MATCH (c:User {id: 'c005'}), (f:User) WHERE f.id IN ['f006', 'f007'] "
        "CREATE (f)-[:FRIEND {since: datetime('2025-01-01T00:00:00Z')}]->(c)"
    )
    # the least connected first: f006 or f007 (three friends each) is left out
    most = SuggestionConfig(max_intermediaries=HUB_FRIENDS - 2)
    two = SuggestionConfig(max_intermediaries=2)  # d005 and f005: the hub through one

    def mutual(found: list[Any], who: str) -> int | None:
        (s,) = [s for s in found if s.user_id == who]
        return next(r.count for r in s.reasons if r.kind == "MUTUAL_FRIENDS")

    from_hub = await compute_suggestions(graph, "hub", limit=500, config=most)
    assert mutual(from_hub, "c005") == 3
    from_candidate = await compute_suggestions(graph, "c005", limit=500, config=two)
    assert mutual(from_candidate, "hub") == 3


async def test_hub_viewer_gets_suggestions_through_the_api(client: GQL, graph: Graph) -> None:
    await hub_with_friends(graph)
    token = client.token("hub")
    nodes = (
        await client(
            "{ peopleYouMayKnow(first: 10) { edges { node { user { handle } } } } }",
            token=token,
        )
    )["data"]["peopleYouMayKnow"]["edges"]
    assert len(nodes) == 10
    assert all(e["node"]["user"]["handle"].startswith("c") for e in nodes)
