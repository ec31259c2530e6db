"""The console and the GraphQL IDE in a real browser: Debian's chromium driven by Playwright
against a real API process (``quanzi serve``) over the test stack.

Worlds are built through the GraphQL API in-process (``client``), as any client would; the
browser then works the console as a moderator or a merchant's staff would, and what it did
is checked through GraphQL again. Screenshots of the main pages, in Chinese and in English,
are written to build/screenshots/ (git-ignored, so a test run leaves the tree clean);
``make screenshots`` writes them to docs/screenshots/, which the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Route,
    async_playwright,
    expect,
)

from actions.demo import load_demo
from api.app import create_app
from api.auth import decode_token
from api.cli import console_links
from api.settings import Settings
from graph.demo import DEMO_MODERATOR_PLATFORM_ID, DEMO_STAFF_PLATFORM_ID
from graph.driver import Graph
from tests.conftest import GQL, Drain, Processes, wait_for
from tests.test_insights import World, at_local_hour, refresh
from workers.services import Services

CHROMIUM = "/usr/bin/chromium"
# a cold Neo4j and a first Vite chunk may take a few seconds on a busy 2-core machine
expect.set_options(timeout=15_000)
SCREENSHOTS = Path(
    os.environ.get("QUANZI_SCREENSHOTS_DIR")
    or Path(__file__).resolve().parent.parent / "build" / "screenshots"
)
DIST = Path(__file__).resolve().parent.parent / "web" / "dist"

ERRORS = "userErrors { code field message }"
CREATE_CIRCLE = f"""mutation($input: CreateCircleInput!) {{
  createCircle(input: $input) {{ circle {{ id name }} {ERRORS} }} }}"""
JOIN = f"""mutation($c: ID!) {{ joinCircle(circleId: $c) {{ membership {{ state }} {ERRORS} }} }}"""
POST = f"""mutation($c: ID!, $body: String!) {{
  createPost(input: {{circleId: $c, body: $body}}) {{ post {{ id }} {ERRORS} }} }}"""
REPORT = f"""mutation($p: ID!, $reason: String!) {{
  report(input: {{postId: $p, reason: $reason}}) {{ report {{ id }} {ERRORS} }} }}"""
HOME_FEED = "{ homeFeed(first: 50) { edges { node { id body } } } }"
UPSERT_MERCHANT = f"""mutation($input: AdminUpsertMerchantInput!) {{
  adminUpsertMerchant(input: $input) {{ merchant {{ id }} {ERRORS} }} }}"""


async def ok(client: GQL, query: str, field: str, token: str, **variables: Any) -> Any:
    body = await client(query, variables, token=token)
    assert "errors" not in body, body
    payload = body["data"][field]
    assert payload["userErrors"] == [], payload
    return payload


# ---------------------------------------------------------------- the browser and the server


def _missing() -> str | None:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        return (
            f"{CHROMIUM} is missing: the browser tests drive Debian's chromium "
            "(`make install` installs it as root; else: apt-get install chromium)"
        )
    if not (DIST / "index.html").is_file() or not (DIST / "graphiql.html").is_file():
        return f"the web build is missing ({DIST}): run `make install`"
    return None


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if (missing := _missing()) is not None:
        pytest.fail(missing)
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One API process for the module; every test empties the stack it reads."""
    procs = Processes(tmp_path_factory.mktemp("console-server"))
    try:
        yield "http://" + await procs.server()
    finally:
        procs.stop_all()


