"""The synthetic social graph behind the benchmarks (no servers needed)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

# The generator and these checks need the `bench` extra (numpy, networkx).
np = pytest.importorskip("numpy")
nx = pytest.importorskip("networkx")

from bench.socialgen import GenConfig, SocialGraph, generate, write_csv  # noqa: E402
from graph.validation import HANDLE_RE, normalize_e164  # noqa: E402

N = 4000


@pytest.fixture(scope="module")
def sg() -> SocialGraph:
    return generate(GenConfig(users=N, seed=7))


def _nx(sg: SocialGraph) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(sg.n))
    g.add_edges_from(sg.edges.tolist())
    return g


def test_deterministic_per_seed(sg: SocialGraph) -> None:
    again = generate(GenConfig(users=N, seed=7))
    other = generate(GenConfig(users=N, seed=8))
    assert np.array_equal(sg.edges, again.edges)
    assert np.array_equal(sg.payments, again.payments)
    assert np.array_equal(sg.visits, again.visits)
    assert sg.contacts == again.contacts
    assert sg.handles == again.handles and sg.phones == again.phones
    assert not np.array_equal(sg.edges[:1000], other.edges[:1000])


def test_edges_are_simple_and_unique(sg: SocialGraph) -> None:
    a, b = sg.edges[:, 0], sg.edges[:, 1]
    assert (a < b).all()
    assert len(np.unique(a * sg.n + b)) == len(sg.edges)


def test_degrees_are_heavy_tailed_with_hubs(sg: SocialGraph) -> None:
    deg = sg.degrees()
    median = float(np.median(deg))
    assert deg.min() >= 1
    # a power law: the top 1% is far above the median, the maximum far above that
    assert np.percentile(deg, 99) > 4 * median
    assert deg.max() > 12 * median
    assert deg.max() > 10 * deg.mean()
    # hubs are the best connected users
    assert set(np.argsort(deg)[-len(sg.hubs) :].tolist()) == set(sg.hubs.tolist())


def test_clustering_well_above_random_graph_of_same_density(sg: SocialGraph) -> None:
    g = _nx(sg)
    nodes = random.Random(1).sample(range(sg.n), 800)
    ours = nx.average_clustering(g, nodes)
    er = nx.gnm_random_graph(sg.n, g.number_of_edges(), seed=1)
    theirs = nx.average_clustering(er, nodes)
    assert ours > 0.1
    assert ours > 10 * theirs


def test_side_signals_follow_real_ties(sg: SocialGraph) -> None:
    friends = {(int(a), int(b)) for a, b in sg.edges.tolist()}

    def is_friend(x: int, y: int) -> bool:
        return (min(x, y), max(x, y)) in friends

    paid_friend = np.mean([is_friend(int(a), int(b)) for a, b, _ in sg.payments.tolist()])
    assert paid_friend > 0.5
    phone_owner = {p: i for i, p in enumerate(sg.phones)}
    in_contacts = [(o, phone_owner[p]) for o, p in sg.contacts if p in phone_owner]
    share_friend = np.mean([is_friend(o, u) for o, u in in_contacts])
    assert 0.5 < share_friend < 1.0  # mostly friends, also some not (yet) friends
    same_comm = np.mean(
        [sg.community[o] == sg.community[u] for o, u in in_contacts if not is_friend(o, u)]
    )
    assert same_comm > 0.3
    cats = {m["category"] for m in sg.merchants}
    assert {"medical", "adult"} <= cats


def test_csv_files(tmp_path: Path) -> None:
    small = generate(GenConfig(users=1500, seed=3))
    counts = write_csv(small, tmp_path)
    headers = {
        "users.csv": ["platform_id", "handle", "display_name", "phone", "trust_score"],
        "merchants.csv": ["platform_id", "name", "category", "latitude", "longitude"],
        "friendships.csv": ["a", "b"],
        "payments.csv": ["from", "to", "at"],
        "visits.csv": ["user", "merchant", "at"],
        "contacts.csv": ["owner", "phone"],
    }
    for name, header in headers.items():
        with (tmp_path / name).open(encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == header, name
        assert len(rows) - 1 == counts[name] > 0
    with (tmp_path / "users.csv").open(encoding="utf-8") as fh:
        users = list(csv.DictReader(fh))
    assert len({u["handle"].lower() for u in users}) == len(users)
    assert len({u["phone"] for u in users}) == len(users)
    for u in users:
        assert HANDLE_RE.fullmatch(u["handle"])
        assert normalize_e164(u["phone"]) == u["phone"]
        assert 0 <= int(u["trust_score"]) <= 1000
    with (tmp_path / "contacts.csv").open(encoding="utf-8") as fh:
        for row in list(csv.DictReader(fh))[:500]:
            assert normalize_e164(row["phone"]) == row["phone"]
    with (tmp_path / "payments.csv").open(encoding="utf-8") as fh:
        at = next(csv.DictReader(fh))["at"]
    assert at.endswith("+08:00") and "T" in at
