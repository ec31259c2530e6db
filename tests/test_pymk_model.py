"""The learned people-you-may-know ranker: features, training on the graph's history, the
model file (refused when it cannot be served, and then the hand weights rank), serving."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph
from graph.pymk_features import FEATURES, FRIENDSHIP_FEATURES, pair_features
from graph.pymk_model import FORMAT_VERSION, ModelRefused, load_model, parse_model
from graph.suggestions import SuggestionConfig, compute_suggestions, model_pool
from workers import suggestions
from workers.pymk_train import LEARNERS, TREES, boosted_model, ranking_metrics, train, write_model
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


async def test_features_as_of_a_date_leave_out_later_friendships(graph: Graph) -> None:
    # as test_features_of_a_small_graph, but b and c became friends only recently
    await users(graph, ["me", "a", "b", "x", "c", "c2"])
    await friends(
        graph, [("me", "a"), ("a", "c"), ("me", "b"), ("b", "x"), ("x", "c"), ("c", "c2")], OLD
    )
    await friends(graph, [("b", "c")], RECENT)
    kw: dict[str, Any] = dict(hub_cap=300, max_intermediaries=400, sensitive=[], now=NOW)
    now = (await pair_features(graph, "me", ["c"], **kw))["c"]
    then = (await pair_features(graph, "me", ["c"], as_of=RECENT - timedelta(days=1), **kw))["c"]
    assert now["cn"] == 2.0 and then["cn"] == 1.0  # only a, then
    assert then["ra"] == pytest.approx(1 / 2)  # deg(a) = 2
    assert then["deg_candidate"] == pytest.approx(math.log1p(3))  # a, x, c2
    assert then["jaccard"] == pytest.approx(1 / (2 + 3 - 1))
    assert then["lp3"] == pytest.approx(math.log1p(1))  # me-b-x-c, all old
    assert now["deg_candidate"] == pytest.approx(math.log1p(4))


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


@pytest.mark.parametrize("learner", LEARNERS)
async def test_trained_model_changes_the_order_deterministically(
    graph: Graph, redis: Redis, settings: Settings, tmp_path: Path, learner: str
) -> None:
    await world(graph, 9)
    config = SuggestionConfig()
    hand = await compute_suggestions(graph, "v8", limit=10, config=config)
    assert [s.user_id for s in hand][:2] == ["m8", "p8"]

    model = await train(graph, days=30, max_viewers=100, seed=1, now=NOW, learner=learner)
    again = await train(graph, days=30, max_viewers=100, seed=1, now=NOW, learner=learner)
    assert model.kind == learner
    assert model.to_json() == again.to_json()  # deterministic
    assert model.training["positives"] > 0
    assert model.metrics["model"]["p_at_10"] >= model.metrics["hand_weights"]["p_at_10"]
    if learner == "logistic":
        coef = dict(zip(model.features, model.coef, strict=True))
        assert coef["contact_out"] > 0
    else:
        assert len(model.trees) == TREES

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


def _trees() -> dict[str, object]:
    # one stump on the second feature: at most 0.5 scores -1, above it +1
    stump = {
        "feature": [1, 0, 0],
        "threshold": [0.5, 0.0, 0.0],
        "left": [1, -1, -1],
        "right": [2, -1, -1],
        "value": [0.0, -1.0, 1.0],
    }
    return {
        "format": FORMAT_VERSION,
        "kind": "boosted_trees",
        "trained_at": "2026-06-01T00:00:00+00:00",
        "features": list(FEATURES),
        "intercept": 0.0,
        "learning_rate": 0.5,
        "trees": [stump, stump],
    }


def test_a_valid_file_parses() -> None:
    model = parse_model(json.dumps(_valid()))
    assert model.features == FEATURES
    assert 0.0 < model.score(dict.fromkeys(FEATURES, 1.0)) < 1.0
    # format 1 (before the trees) still loads
    assert parse_model(json.dumps({**_valid(), "format": 1})) == model
    trees = parse_model(json.dumps(_trees()))
    low, high = dict.fromkeys(FEATURES, 0.0), dict.fromkeys(FEATURES, 0.0)
    high[FEATURES[1]] = 0.75
    assert trees.score_many([low, high]) == pytest.approx(
        [1 / (1 + math.exp(1.0)), 1 / (1 + math.exp(-1.0))]
    )
    assert parse_model(trees.to_json()) == trees


def test_boosted_trees_score_as_scikit_learn_does() -> None:
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier  # type: ignore[import-untyped]

    rnd = np.random.default_rng(7)
    x = rnd.normal(size=(400, len(FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 3] * x[:, 5] + rnd.normal(scale=0.5, size=400) > 0).astype(int)
    fitted = GradientBoostingClassifier(
        n_estimators=40, max_depth=3, init="zero", random_state=1
    ).fit(x, y)
    model = parse_model(boosted_model(fitted, FEATURES, "now").to_json())
    rows = [dict(zip(FEATURES, row, strict=True)) for row in x.tolist()]
    assert model.score_many(rows) == pytest.approx(
        fitted.predict_proba(x)[:, 1].tolist(), abs=1e-12
    )


async def test_a_friendships_only_model_re_ranks_friends_of_friends(graph: Graph) -> None:
    await world(graph, 1)
    await users(graph, ["q"])
    await has_contact(graph, "v0", "q")  # q: in v0's contacts, no mutual friend
    config = SuggestionConfig()
    only = await model_pool(graph, "v0", config, FRIENDSHIP_FEATURES)
    every = await model_pool(graph, "v0", config, FEATURES)
    assert [s.user_id for s in only] == ["m0", "p0"]  # by resource allocation
    assert [s.user_id for s in every] == ["m0", "p0", "q"]


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


def _stump(**change: object) -> dict[str, object]:
    data = _trees()
    data["trees"] = [{**data["trees"][0], **change}]  # type: ignore[index]
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**_trees(), "format": 1}, "unknown model kind 'boosted_trees' in format 1"),
        ({**_trees(), "trees": []}, "'trees' must be a non-empty list"),
        ({**_trees(), "learning_rate": "fast"}, "'learning_rate' must be a finite number"),
        (_stump(left=[0, -1, -1]), "tree 0: node 0 points outside the tree or backwards"),
        (_stump(right=[7, -1, -1]), "tree 0: node 0 points outside the tree or backwards"),
        (_stump(right=[-1, -1, -1]), "tree 0: node 0 has one child"),
        (_stump(feature=[99, 0, 0]), "tree 0: node 0 splits on feature 99"),
        (_stump(value=[0.0, 1.0]), "tree 0: 'value' must be a list of 3 numbers"),
    ],
)
def test_unusable_trees_are_refused_with_a_clear_message(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_model(json.dumps(data))


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


def test_ranking_metrics_count_hits_in_rank_order() -> None:
    """The one P@k / R@k / MRR of training and of bench/pymk_quality.py: P and R count the
    top k only, the reciprocal rank is of the first hit anywhere in the list."""
    orders = [
        ([0, 1, 0, 0, 1], 3),  # hits at ranks 2 and 5 of 3 positives
        ([0, 0], 1),  # no hit
        ([0] * 10 + [1], 1),  # a hit past the top 10
    ]
    got = ranking_metrics(orders, k=10)
    assert got["viewers"] == 3
    assert got["p_at_10"] == pytest.approx((2 / 10) / 3)
    assert got["r_at_10"] == pytest.approx((2 / 3) / 3)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 / 11) / 3)
    assert ranking_metrics([], k=10)["viewers"] == 0