class Console:
    """Opens browser pages on the server, signed in with a token through the fragment."""

    def __init__(self, browser: Browser, base: str) -> None:
        self.browser = browser
        self.base = base
        self.contexts: list[BrowserContext] = []
        self.failures: list[str] = []

    async def open(
        self,
        token: str | None,
        path: str = "/console/",
        *,
        locale: str = "en-US",
        width: int = 1280,
        height: int = 900,
    ) -> Page:
        context = await self.browser.new_context(
            locale=locale, viewport={"width": width, "height": height}
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.failures.append(f"page error: {exc}"))
        # statuses a flow expects (a refused token's 401) are the flow's business; a
        # script error or a server error never is
        page.on(
            "console",
            lambda msg: (
                self.failures.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" and not msg.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on(
            "response",
            lambda r: self.failures.append(f"{r.status} {r.url}") if r.status >= 500 else None,
        )
        fragment = f"#token={token}" if token else ""
        await page.goto(self.base + path + fragment)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def console(browser: Browser, server: str, clean: None) -> AsyncIterator[Console]:
    opened = Console(browser, server)
    yield opened
    await opened.close()
    assert opened.failures == [], opened.failures


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# ---------------------------------------------------------------- worlds


async def moderated_circle(
    client: GQL, *, policy: str = "OPEN", visibility: str = "PUBLIC"
) -> dict[str, Any]:
    """A circle with its owner (the moderator) and a member."""
    tag = uuid.uuid4().hex[:6]
    owner = await client.make_user(f"mod_{tag}", displayName="Mo Derator")
    member = await client.make_user(f"member_{tag}", displayName="Mem Ber")
    created = await ok(
        client,
        CREATE_CIRCLE,
        "createCircle",
        owner["token"],
        input={
            "name": f"Noodle fans {tag}",
            "description": "Slurp",
            "visibility": visibility,
            "joinPolicy": policy,
        },
    )
    return {"owner": owner, "member": member, "circle": created["circle"], "tag": tag}


# ---------------------------------------------------------------- moderators


async def test_a_moderator_removes_a_reported_post_and_it_leaves_the_members_feed(
    client: GQL, console: Console, drain: Drain, generous_post_limit: None
) -> None:
    world = await moderated_circle(client)
    circle, owner, member = world["circle"], world["owner"], world["member"]
    reporter = await client.make_user(f"reporter_{world['tag']}")
    for person in (member, reporter):
        await ok(client, JOIN, "joinCircle", person["token"], c=circle["id"])
    bad = await ok(
        client, POST, "createPost", member["token"], c=circle["id"], body="Buy cheap pills here"
    )
    fine = await ok(client, POST, "createPost", member["token"], c=circle["id"], body="Good bowl")
    await drain()
    feed = (await client(HOME_FEED, token=reporter["token"]))["data"]["homeFeed"]["edges"]
    assert {e["node"]["id"] for e in feed} >= {bad["post"]["id"], fine["post"]["id"]}
    await ok(client, REPORT, "report", reporter["token"], p=bad["post"]["id"], reason="spam")

    page = await console.open(owner["token"])
    await page.get_by_role("link", name=circle["name"]).click()
    queue = page.get_by_role("listitem", name="Reported post")
    await expect(queue).to_have_count(1)
    await expect(queue).to_contain_text("Buy cheap pills here")
    await expect(queue).to_contain_text("spam")
    await expect(queue).to_contain_text(f"reported by @{reporter['handle']}")
    await shot(page, "queue-en")
    await queue.get_by_role("button", name="Remove post").click()
    await expect(page.get_by_role("status")).to_have_text("Post removed and report closed.")
    await expect(page.get_by_text("Nothing here.")).to_be_visible()

    await drain()
    feed = (await client(HOME_FEED, token=reporter["token"]))["data"]["homeFeed"]["edges"]
    ids = {e["node"]["id"] for e in feed}
    assert bad["post"]["id"] not in ids and fine["post"]["id"] in ids

    # the mod log shows it, and removing it again is refused in words
    await page.get_by_role("link", name="Mod log").click()
    await expect(page.get_by_role("listitem").filter(has_text="post removed")).to_have_count(1)


async def test_a_second_remove_of_the_same_post_says_why_it_failed(
    client: GQL, console: Console, generous_post_limit: None
) -> None:
    world = await moderated_circle(client)
    circle, owner, member = world["circle"], world["owner"], world["member"]
    reporter = await client.make_user(f"reporter_{world['tag']}")
    for person in (member, reporter):
        await ok(client, JOIN, "joinCircle", person["token"], c=circle["id"])
    post = await ok(client, POST, "createPost", member["token"], c=circle["id"], body="Spam!")
    await ok(client, REPORT, "report", reporter["token"], p=post["post"]["id"], reason="spam")

    page = await console.open(owner["token"], f"/console/circles/{circle['id']}/queue")
    item = page.get_by_role("listitem", name="Reported post")
    await expect(item).to_have_count(1)
    # someone else removes the post meanwhile
    await ok(
        client,
        """mutation($input: ModerateInput!) { moderate(input: $input) {
             action { id } userErrors { code field message } } }""",
        "moderate",
        owner["token"],
        input={"circleId": circle["id"], "kind": "REMOVE_POST", "postId": post["post"]["id"]},
    )
    await item.get_by_role("button", name="Remove post").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("already done (ALREADY_EXISTS)")
    await expect(alert).to_contain_text("already removed")

    # on a reload the queue shows the post as removed, and a moderator may restore it
    await page.reload()
    await expect(item).to_contain_text("removed")
    await item.get_by_role("button", name="Restore post").click()
    await expect(page.get_by_role("status")).to_have_text("Post restored and report dismissed.")
    read = "query($p: ID!) { post(id: $p) { id } }"
    back = await client(read, {"p": post["post"]["id"]}, token=reporter["token"])
    assert back["data"]["post"] == {"id": post["post"]["id"]}


async def test_a_moderator_approves_a_join_request_and_the_person_becomes_a_member(
    client: GQL, console: Console
) -> None:
    world = await moderated_circle(client, policy="APPROVAL", visibility="SEMI_PUBLIC")
    circle, owner = world["circle"], world["owner"]
    asker = await client.make_user(f"asker_{world['tag']}", displayName="Ask Er")
    other = await client.make_user(f"other_{world['tag']}", displayName="Oth Er")
    for person in (asker, other):
        joined = await ok(client, JOIN, "joinCircle", person["token"], c=circle["id"])
        assert joined["membership"]["state"] == "PENDING"

    page = await console.open(owner["token"], f"/console/circles/{circle['id']}/requests")
    await expect(page.get_by_role("heading", name="Join requests")).to_be_visible()
    await shot(page, "requests-en")
    await page.get_by_role("button", name=f"Approve @{asker['handle']}").click()
    await expect(page.get_by_role("status")).to_have_text(f"@{asker['handle']} is now a member.")
    await page.get_by_role("button", name=f"Deny @{other['handle']}").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"The request of @{other['handle']} was denied."
    )
    await expect(page.get_by_text("Nothing here.")).to_be_visible()

    state = """query($c: ID!) { circle(id: $c) { viewerMembership memberCount } }"""
    asked = (await client(state, {"c": circle["id"]}, token=asker["token"]))["data"]["circle"]
    assert asked["viewerMembership"] == "MEMBER"
    denied = (await client(state, {"c": circle["id"]}, token=other["token"]))["data"]["circle"]
    assert denied["viewerMembership"] == "NONE"

    # the new member is on the members page, where a mute with a duration is one click
    await page.get_by_role("link", name="Members").click()
    await page.get_by_label("Duration").nth(0).select_option("3600")
    await page.get_by_role("button", name=f"Mute @{asker['handle']}", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(f"@{asker['handle']} is muted.")
    muted = await client(POST, {"c": circle["id"], "body": "hello?"}, token=asker["token"])
    assert [e["code"] for e in muted["data"]["createPost"]["userErrors"]] == ["MUTED"]


async def test_a_held_post_waits_in_the_queue_until_a_moderator_keeps_it(
    client: GQL, console: Console, generous_post_limit: None
) -> None:
    world = await moderated_circle(client)
    circle, owner, member = world["circle"], world["owner"], world["member"]
    await ok(client, JOIN, "joinCircle", member["token"], c=circle["id"])

    page = await console.open(owner["token"], f"/console/circles/{circle['id']}/automod")
    await page.get_by_role("button", name="Add a rule").click()
    await page.get_by_label("Label 1").fill("resale")
    await page.get_by_label("Word or phrase 1").fill("  Resale  TICKETS ")
    await page.get_by_label("Action 1").select_option("HOLD")
    await page.get_by_role("button", name="Save rules").click()
    await expect(page.get_by_role("status")).to_have_text("1 rules saved.")
    await expect(page.get_by_label("Word or phrase 1")).to_have_value("resale tickets")

    posted = await ok(
        client, POST, "createPost", member["token"], c=circle["id"], body="resale tickets, DM me"
    )
    assert posted["post"] is None  # held: the payload carries no post until it is reviewed
    queue = await client(
        "query($c: ID!) { moderationQueue(circleId: $c) { edges { node { post { id } } } } }",
        {"c": circle["id"]},
        token=owner["token"],
    )
    post_id = queue["data"]["moderationQueue"]["edges"][0]["node"]["post"]["id"]
    read = "query($p: ID!) { post(id: $p) { id } }"
    stranger = await client.make_user(f"stranger_{world['tag']}")
    hidden = await client(read, {"p": post_id}, token=stranger["token"])
    assert hidden["data"]["post"] is None

    await page.get_by_role("link", name="Moderation queue").click()
    item = page.get_by_role("listitem", name="Held post (automod or cross-posting)")
    await expect(item).to_contain_text("resale tickets, DM me")
    await expect(item).not_to_contain_text("reported by")  # the system held it
    await item.get_by_role("button", name="Dismiss (keep)").click()
    await expect(page.get_by_role("status")).to_have_text("Report dismissed; the post stays.")
    shown = await client(read, {"p": post_id}, token=stranger["token"])
    assert shown["data"]["post"] == {"id": post_id}


async def test_a_ban_with_a_duration_is_appealed_and_lifted_from_the_console(
    client: GQL, console: Console
) -> None:
    world = await moderated_circle(client)
    circle, owner, member = world["circle"], world["owner"], world["member"]
    await ok(client, JOIN, "joinCircle", member["token"], c=circle["id"])

    page = await console.open(owner["token"], f"/console/circles/{circle['id']}/members")
    who = f"@{member['handle']}"
    await page.get_by_label("Reason").nth(0).fill("flooding")
    await page.get_by_label("Duration").nth(0).select_option("604800")
    await shot(page, "members-en")
    await page.get_by_role("button", name=f"Ban {who}").click()
    await expect(page.get_by_role("status")).to_have_text(f"{who} is banned.")
    await expect(page.get_by_role("button", name=f"Ban {who}")).to_have_count(0)

    log = await client(
        """query($c: ID!) { modLog(circleId: $c) { edges { node { id kind reason
             expiresAt } } } }""",
        {"c": circle["id"]},
        token=owner["token"],
    )
    ban = log["data"]["modLog"]["edges"][0]["node"]
    assert ban["kind"] == "BAN" and ban["reason"] == "flooding" and ban["expiresAt"]
    await ok(
        client,
        """mutation($a: ID!, $m: String!) { appeal(actionId: $a, message: $m) {
             appeal { id } userErrors { code field message } } }""",
        "appeal",
        member["token"],
        a=ban["id"],
        m="It was one long message, sorry",
    )

    await page.get_by_role("link", name="Appeals").click()
    appeal = page.get_by_role("listitem").filter(has_text="It was one long message")
    await expect(appeal).to_contain_text(f"Appeal of a ban by {who}")
    await appeal.get_by_role("button", name="Accept").click()
    await expect(page.get_by_role("status")).to_have_text("Appeal accepted: the ban is lifted.")
    await page.get_by_role("link", name="Mod log").click()
    await expect(page.get_by_role("listitem").filter(has_text="unban")).to_have_count(1)
    banned = page.get_by_role("listitem").filter(has_text=": ban")
    await expect(banned).to_contain_text("flooding")
    await expect(banned).to_contain_text("until")
    await shot(page, "modlog-en")
    again = await client(JOIN, {"c": circle["id"]}, token=member["token"])
    assert again["data"]["joinCircle"]["membership"]["state"] == "MEMBER"

    # back on the members page: made a moderator, then kicked
    await page.get_by_role("link", name="Members").click()
    await page.get_by_label("Role").nth(0).select_option("MODERATOR")
    await page.get_by_role("button", name=f"Set role {who}").click()
    await expect(page.get_by_role("status")).to_have_text(f"{who} is now moderator.")
    role = "query($c: ID!) { circle(id: $c) { viewerRole viewerMembership } }"
    mine = await client(role, {"c": circle["id"]}, token=member["token"])
    assert mine["data"]["circle"]["viewerRole"] == "MODERATOR"
    await page.get_by_role("button", name=f"Kick {who}").click()
    await expect(page.get_by_role("status")).to_have_text(f"{who} was removed from the circle.")
    gone = await client(role, {"c": circle["id"]}, token=member["token"])
    assert gone["data"]["circle"]["viewerMembership"] == "NONE"


# ---------------------------------------------------------------- merchants


async def staffed_merchant(client: GQL, world: World, name: str, category: str) -> Any:
    staff = await client.make_user(f"staff_{world.tag}", displayName="Staff Member")
    merchant = await world.merchant(name, category, staff=[staff])
    return merchant, staff


async def test_a_merchant_creates_a_circle_and_finds_it_in_discovery(
    client: GQL, console: Console, graph: Graph
) -> None:
    world = World(client, graph)
    _, staff = await staffed_merchant(client, world, "Lanzhou Noodles", "dining")
    name = f"Noodle regulars {world.tag}"

    page = await console.open(staff["token"])
    await page.get_by_role("link", name="Lanzhou Noodles").click()
    await page.get_by_role("link", name="New circle").click()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Description").fill("Hand-pulled every morning")
    await page.get_by_label("Visibility").select_option("SEMI_PUBLIC")
    await page.get_by_label("Join policy").select_option("APPROVAL")
    await page.get_by_label("Customers only").check()
    await shot(page, "create-circle-en")
    await page.get_by_role("button", name="Create circle").click()
    await expect(page.get_by_role("status")).to_have_text(f"Circle “{name}” created.")

    # a name that is too long is refused with the API's words
    await page.get_by_label("Name").fill("x" * 200)
    await page.get_by_role("button", name="Create circle").click()
    await expect(page.get_by_role("alert")).to_contain_text("invalid input (INVALID_INPUT)")

    await page.get_by_role("link", name="Hosted circles").click()
    hosted = page.get_by_role("listitem").filter(has_text=name)
    await expect(hosted).to_contain_text("semi-public")
    await expect(hosted).to_contain_text("Customers only")
    # edited: no longer customers only, open to all
    await hosted.get_by_role("button", name=f"Edit {name}").click()
    await hosted.get_by_label("Customers only").uncheck()
    await hosted.get_by_label("Join policy").select_option("OPEN")
    await hosted.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status")).to_have_text(f"Circle “{name}” saved.")
    await expect(hosted).to_contain_text("open")
    await expect(hosted).not_to_contain_text("Customers only")

    await page.get_by_role("link", name="Discovery").click()
    await page.get_by_label("Circle name or words").fill(name)

    async def found() -> bool:
        await page.get_by_role("button", name="Search discovery").click()
        await expect(page.get_by_role("status")).to_contain_text("circles found")
        return await page.locator(".results li").filter(has_text=name).count() == 1

    await wait_for(found, "the new circle in discovery", limit=20, every=0.5)
    result = page.locator(".results li").filter(has_text=name)
    await expect(result).to_contain_text("Lanzhou Noodles")
    await shot(page, "discovery-en")

    # and a member of the public finds it through GraphQL too
    stranger = await client.make_user(f"stranger_{world.tag}")
    body = await client(
        "query($q: String!) { discoverCircles(query: $q) { edges { node { name } } } }",
        {"q": name},
        token=stranger["token"],
    )
    assert [e["node"]["name"] for e in body["data"]["discoverCircles"]["edges"]] == [name]


async def test_insights_charts_draw_the_released_buckets_and_no_suppressed_one(
    client: GQL, console: Console, graph: Graph
) -> None:
    world = World(client, graph)
    merchant, staff = await staffed_merchant(client, world, "Noodles", "restaurant")
    cafe = await world.merchant("beans", "cafe")
    yoga = await world.circle("yoga")
    everyone = await world.people(120, "cust")
    await world.visit(everyone, merchant, at_local_hour(12, days_ago=2))  # 12 h: 120
    await world.visit(everyone, cafe, at_local_hour(9, days_ago=3))  # cafe, 9 h: 120
    await world.join(everyone[:49], yoga)  # yoga: 49, never released
    await world.visit(everyone[:49], cafe, at_local_hour(21, days_ago=5))  # 21 h: 49
    await refresh()
    released = (
        await client(
            """query($m: ID!) { merchantInsights(merchantId: $m) {
                 interests { key count } activeHours { key count } } }""",
            {"m": merchant["id"]},
            token=staff["token"],
        )
    )["data"]["merchantInsights"]
    hours = {int(b["key"]) for b in released["activeHours"]}
    assert {9, 12} <= hours and 21 not in hours
    interests = [b["key"] for b in released["interests"]]
    assert "cafe" in interests and "yoga" not in interests

    page = await console.open(staff["token"], f"/console/merchants/{merchant['id']}/insights")
    await expect(page.get_by_text("every number describes at least 50 people")).to_be_visible()
    await expect(page.get_by_text("Snapshot computed")).to_be_visible()
    await expect(page.locator("[data-number=audienceSize]")).to_have_text(re.compile(r"^\d+$"))
    await expect(page.locator("[data-number=customersServed]")).to_have_text(re.compile(r"^\d+$"))

    # the hours chart: one bar per released hour, none for the others (not even a zero)
    chart = page.locator("[data-chart=activeHours]")
    await expect(chart.locator("svg")).to_be_visible()
    label = await chart.get_attribute("aria-label") or ""
    for hour in hours:
        assert f"{hour:02d}:00" in label, label
    assert "21:00" not in label, label
    assert await _bar_count(chart) == len(hours)
    note = page.locator("[data-suppressed]")
    suppressed = {int(h) for h in (await note.get_attribute("data-suppressed") or "").split(",")}
    assert suppressed == set(range(24)) - hours
    await expect(note).to_contain_text("not shown (not zero)")
    await expect(note).to_contain_text("21:00")

    # the interests chart: exactly the released categories
    interest_chart = page.locator("[data-chart=interests]")
    ilabel = await interest_chart.get_attribute("aria-label") or ""
    assert "cafe" in ilabel and "yoga" not in ilabel, ilabel
    assert await _bar_count(interest_chart) == len(interests)
    table = page.locator("table[data-table=interests] tbody tr")
    await expect(table).to_have_count(len(interests))
    hour_rows = page.locator("table[data-table=activeHours] tbody tr")
    await expect(hour_rows).to_have_count(len(hours))
    await shot(page, "insights-en")


async def _bar_count(chart: Any) -> int:
    """Bars ECharts drew as SVG: paths of the series' fill (axes and grid are strokes)."""
    count: int = await chart.evaluate(
        """el => [...el.querySelectorAll('svg path')].filter(p => {
               const fill = p.getAttribute('fill');
               const d = p.getAttribute('d') || '';
               return fill && fill !== 'none' && fill !== 'transparent' && /Z\\s*$/i.test(d);
             }).length"""
    )
    return count


async def test_area_insights_for_a_point_and_radius_chosen_on_the_page(
    client: GQL, console: Console, graph: Graph
) -> None:
    world = World(client, graph)
    merchant, staff = await staffed_merchant(client, world, "Noodles", "restaurant")
    cafe = await world.merchant("beans", "cafe", where=(31.2310, 121.4745))  # ~100 m away
    people = await world.people(120, "area")
    await world.visit(people, cafe, at_local_hour(8, days_ago=1))
    await refresh()

    page = await console.open(staff["token"], f"/console/merchants/{merchant['id']}/area")
    await expect(page.get_by_label("Latitude")).to_have_value("31.2304")  # the merchant's
    await page.get_by_label("Radius (meters)").fill("50")
    await page.get_by_role("button", name="Show area insights").click()
    await expect(page.get_by_role("alert")).to_contain_text("INVALID_INPUT")
    await expect(page.get_by_role("alert")).to_contain_text("radius")

    await page.get_by_label("Radius (meters)").fill("1000")
    await page.get_by_role("button", name="Show area insights").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Area insights within 1000 m of 31.2304, 121.4737."
    )
    await expect(page.locator("[data-number=audienceSize]")).to_have_text(re.compile(r"^\d+$"))
    hours = page.locator("[data-chart=activeHours]")
    assert "08:00" in (await hours.get_attribute("aria-label") or "")
    assert await _bar_count(hours) == 1
    await shot(page, "area-en")


