"""Merchant insights through the public API: thresholds, differencing, releases kept per
snapshot, the daily budget, radius bounds, who may ask, suspended accounts, Redis failing.

Worlds of a few hundred people are written with UNWIND Cypher in the shapes the product
writes (users as ``graph/users.py``, ``VISITED {at}`` as ``graph/interactions.py``,
circles and ``MEMBER_OF`` as ``graph/circles.py``); merchants and staff go through
``adminUpsertMerchant``. Snapshots are forced with ``quanzi insights refresh``, as an
operator would.

About noise, so that nothing here is flaky: a bucket is released only when its noised
count clears the privacy threshold T plus a margin m (``workers/privacy.py``), m chosen so
that Laplace noise of scale b exceeds it with probability 1e-9 (at the defaults T = 50,
b = 2: m = 41, the mechanism's threshold is 91). So a bucket of 49 (or 60) real people
appears with probability below 1e-9 per bucket, and a bucket of 120 people is missing
only when the noise is below -29: probability exp(-14.5)/2, about 2.5e-7 per bucket.
Those two facts carry every "appears" and "never appears" below; no assertion relies on
two noised numbers being different.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from strawberry.relay import to_base64

from api.settings import Settings
from graph.driver import Graph
from tests.conftest import GQL, Processes, wait_for
from tests.test_redis_outage import outage  # noqa: F401  (a fixture)
from workers import insights, keys
from workers.services import Services

UPSERT_MERCHANT = """mutation($input: AdminUpsertMerchantInput!) {
  adminUpsertMerchant(input: $input) { merchant { id } userErrors { code field } } }"""
SUSPEND = """mutation($u: ID!) { adminSuspendUser(userId: $u, suspended: true) {
  userErrors { code } } }"""

PROFILE = """query($m: ID!) { merchantInsights(merchantId: $m) {
  merchant { id name } audienceSize privacyThreshold computedAt
  interests { key count } activeHours { key count } } }"""
FULL = """query($m: ID!) { merchantInsights(merchantId: $m) {
  merchant { id } audienceSize privacyThreshold computedAt customersServed(days: 30)
  interests { key count } activeHours { key count } } }"""
SERVED = """query($m: ID!, $d: Int) { merchantInsights(merchantId: $m) {
  computedAt customersServed(days: $d) } }"""
AREA = """query($m: ID!, $lat: Float!, $lon: Float!, $r: Int!) {
  areaInsights(merchantId: $m, near: {latitude: $lat, longitude: $lon}, radiusMeters: $r) {
    audienceSize privacyThreshold computedAt interests { key count } activeHours { key count }
  } }"""

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Merchants around Shanghai's People's Square; FAR is about 3 km east of HERE.
HERE = (31.2304, 121.4737)
NEAR = (31.2310, 121.4745)  # about 100 m from HERE
FAR = (31.2304, 121.5050)


def at_local_hour(hour: int, days_ago: int) -> datetime:
    """A visit time at ``hour`` o'clock in Shanghai, ``days_ago`` days back, as UTC."""
    local = datetime.now(SHANGHAI).replace(hour=hour, minute=15, second=0, microsecond=0)
    return (local - timedelta(days=days_ago)).astimezone(UTC)


