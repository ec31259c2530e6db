"""The learned people-you-may-know ranker: features, training on the graph's history, the
model file (refused when it cannot be served, and then the hand weights rank), serving."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph
from graph.pymk_features import FEATURES, pair_features
from graph.pymk_model import FORMAT_VERSION, ModelRefused, load_model, parse_model
from graph.pymk_train import train, write_model
from graph.suggestions import SuggestionConfig, compute_suggestions
from workers import suggestions
from workers.services import Services

pytestmark = pytest.mark.usefixtures("clean")

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=300)
RECENT = NOW - timedelta(days=3)


async def users(graph: Graph, names: list[str]) -> None:
    await graph.write(
        """
        UNWIND $names AS n
        CREATE (:User {id: n, platformId: 'p-' + n, handle: n, handleKey: n,
                displayName: n, trustScore: 60, discoverable: true, suspended: false,
                phoneHash: 'h-' + n, createdAt: $created, updatedAt: $created})
        """,
        names=names,
        created=OLD,
    )


async def friends(graph: Graph, pairs: list[tuple[str, str]], since: datetime) -> None:
    await graph.write(
        """
        UNWIND $pairs AS p
        MATCH (a:User {id: p[0]}), (b:User {id: p[1]})
        CREATE (a)-[:FRIEND {since: $since}]->(b)
        """,
        pairs=[list(p) for p in pairs],
        since=since,
    )


async def has_contact(graph: Graph, owner: str, other: str) -> None:
    await graph.write(
        """
        MATCH (o:User {id: $owner}), (c:User {id: $other})
        MERGE (p:Phone {hash: c.phoneHash})
        CREATE (o)-[:HAS_CONTACT {at: $at}]->(p)
        """,
        owner=owner,
        other=other,
        at=OLD,
    )


async def test_features_of_a_small_graph(graph: Graph) -> None:
    # me - a - c, me - b - c, b - x - c (a 3-path me-b-x-c), c has c2; me has c's number
    await users(graph, ["me", "a", "b", "x", "c", "c2"])
    await friends(
        graph,
        [("me", "a"), ("a", "c"), ("me", "b"), ("b", "c"), ("b", "x"), ("x", "c"), ("c", "c2")],
        OLD,
    )
    await has_contact(graph, "me", "c")
    await graph.write(
        "MATCH (a:User {id: 'c'}), (b:User {id: 'me'}) "
        "CREATE (a)-[:PAID {at: $at}]->(b), (a)-[:PAID {at: $at}]->(b)",
        at=OLD,
    )
    got = await pair_features(
        graph, "me", ["c"], hub_cap=300, max_intermediaries=400, sensitive=[], now=NOW
    )
    f = got["c"]
    assert set(f) == set(FEATURES)
    assert f["cn"] == 2.0  # a and b
    assert f["ra"] == pytest.approx(1 / 2 + 1 / 3)  # deg(a) = 2, deg(b) = 3
    assert f["jaccard"] == pytest.approx(2 / (2 + 4 - 2))  # deg(me) = 2, deg(c) = 4
    # me-b-x-c only (x's other paths do not start at me)
    assert f["lp3"] == pytest.approx(math.log1p(1))
    assert f["contact_out"] == 1.0 and f["contact_in"] == 0.0
    assert f["paid_in"] == pytest.approx(math.log1p(2)) and f["paid_out"] == 0.0
    # as it was before the friendships (all old here): the same; before them all: none
    before = await pair_features(
        graph,
        "me",
        ["c"],
        hub_cap=300,
        max_intermediaries=400,
        sensitive=[],
        now=NOW,
        as_of=OLD - timedelta(days=1),
    )
    assert before["c"]["cn"] == 0.0 and before["c"]["paid_in"] == 0.0


async def world(graph: Graph, viewers: int) -> None:
    """Each viewer v has a candidate m (four mutual friends: the hand weights' favourite)
    and a candidate p whose number v has (one mutual friend). History: the viewers who
    made new friends in the last days befriended p, never m."""
    for i in range(viewers):
        v, m, p = f"v{i}", f"m{i}", f"p{i}"
        mids = [f"f{i}_{j}" for j in range(4)]
        await users(graph, [v, m, p, *mids])
        await friends(graph, [(v, x) for x in mids] + [(m, x) for x in mids], OLD)
        await friends(graph, [(p, mids[0])], OLD)
        await has_contact(graph, v, p)
        if i < viewers - 1:  # the last viewer is the one served below
            await friends(graph, [(v, p)], RECENT)


async def test_trained_model_changes_the_order_deterministically(
    graph: Graph, redis: Redis, settings: Settings, tmp_path: Path
) -> None:
    await world(graph, 9)
    config = SuggestionConfig()
    hand = await compute_suggestions(graph, "v8", limit=10, config=config)
    assert [s.user_id for s in hand][:2] == ["m8", "p8"]

    model = await train(graph, days=30, max_viewers=100, seed=1, now=NOW)
    again = await train(graph, days=30, max_viewers=100, seed=1, now=NOW)
    assert model.to_json() == again.to_json()  # deterministic
    assert model.training["positives"] > 0
    assert model.metrics["model"]["p_at_10"] >= model.metrics["hand_weights"]["p_at_10"]
    coef = dict(zip(model.features, model.coef, strict=True))
    assert coef["contact_out"] > 0

    path = tmp_path / "pymk.json"
    write_model(model, path)
    loaded = load_model(path)
    assert loaded == parse_model(model.to_json())
    ranked = await compute_suggestions(graph, "v8", limit=10, config=config, model=loaded)
    assert [s.user_id for s in ranked][:2] == ["p8", "m8"]
    # the reasons are still the sources' own
    reasons = {s.user_id: [r.kind for r in s.reasons] for s in ranked}
    assert reasons["p8"] == ["MUTUAL_FRIENDS", "CONTACT"]
    assert reasons["m8"] == ["MUTUAL_FRIENDS"]

    # served: the API's and workers' Services load the file named by the settings
    served = Services(settings.model_copy(update={"pymk_model_path": path}), graph, redis)
    assert served.pymk_model == loaded
    entry = await suggestions.compute_entry(served, "v8", 0)
    assert [s.user_id for s in entry.items][:2] == ["p8", "m8"]


def _valid() -> dict[str, object]:
    n = len(FEATURES)
    return {
        "format": FORMAT_VERSION,
        "kind": "logistic",
        "trained_at": "2026-06-01T00:00:00+00:00",
        "features": list(FEATURES),
        "mean": [0.0] * n,
        "scale": [1.0] * n,
        "coef": [0.1] * n,
        "intercept": 0.0,
        "metrics": {},
        "training": {},
    }


def test_a_valid_file_parses() -> None:
    model = parse_model(json.dumps(_valid()))
    assert model.features == FEATURES
    assert 0.0 < model.score(dict.fromkeys(FEATURES, 1.0)) < 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": FORMAT_VERSION + 1}, f"newer than this code reads (format {FORMAT_VERSION})"),
        (
            {"features": [*FEATURES[:-1], "friends_on_mars"]},
            "needs features this code does not compute: friends_on_mars",
        ),
        ({"coef": [0.1]}, "'coef' must be a list of"),
        ({"kind": "forest"}, "unknown model kind"),
        ({"scale": [0.0] * len(FEATURES)}, "'scale' must be positive"),
    ],
)
def test_unusable_files_are_refused_with_a_clear_message(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_model(json.dumps({**_valid(), **change}))


@pytest.mark.parametrize("change", [{"format": FORMAT_VERSION + 1}, {"features": ["nope"]}])
async def test_a_refused_model_falls_back_to_the_hand_weights(
    graph: Graph,
    redis: Redis,
    settings: Settings,
    tmp_path: Path,
    change: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await world(graph, 2)
    path = tmp_path / "pymk.json"
    data = {**_valid(), **change}
    if "features" in change:
        data.update(mean=[0.0], scale=[1.0], coef=[1.0])
    path.write_text(json.dumps(data))
    with caplog.at_level("ERROR", logger="graph.pymk_model"):
        served = Services(settings.model_copy(update={"pymk_model_path": path}), graph, redis)
    assert served.pymk_model is None
    assert "pymk model refused, ranking by the hand weights" in caplog.text
    assert str(path) in caplog.text
    entry = await suggestions.compute_entry(served, "v1", 0)
    hand = await compute_suggestions(graph, "v1", limit=suggestions.LIST_SIZE)
    assert entry.items == hand
    assert [s.user_id for s in hand][:2] == ["m1", "p1"]