# ---------------------------------------------------------------- who sees what


async def test_a_member_who_is_neither_staff_nor_moderator_sees_no_console_data(
    client: GQL, console: Console, graph: Graph
) -> None:
    world = await moderated_circle(client, policy="APPROVAL", visibility="SEMI_PUBLIC")
    circle, member = world["circle"], world["member"]
    insights_world = World(client, graph)
    merchant, _ = await staffed_merchant(client, insights_world, "Noodles", "restaurant")
    await ok(client, JOIN, "joinCircle", member["token"], c=circle["id"])  # pending: asks
    plain = await client.make_user(f"plain_{world['tag']}")
    await ok(client, JOIN, "joinCircle", plain["token"], c=circle["id"])

    page = await console.open(member["token"])
    await expect(page.get_by_text("moderates no circle and acts for no merchant")).to_be_visible()
    await expect(page.get_by_role("link", name=circle["name"])).to_have_count(0)
    # addresses of the moderator's and the staff's pages show nothing of them either
    for path in (
        f"/console/circles/{circle['id']}/requests",
        f"/console/merchants/{merchant['id']}/insights",
    ):
        await page.goto(console.base + path)
        await expect(page.get_by_text("moderates no circle")).to_be_visible()
        assert plain["handle"] not in await page.content()
    await shot(page, "no-console-data-en")

    # signed out: the sign-in form, and the API itself refuses a bad pasted token in words
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_label("Bearer token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("UNAUTHENTICATED")


# ---------------------------------------------------------------- languages, widths, keyboard


async def test_chinese_follows_the_browser_and_the_switch_changes_it(
    client: GQL, console: Console, graph: Graph, generous_post_limit: None
) -> None:
    world = await moderated_circle(client, policy="APPROVAL", visibility="SEMI_PUBLIC")
    circle, owner = world["circle"], world["owner"]
    asker = await client.make_user(f"asker_{world['tag']}", displayName="林小雨")
    await ok(client, JOIN, "joinCircle", asker["token"], c=circle["id"])

    page = await console.open(owner["token"], locale="zh-CN")
    await expect(page.get_by_role("heading", name="您管理的圈子")).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await shot(page, "home-zh")
    await page.get_by_role("link", name=circle["name"]).click()
    await page.get_by_role("link", name="入圈申请").click()
    await expect(page.get_by_role("button", name=f"通过 @{asker['handle']}")).to_be_visible()
    await shot(page, "requests-zh")
    await page.get_by_role("button", name=f"通过 @{asker['handle']}").click()
    await expect(page.get_by_role("status")).to_have_text(f"@{asker['handle']} 已成为成员。")
    post = await ok(client, POST, "createPost", asker["token"], c=circle["id"], body="低价代购")
    await ok(client, REPORT, "report", owner["token"], p=post["post"]["id"], reason="广告")
    await page.get_by_role("link", name="审核队列").click()
    await expect(page.get_by_role("listitem", name="被举报的帖子")).to_contain_text("低价代购")
    await shot(page, "queue-zh")
    await page.get_by_role("link", name="成员").click()
    await page.get_by_label("理由").nth(0).fill("刷屏")
    await page.get_by_role("button", name=f"禁言 @{asker['handle']}", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(f"@{asker['handle']} 已被禁言。")
    await shot(page, "members-zh")
    await page.get_by_role("link", name="管理日志").click()
    await expect(page.get_by_role("listitem").filter(has_text="刷屏")).to_contain_text("禁言")
    await shot(page, "modlog-zh")
    await page.get_by_role("link", name="自动审核规则").click()
    await page.get_by_role("button", name="添加规则").click()
    await page.get_by_label("名称 1").fill("广告")
    await page.get_by_label("词语或短语 1").fill("代购")
    await page.get_by_role("button", name="保存规则").click()
    await expect(page.get_by_role("status")).to_have_text("已保存 1 条规则。")
    await shot(page, "automod-zh")

    # the switch: English, remembered across a reload
    await page.get_by_label("语言").select_option("en")
    await expect(page.get_by_role("button", name="Save rules")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("button", name="Save rules")).to_be_visible()
    await expect(page.get_by_label("Word or phrase 1")).to_have_value("代购")
    await shot(page, "automod-en")

    # an English browser gets English by itself
    english = await console.open(owner["token"])
    await expect(english.get_by_role("heading", name="Circles you moderate")).to_be_visible()
    await shot(english, "home-en")

    # the merchant pages in Chinese, with charts
    insights_world = World(client, graph)
    merchant, staff = await staffed_merchant(client, insights_world, "兰州拉面", "restaurant")
    people = await insights_world.people(120, "zh")
    await insights_world.visit(people, merchant, at_local_hour(18, days_ago=1))
    await refresh()
    zh = await console.open(
        staff["token"], f"/console/merchants/{merchant['id']}/insights", locale="zh-CN"
    )
    await expect(zh.get_by_text("每个数字至少对应 50 人")).to_be_visible()
    await expect(zh.locator("[data-chart=activeHours] svg")).to_be_visible()
    await shot(zh, "insights-zh")
    await zh.get_by_role("link", name="新建圈子").click()
    await shot(zh, "create-circle-zh")
    await zh.get_by_role("link", name="发现").click()
    await zh.get_by_label("圈子名称或关键词").fill("Noodle")
    await zh.get_by_role("button", name="在发现中搜索").click()
    await expect(zh.get_by_role("status")).to_contain_text("找到")
    await shot(zh, "discovery-zh")


async def test_the_console_works_at_phone_width_and_by_keyboard(
    client: GQL, console: Console
) -> None:
    world = await moderated_circle(client, policy="APPROVAL", visibility="SEMI_PUBLIC")
    circle, owner = world["circle"], world["owner"]
    asker = await client.make_user(f"asker_{world['tag']}")
    await ok(client, JOIN, "joinCircle", asker["token"], c=circle["id"])

    page = await console.open(owner["token"], width=390, height=844, locale="zh-CN")
    # nothing wider than the screen
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, wide
    # by keyboard alone: the skip link, then tab to the circle and open it with Enter
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="跳到正文")).to_be_focused()
    link = page.get_by_role("link", name=circle["name"])
    for _ in range(15):
        if await link.evaluate("el => el === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(link).to_be_focused()
    await page.keyboard.press("Enter")
    requests = page.get_by_role("link", name="入圈申请")
    await requests.focus()
    await page.keyboard.press("Enter")
    approve = page.get_by_role("button", name=f"通过 @{asker['handle']}")
    await approve.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text(f"@{asker['handle']} 已成为成员。")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await shot(page, "phone-zh")

    # every control on the members page has a name a screen reader can say
    await page.get_by_role("link", name="成员").click()
    await expect(page.get_by_role("button", name=f"封禁 @{asker['handle']}")).to_be_visible()
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.textContent.trim())
              .map(el => el.outerHTML)"""
    )
    assert unnamed == []


# ---------------------------------------------------------------- the GraphQL IDE


async def test_the_graphql_ide_renders_its_editor_with_no_network_beyond_the_api(
    client: GQL, console: Console
) -> None:
    origin = console.base
    async with httpx.AsyncClient() as http:
        html = (await http.get(origin + "/graphql", headers={"accept": "text/html"})).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith(("/console/assets/", "data:")) for s in sources), sources

    blocked: list[str] = []
    context = await console.browser.new_context()
    console.contexts.append(context)

    async def only_the_api(route: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        if request.url.startswith(("data:", "blob:")) or f"{parts.scheme}://{parts.netloc}" in (
            origin,
            origin.replace("http", "ws"),
        ):
            await route.continue_()
        else:
            blocked.append(request.url)
            await route.abort()

    await context.route("**/*", only_the_api)
    page = await context.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda exc: failures.append(str(exc)))
    page.on("requestfailed", lambda r: failures.append(f"failed: {r.url}"))
    await page.goto(origin + "/graphql")
    editor = page.locator(".graphiql-query-editor .monaco-editor")
    await expect(editor).to_be_visible(timeout=30_000)
    await editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.type("{ __typename")  # the editor closes the brace itself
    # its completion list (drawn from the schema it fetched from the API) is open: close it
    await expect(page.locator(".suggest-widget.visible")).to_contain_text("__typename")
    await page.keyboard.press("Escape")
    await page.get_by_role("button", name=re.compile("Execute query", re.I)).click()
    await expect(page.locator(".graphiql-response")).to_contain_text('"Query"', timeout=20_000)
    await shot(page, "graphiql")
    assert blocked == [], blocked
    assert failures == [], failures


# ---------------------------------------------------------------- serving and signing in


async def test_the_console_is_one_page_at_every_address_with_cacheable_assets(
    server: str,
) -> None:
    async with httpx.AsyncClient() as http:
        root = await http.get(server + "/console")
        assert root.status_code == 308 and root.headers["location"] == "/console/"
        page = await http.get(server + "/console/")
        deep = await http.get(server + "/console/circles/Q2lyY2xlOng/queue")
        assert page.status_code == deep.status_code == 200
        assert page.text == deep.text and '<div id="app">' in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "http" not in policy  # no other origin is allowed anything
        script = re.search(r'src="(/console/assets/[^"]+\.js)"', page.text)
        assert script is not None
        asset = await http.get(server + script.group(1))
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        missing = await http.get(server + "/console/assets/nothing-here.js")
        assert missing.status_code == 404


async def test_the_dev_links_sign_in_the_demo_staff_member_and_moderator(
    console: Console, services: Services
) -> None:
    await load_demo(services)
    links = console_links(services.settings, console.base)
    found = re.findall(r"\((demo-[a-z]+)\): (\S+)", links)
    assert [who for who, _ in found] == [DEMO_STAFF_PLATFORM_ID, DEMO_MODERATOR_PLATFORM_ID]
    for who, link in found:
        path, fragment = link.split("#", 1)
        token = fragment.removeprefix("token=")
        assert decode_token(services.settings, token).subject == who
        assert token not in path  # only in the fragment, which no server sees

    staff_link, moderator_link = (link for _, link in found)
    staff = await console.browser.new_context(locale="zh-CN")
    console.contexts.append(staff)
    page = await staff.new_page()
    await page.goto(staff_link)
    await expect(page.get_by_role("link", name="兰州拉面 (望京店)")).to_be_visible()
    await expect(page.get_by_role("link", name="望京拉面爱好者")).to_be_visible()
    assert "token" not in page.url  # the fragment is gone from the address bar and history

    moderator = await console.browser.new_context(locale="zh-CN")
    console.contexts.append(moderator)
    page = await moderator.new_page()
    await page.goto(moderator_link)
    await page.get_by_role("link", name="仁和诊所慢病互助").click()
    await page.get_by_role("link", name="入圈申请").click()
    await expect(page.get_by_role("button", name="通过 @sun_li")).to_be_visible()


async def test_a_missing_build_is_a_clear_503_and_production_serves_no_ide(
    settings: Settings, tmp_path: Path
) -> None:
    bare = create_app(settings.model_copy(update={"web_dir": tmp_path}))
    async with bare.router.lifespan_context(bare):
        transport = httpx.ASGITransport(app=bare)
        async with httpx.AsyncClient(transport=transport, base_url="http://quanzi.test") as http:
            for path in ("/console/", "/graphql"):
                answer = await http.get(path, headers={"accept": "text/html"})
                assert answer.status_code == 503, path
                assert "run `make install`" in answer.text
    production = settings.model_copy(update={"env": "production", "web_dir": DIST})
    shipped = create_app(production)
    async with shipped.router.lifespan_context(shipped):
        transport = httpx.ASGITransport(app=shipped)
        async with httpx.AsyncClient(transport=transport, base_url="http://quanzi.test") as http:
            assert (await http.get("/console/")).status_code == 200  # the console ships
            ide = await http.get("/graphql", headers={"accept": "text/html"})
            assert "graphiql" not in ide.text.lower()  # the IDE does not