class World:
    """Builds people, merchants, circles and events for one test."""

    def __init__(self, client: GQL, graph: Graph) -> None:
        self.client = client
        self.graph = graph
        self.tag = uuid.uuid4().hex[:6]

    async def merchant(
        self,
        name: str,
        category: str,
        where: tuple[float, float] = HERE,
        staff: list[dict[str, Any]] | None = None,
    ) -> dict[str, str]:
        """A merchant through adminUpsertMerchant; returns its global id and platform id."""
        platform_id = f"m-{self.tag}-{name}"
        body = await self.client(
            UPSERT_MERCHANT,
            {
                "input": {
                    "platformId": platform_id,
                    "name": name,
                    "category": category,
                    "location": {"latitude": where[0], "longitude": where[1]},
                    "staffPlatformUserIds": [s["platformId"] for s in staff or []],
                }
            },
            token=self.client.admin,
        )
        payload = body["data"]["adminUpsertMerchant"]
        assert payload["userErrors"] == [], payload
        return {"id": payload["merchant"]["id"], "platformId": platform_id}

    async def people(self, count: int, label: str) -> list[str]:
        """``count`` users as graph/users.py writes them; returns their internal ids."""
        rows = [
            {
                "id": f"{self.tag}{label}{i:04d}",
                "platformId": f"p-{self.tag}-{label}-{i}",
                "handle": f"h_{self.tag}_{label}_{i}",
            }
            for i in range(count)
        ]
        await self.graph.write(
            """
            UNWIND $rows AS r
            CREATE (:User {id: r.id, platformId: r.platformId, handle: r.handle,
                    handleKey: toLower(r.handle), displayName: 'Person ' + r.handle,
                    trustScore: 500, discoverable: true, suspended: false,
                    createdAt: datetime() - duration('P200D'),
                    updatedAt: datetime() - duration('P200D')})
            """,
            rows=rows,
        )
        return [r["id"] for r in rows]

    async def visit(self, users: list[str], merchant: dict[str, str], at: datetime) -> None:
        await self.graph.write(
            """
            MATCH (m:Merchant {platformId: $merchant})
            UNWIND $users AS uid
            MATCH (u:User {id: uid})
            MERGE (u)-[:VISITED {at: $at}]->(m)
            """,
            merchant=merchant["platformId"],
            users=users,
            at=at,
        )

    async def circle(self, service: str, host: dict[str, str] | None = None) -> str:
        """A circle about ``service`` (hosted by ``host`` when given); returns its id."""
        circle_id = f"c-{self.tag}-{uuid.uuid4().hex[:6]}"
        await self.graph.write(
            """
            OPTIONAL MATCH (m:Merchant {platformId: $host})
            CREATE (c:Circle {id: $id, name: $service + ' circle', description: '',
                    visibility: 'PUBLIC', joinPolicy: 'OPEN', minTrustScore: 0,
                    customersOnly: false, service: $service, memberCount: 0,
                    location: m.location, createdAt: datetime(), updatedAt: datetime()})
            FOREACH (_ IN CASE WHEN m IS NULL THEN [] ELSE [1] END |
                     CREATE (c)-[:HOSTED_BY]->(m))
            """,
            id=circle_id,
            service=service,
            host=host["platformId"] if host else None,
        )
        return circle_id

    async def join(self, users: list[str], circle_id: str) -> None:
        await self.graph.write(
            """
            MATCH (c:Circle {id: $circle})
            UNWIND $users AS uid
            MATCH (u:User {id: uid})
            CREATE (u)-[:MEMBER_OF {state: 'MEMBER', role: 'MEMBER', since: datetime(),
                    updatedAt: datetime()}]->(c)
            WITH c, count(*) AS joined
            SET c.memberCount = c.memberCount + joined
            """,
            circle=circle_id,
            users=users,
        )


@pytest.fixture
def world(client: GQL, graph: Graph) -> World:
    return World(client, graph)


