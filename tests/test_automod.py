"""Automod rules through the API: who sets them, limits, REFUSE and HOLD, and the cache."""

from __future__ import annotations

from typing import Any

import pytest

from graph.automod import AutomodAction as A
from graph.automod import AutomodRule as Rule
from graph.automod import Matcher, PyAutomaton, RuleInput, build_automaton, normalise
from tests.conftest import GQL
from tests.test_posts import COMMENT, mutate, post, posted, read
from tests.test_reports import QUEUE, RESOLVE, circle_with, codes
from workers import ratelimit

SET = """mutation($c: ID!, $rules: [AutomodRuleInput!]!) {
  setAutomodRules(circleId: $c, rules: $rules) {
  rules { label pattern action } userErrors { code field message } } }"""
RULES = "query($c: ID!) { automodRules(circleId: $c) { label pattern action } }"


@pytest.fixture(autouse=True)
def roomy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(1000, 1.0))


def rule(label: str, pattern: str, action: str) -> dict[str, Any]:
    return {"label": label, "pattern": pattern, "action": action}


async def test_rules_refuse_and_hold(client: GQL) -> None:
    cid, owner, (a, b) = await circle_with(client, 2)
    rules = [rule("scam", "Free  MONEY", "REFUSE"), rule("ads", "代购", "HOLD")]
    r = await mutate(client, SET, "setAutomodRules", a, c=cid, rules=rules)
    assert codes(r) == ["FORBIDDEN"]
    r = await mutate(client, SET, "setAutomodRules", owner, c=cid, rules=rules)
    assert r["userErrors"] == []
    assert r["rules"][0]["pattern"] == "free money"
    assert (await client(RULES, {"c": cid}, token=a["token"]))["data"]["automodRules"] is None

    refused = await post(client, a, "get FREE\nmoney now", cid)
    assert codes(refused) == ["INVALID_INPUT"]
    assert "scam" in refused["userErrors"][0]["message"]

    held = await post(client, a, "海外代购 私信我", cid)
    assert held["userErrors"] == [] and held["post"] is None  # held: hidden from the author
    # the held post is in the queue as a system report; the owner can read it
    queue = (await client(QUEUE, {"c": cid}, token=owner["token"]))["data"]["moderationQueue"]
    (node,) = [e["node"] for e in queue["edges"]]
    assert node["reporter"] is None and node["reason"] == "automod: ads"
    pid = node["post"]["id"]
    assert await read(client, b, pid) is None
    # dismissing the system report releases the post
    await mutate(client, RESOLVE, "resolveReport", owner, id=node["id"], dismiss=True)
    assert await read(client, b, pid) is not None

    # comments: any matching rule refuses
    ok = await posted(client, b, "hello", cid)
    c = await mutate(client, COMMENT, "commentOnPost", a, id=ok, body="free money!")
    assert codes(c) == ["INVALID_INPUT"]
    c = await mutate(client, COMMENT, "commentOnPost", a, id=ok, body="nice")
    assert c["userErrors"] == []

    # changing the rules invalidates the cached automaton
    await mutate(client, SET, "setAutomodRules", owner, c=cid, rules=[])
    assert (await post(client, a, "free money", cid))["userErrors"] == []


async def test_rule_limits(client: GQL) -> None:
    cid, owner, _ = await circle_with(client, 0)
    too_many = [rule(f"r{i}", f"word{i}", "HOLD") for i in range(1001)]
    r = await mutate(client, SET, "setAutomodRules", owner, c=cid, rules=too_many)
    assert codes(r) == ["INVALID_INPUT"]
    r = await mutate(
        client, SET, "setAutomodRules", owner, c=cid, rules=[rule("x", "a" * 101, "HOLD")]
    )
    assert codes(r) == ["INVALID_INPUT"]
    r = await mutate(client, SET, "setAutomodRules", owner, c=cid, rules=[rule("x", "   ", "HOLD")])
    assert codes(r) == ["INVALID_INPUT"]
    r = await mutate(client, SET, "setAutomodRules", owner, c=cid, rules=too_many[:1000])
    assert r["userErrors"] == [] and len(r["rules"]) == 1000


@pytest.mark.parametrize("pure", [True, False])
def test_automaton_matches_like_substring_search(pure: bool) -> None:
    patterns = ["he", "she", "his", "hers", "广告", "a" * 50, "ab"]
    auto = build_automaton([(p, p) for p in patterns], pure=pure)
    for text in ["ushers", "h", "xx广告xx", "a" * 49, "a" * 60, "xab", "", "广"]:
        found = auto.first(text)
        expected = any(p in text for p in patterns)
        assert (found is not None) == expected, text
        if found is not None:
            assert found in text
    assert isinstance(build_automaton([], pure=True), PyAutomaton)


def test_refuse_wins_and_normalisation() -> None:
    m = Matcher.of([Rule("1", "h", "spam", A.HOLD), Rule("2", "r", "spam now", A.REFUSE)])
    assert m.check("SPAM   Now!") == (A.REFUSE, "r")
    assert m.check("spam") == (A.HOLD, "h")
    assert m.check("nothing") is None
    assert normalise(" A\tB\n c ") == "a b c"
    assert RuleInput("x", "y", A.HOLD).action is A.HOLD