async def refresh() -> str:
    """``quanzi insights refresh`` in a subprocess, as an operator runs it."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "api.cli", "insights", "refresh"],
        env={**os.environ, "QUANZI_LOG_LEVEL": "warning"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "insights snapshot" in done.stdout, done.stdout
    return done.stdout


async def ask(client: GQL, query: str, token: str, **variables: Any) -> dict[str, Any]:
    body = await client(query, variables, token=token)
    assert "errors" not in body, body
    return body


def data(body: dict[str, Any], field: str = "merchantInsights") -> Any:
    return body["data"][field]


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def keys_of(buckets: list[dict[str, Any]]) -> set[str]:
    return {b["key"] for b in buckets}


async def staffed_merchant(
    client: GQL, world: World, name: str = "noodles", category: str = "restaurant"
) -> tuple[dict[str, str], dict[str, Any]]:
    staff = await client.make_user(f"staff_{world.tag}_{name}")
    merchant = await world.merchant(name, category, staff=[staff])
    return merchant, staff


# ---------------------------------------------------------------- thresholds


async def test_a_bucket_of_49_never_appears_and_one_of_120_does(client: GQL, world: World) -> None:
    merchant, staff = await staffed_merchant(client, world)
    cafe = await world.merchant("beans", "cafe")
    clinic = await world.merchant("clinic", "medical")
    hosted = await world.circle("noodle lovers", host=merchant)
    yoga = await world.circle("yoga")

    customers = await world.people(60, "cust")  # visit the merchant itself
    members = await world.people(60, "memb")  # only in its circle: audience, not customers
    everyone = customers + members
    await world.visit(customers, merchant, at_local_hour(12, days_ago=2))
    await world.join(members, hosted)
    await world.visit(everyone, cafe, at_local_hour(9, days_ago=3))  # cafe, 9 h: 120
    await world.visit(everyone, clinic, at_local_hour(16, days_ago=4))  # sensitive: 120
    await world.join(everyone[:49], yoga)  # yoga: 49
    await world.visit(everyone[:49], cafe, at_local_hour(21, days_ago=5))  # 21 h: 49
    await refresh()

    found = data(await ask(client, FULL, staff["token"], m=merchant["id"]))
    threshold = found["privacyThreshold"]
    assert threshold == 50
    assert found["audienceSize"] is not None and found["audienceSize"] >= threshold  # 120
    assert "cafe" in keys_of(found["interests"])  # 120 people
    assert "yoga" not in keys_of(found["interests"])  # 49 people
    assert "medical" not in keys_of(found["interests"])  # 120, but sensitive
    assert "noodle lovers" not in keys_of(found["interests"])  # its own circle is not "other"
    hours = keys_of(found["activeHours"])
    assert "9" in hours and "21" not in hours  # 120 and 49 people
    assert found["customersServed"] is None  # 60 customers: members are not customers
    counts = [b["count"] for b in found["interests"] + found["activeHours"]]
    assert counts and min(counts) >= threshold  # a released number is never below it
    assert [b["count"] for b in found["interests"]] == sorted(
        (b["count"] for b in found["interests"]), reverse=True
    )


async def test_the_threshold_is_configurable_but_never_below_20() -> None:
    assert Settings(insights_privacy_threshold=20).insights_privacy_threshold == 20
    with pytest.raises(ValidationError):
        Settings(insights_privacy_threshold=19)
    margin = insights.Mechanism(2.0, 50).release_threshold - 50
    assert margin == math.ceil(2.0 * math.log(1 / (2 * 1e-9)))  # 41 at the defaults


# ---------------------------------------------------------------- differencing


async def test_one_person_with_a_rare_interest_is_revealed_by_no_answer(
    client: GQL, world: World, services: Services
) -> None:
    merchant, staff = await staffed_merchant(client, world)
    books = await world.merchant("pages", "bookshop", where=NEAR)
    regulars = await world.people(130, "reg")
    await world.visit(regulars, merchant, at_local_hour(19, days_ago=1))
    await world.visit(regulars, books, at_local_hour(19, days_ago=2))
    await refresh()
    token = staff["token"]
    area = {"m": merchant["id"], "lat": HERE[0], "lon": HERE[1], "r": 500}
    before = await ask(client, FULL, token, m=merchant["id"])
    area_before = await ask(client, AREA, token, **area)
    spent = await insights.spent_today(services, internal(merchant["id"]))

    # The person the merchant would like to learn about: a falconer who visits at 3 am.
    (falconer,) = await world.people(1, "rare")
    await world.visit([falconer], merchant, at_local_hour(3, days_ago=0))
    falconry = await world.circle("falconry")
    await world.join([falconer], falconry)
    kites = await world.merchant("kites", "kite flying", where=NEAR)
    await world.visit([falconer], kites, at_local_hour(3, days_ago=0))

    # Asked again in the same snapshot: the very same answers, and no budget spent.
    assert await ask(client, FULL, token, m=merchant["id"]) == before
    assert await ask(client, AREA, token, **area) == area_before
    assert await insights.spent_today(services, internal(merchant["id"])) == spent

    # In the next snapshot, nothing released singles them out.
    await refresh()
    after = await ask(client, FULL, token, m=merchant["id"])
    area_after = await ask(client, AREA, token, **area)
    for body, field in ((after, "merchantInsights"), (area_after, "areaInsights")):
        found = data(body, field)
        assert found["audienceSize"] is not None  # 131 people: still answered
        assert {"falconry", "kite flying"}.isdisjoint(keys_of(found["interests"]))
        assert "3" not in keys_of(found["activeHours"])
        assert "bookshop" in keys_of(found["interests"])
        text = json.dumps(body)
        for trace in (falconer, f"p-{world.tag}-rare-0", f"h_{world.tag}_rare_0"):
            assert trace not in text
        assert to_base64("User", falconer) not in text


def internal(global_id: str) -> str:
    from strawberry.relay import GlobalID

    return GlobalID.from_id(global_id).node_id


# ---------------------------------------------------------------- releases and budget


async def test_the_same_question_twice_in_one_snapshot_is_one_release_and_one_charge(
    client: GQL, world: World, services: Services, redis: Redis
) -> None:
    merchant, staff = await staffed_merchant(client, world)
    people = await world.people(150, "p")
    await world.visit(people, merchant, at_local_hour(11, days_ago=1))
    await refresh()
    mid = internal(merchant["id"])
    assert await insights.spent_today(services, mid) == 0

    first = await ask(client, FULL, staff["token"], m=merchant["id"])
    assert data(first)["customersServed"] is not None  # 150 served in 30 days
    charged = insights.profile_cost(services).epsilon + insights.served_cost(services).epsilon
    assert await insights.spent_today(services, mid) == pytest.approx(charged, abs=1e-5)

    second = await ask(client, FULL, staff["token"], m=merchant["id"])
    admin_view = await ask(client, FULL, client.admin, m=merchant["id"])
    assert second == first == admin_view  # an admin asking is the same question
    assert await insights.spent_today(services, mid) == pytest.approx(charged, abs=1e-5)

    # Another value of `days` is another question: answered and charged once more.
    other = await ask(client, SERVED, staff["token"], m=merchant["id"], d=7)
    assert data(other)["customersServed"] is not None
    charged += insights.served_cost(services).epsilon
    assert await insights.spent_today(services, mid) == pytest.approx(charged, abs=1e-5)

    # Asked by many at once for the first time: one release, one charge.
    variables = {"m": merchant["id"], "lat": HERE[0], "lon": HERE[1], "r": 800}
    racing = await asyncio.gather(
        *(client(AREA, variables, token=staff["token"]) for _ in range(6))
    )
    assert all(body == racing[0] and "errors" not in body for body in racing)
    charged += insights.profile_cost(services).epsilon
    assert await insights.spent_today(services, mid) == pytest.approx(charged, abs=1e-5)

    # A selection without any noised number releases (and charges) nothing.
    await ask(
        client,
        "query($m: ID!) { merchantInsights(merchantId: $m) { computedAt } }",
        staff["token"],
        m=merchant["id"],
    )
    assert await insights.spent_today(services, mid) == pytest.approx(charged, abs=1e-5)


async def test_a_new_snapshot_is_a_new_release(
    client: GQL, world: World, services: Services, redis: Redis
) -> None:
    merchant, staff = await staffed_merchant(client, world)
    people = await world.people(150, "p")
    await world.visit(people, merchant, at_local_hour(11, days_ago=1))
    await refresh()
    mid = internal(merchant["id"])
    first = data(await ask(client, PROFILE, staff["token"], m=merchant["id"]))
    one = insights.profile_cost(services).epsilon
    assert await insights.spent_today(services, mid) == pytest.approx(one, abs=1e-5)

    await refresh()
    second = data(await ask(client, PROFILE, staff["token"], m=merchant["id"]))
    assert datetime.fromisoformat(second["computedAt"]) > datetime.fromisoformat(
        first["computedAt"]
    )
    assert await insights.spent_today(services, mid) == pytest.approx(2 * one, abs=1e-5)
    current = json.loads(await redis.get(keys.INSIGHTS_CURRENT) or "{}")
    releases = [k async for k in redis.scan_iter(match=f"qz:{{im:{mid}}}:rel:*")]
    assert len(releases) == 2  # one per snapshot
    assert sum(str(current["id"]) in k for k in releases) == 1


async def test_a_question_beyond_the_daily_budget_is_rate_limited(
    client: GQL, world: World, services: Services
) -> None:
    merchant, staff = await staffed_merchant(client, world)
    people = await world.people(100, "p")
    await world.visit(people, merchant, at_local_hour(11, days_ago=1))
    await refresh()
    cost = insights.profile_cost(services).epsilon
    affordable = math.floor(
        services.settings.insights_daily_epsilon * insights.MICRO / math.ceil(cost * insights.MICRO)
    )
    assert affordable >= 1
    radii = [200 + 100 * i for i in range(affordable + 1)]  # each radius: a new question
    answers = []
    for r in radii[:-1]:
        body = await ask(
            client, AREA, staff["token"], m=merchant["id"], lat=HERE[0], lon=HERE[1], r=r
        )
        answers.append(body)
    refused = await client(
        AREA,
        {"m": merchant["id"], "lat": HERE[0], "lon": HERE[1], "r": radii[-1]},
        token=staff["token"],
    )
    assert codes(refused) == ["RATE_LIMITED"]
    assert refused["data"]["areaInsights"] is None
    assert refused["extensions"]["rateLimit"]["retryAfterSeconds"] >= 1
    # What was answered still answers, identically, without spending anything.
    again = await ask(
        client, AREA, staff["token"], m=merchant["id"], lat=HERE[0], lon=HERE[1], r=radii[0]
    )
    assert again == answers[0]
    # The profile is a new question too: refused as well.
    assert codes(await client(PROFILE, {"m": merchant["id"]}, token=staff["token"])) == [
        "RATE_LIMITED"
    ]


# ---------------------------------------------------------------- areas


async def test_an_area_counts_the_people_who_visit_merchants_inside_it_once(
    client: GQL, world: World
) -> None:
    planner, staff = await staffed_merchant(client, world, "planner", "restaurant")
    inside_a = await world.merchant("tea", "tea house", where=HERE)
    inside_b = await world.merchant("gym", "fitness", where=NEAR)
    outside = await world.merchant("far", "karaoke", where=FAR)
    both = await world.people(60, "both")  # visit two merchants inside: one person each
    await world.visit(both, inside_a, at_local_hour(8, days_ago=1))
    await world.visit(both, inside_b, at_local_hour(18, days_ago=1))
    away = await world.people(120, "away")
    await world.visit(away, outside, at_local_hour(22, days_ago=1))
    await refresh()
    query = {"m": planner["id"], "lat": HERE[0], "lon": HERE[1], "r": 500}
    found = data(await ask(client, AREA, staff["token"], **query), "areaInsights")
    assert found["audienceSize"] is None  # 60 people, not 120 visits
    assert "karaoke" not in keys_of(found["interests"])  # 3 km away

    more = await world.people(70, "more")
    await world.visit(more, inside_a, at_local_hour(8, days_ago=2))
    await refresh()
    found = data(await ask(client, AREA, staff["token"], **query), "areaInsights")
    assert found["audienceSize"] is not None  # 130 people
    assert "tea house" in keys_of(found["interests"])  # 130
    assert "8" in keys_of(found["activeHours"])  # 130
    assert "karaoke" not in keys_of(found["interests"])
    assert found["privacyThreshold"] == 50
    far = data(
        await ask(client, AREA, staff["token"], m=planner["id"], lat=FAR[0], lon=FAR[1], r=300),
        "areaInsights",
    )
    assert far["audienceSize"] is not None and "karaoke" in keys_of(far["interests"])


@pytest.mark.parametrize("radius", [0, 199, 5001, 100_000])
async def test_a_radius_out_of_bounds_is_a_clear_error(
    client: GQL, world: World, radius: int
) -> None:
    merchant, staff = await staffed_merchant(client, world)
    await refresh()
    body = await client(
        AREA,
        {"m": merchant["id"], "lat": HERE[0], "lon": HERE[1], "r": radius},
        token=staff["token"],
    )
    assert codes(body) == ["INVALID_INPUT"]
    assert "radiusMeters must be between 200 and 5000" in body["errors"][0]["message"]
    assert body["data"]["areaInsights"] is None
    for ok in (200, 5000):
        fine = await ask(
            client, AREA, staff["token"], m=merchant["id"], lat=HERE[0], lon=HERE[1], r=ok
        )
        assert data(fine, "areaInsights")["privacyThreshold"] == 50
    bad_point = await client(
        AREA, {"m": merchant["id"], "lat": 91.0, "lon": HERE[1], "r": 500}, token=staff["token"]
    )
    assert codes(bad_point) == ["INVALID_INPUT"]


# ---------------------------------------------------------------- access


async def test_only_the_merchants_staff_and_admins_may_ask(
    client: GQL, world: World, graph: Graph
) -> None:
    merchant, staff = await staffed_merchant(client, world, "ours")
    _, other_staff = await staffed_merchant(client, world, "theirs")
    hosted = await world.circle("regulars", host=merchant)
    member = await client.make_user(f"member_{world.tag}")
    await world.join([member["id"]], hosted)
    people = await world.people(120, "p")
    await world.visit(people, merchant, at_local_hour(11, days_ago=1))
    await refresh()

    area = {"lat": HERE[0], "lon": HERE[1], "r": 500}
    for token in (staff["token"], client.admin):
        found = data(await ask(client, PROFILE, token, m=merchant["id"]))
        assert found["merchant"]["id"] == merchant["id"]
        assert found["audienceSize"] is not None
        assert data(await ask(client, AREA, token, m=merchant["id"], **area), "areaInsights")

    unknown = to_base64("Merchant", "no-such-merchant")
    not_a_merchant = to_base64("Circle", hosted)
    hidden = []
    for token in (other_staff["token"], member["token"], None):
        for mid in (merchant["id"], unknown, not_a_merchant, "garbage"):
            hidden.append(await client(PROFILE, {"m": mid}, token=token))
            # a bad radius too: the viewer learns nothing, not even that it was wrong
            hidden.append(await client(AREA, {"m": mid, **area, "r": 1}, token=token))
    hidden.append(await client(PROFILE, {"m": unknown}, token=client.admin))
    hidden.append(await client(AREA, {"m": unknown, **area}, token=client.admin))
    for body in hidden:
        assert "errors" not in body, body
        assert set(body["data"].values()) == {None}
    # An unknown id reads exactly like a forbidden one.
    forbidden = await client(PROFILE, {"m": merchant["id"]}, token=other_staff["token"])
    missing = await client(PROFILE, {"m": unknown}, token=other_staff["token"])
    assert forbidden == missing == {"data": {"merchantInsights": None}}


# ---------------------------------------------------------------- suspended accounts


async def test_suspended_accounts_never_count(client: GQL, world: World) -> None:
    merchant, staff = await staffed_merchant(client, world)
    karaoke = await world.merchant("sing", "karaoke", where=NEAR)
    people = []
    for i in range(120):  # real accounts, so that the admin can suspend them
        people.append(await client.make_user(f"s_{world.tag}_{i}"))
    ids = [p["id"] for p in people]
    ids = [internal(i) for i in ids]
    await world.visit(ids, merchant, at_local_hour(10, days_ago=1))
    await world.visit(ids, karaoke, at_local_hour(23, days_ago=1))
    await refresh()
    before = data(await ask(client, FULL, client.admin, m=merchant["id"]))
    assert before["audienceSize"] is not None and before["customersServed"] is not None
    assert "karaoke" in keys_of(before["interests"])

    for person in people[:80]:
        body = await client(SUSPEND, {"u": person["id"]}, token=client.admin)
        assert body["data"]["adminSuspendUser"]["userErrors"] == []
    await refresh()
    after = data(await ask(client, FULL, client.admin, m=merchant["id"]))
    assert after["audienceSize"] is None  # 40 accounts left
    assert after["customersServed"] is None
    assert after["interests"] == [] and after["activeHours"] == []
    area = data(
        await ask(client, AREA, staff["token"], m=merchant["id"], lat=HERE[0], lon=HERE[1], r=500),
        "areaInsights",
    )
    assert area["audienceSize"] is None and area["interests"] == []


# ---------------------------------------------------------------- snapshots, failure


async def test_a_worker_recomputes_the_snapshot_every_refresh_period(
    client: GQL, world: World, redis: Redis, procs: Processes
) -> None:
    merchant, staff = await staffed_merchant(client, world)
    before = await client(PROFILE, {"m": merchant["id"]}, token=staff["token"])
    assert codes(before) == ["UNAVAILABLE"]  # no snapshot yet: nothing is released

    procs.worker(QUANZI_INSIGHTS_REFRESH_SECONDS="2")

    async def snapshot_id() -> str | None:
        raw = await redis.get(keys.INSIGHTS_CURRENT)
        return str(json.loads(raw)["id"]) if raw else None

    async def published() -> bool:
        return await snapshot_id() is not None

    await wait_for(published, "the worker's first snapshot")
    first = await snapshot_id()

    async def replaced() -> bool:
        return await snapshot_id() not in (None, first)

    await wait_for(replaced, "the worker's next snapshot", limit=60)
    found = await ask(client, PROFILE, staff["token"], m=merchant["id"])
    assert data(found)["audienceSize"] is None  # nobody yet: null, never a zero


async def test_insights_fail_closed_while_redis_is_down(
    client: GQL,
    world: World,
    services: Services,
    outage: Any,  # noqa: F811
) -> None:
    merchant, staff = await staffed_merchant(client, world)
    people = await world.people(120, "p")
    await world.visit(people, merchant, at_local_hour(11, days_ago=1))
    await refresh()
    await outage.stop()
    try:
        refused = await client(PROFILE, {"m": merchant["id"]}, token=staff["token"])
        area = await client(
            AREA,
            {"m": merchant["id"], "lat": HERE[0], "lon": HERE[1], "r": 500},
            token=staff["token"],
        )
    finally:
        await outage.start()
    assert codes(refused) == ["UNAVAILABLE"] and refused["data"]["merchantInsights"] is None
    assert codes(area) == ["UNAVAILABLE"] and area["data"]["areaInsights"] is None

    async def answers() -> bool:
        body = await client(PROFILE, {"m": merchant["id"]}, token=staff["token"])
        return "errors" not in body

    await wait_for(answers, "insights once redis is back")
    mid = internal(merchant["id"])
    one = insights.profile_cost(services).epsilon
    assert await insights.spent_today(services, mid) == pytest.approx(one, abs=1e-5)
