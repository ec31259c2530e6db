"""A synthetic social graph with the side signals "people you may know" uses.

Structure (deterministic for a given size and seed):

- users live in **communities** (lognormal sizes, ~80 people) grouped into **regions**
  (a city district: ~20 communities with a location);
- each user gets a target degree from a **power law** (Pareto, alpha 2.5); a few **hubs**
  (celebrity-like accounts) get thousands of friends (5,000+ at 100k users);
- friendships are drawn Chung-Lu style, most inside the community (dense, hence high
  clustering), some inside the region, the rest anywhere — both weighted by degree;
- **contacts**: many friends are in each other's address book (often both ways), some
  community members who are not friends (yet), a few random users and numbers of people
  who are not on the platform; hubs keep only a tiny share of their fans;
- **payments**: mostly to friends, then to community members, rarely to anyone;
- **merchants** sit in regions with a Zipf popularity and a category (incl. ``medical``
  and ``adult``); **visits** concentrate on the community's favourite merchants, then the
  region's, rarely anywhere.

CLI: ``python -m bench.socialgen --users N --seed S --out DIR`` writes the import CSVs
(users, merchants, friendships, payments, visits) plus ``contacts.csv`` (owner, phone),
which ``quanzi import`` does not read (contacts arrive through ``uploadContacts``).
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

# Bump when the output for a given (size, seed) changes: loaded datasets are keyed on it.
GEN_VERSION = 3

CST = timezone(timedelta(hours=8))
EPOCH = datetime(2026, 6, 1, tzinfo=CST)
HISTORY_SECONDS = 180 * 86400

PHONE_PREFIXES = ("138", "139", "150", "151", "186", "187", "136", "177")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
PINYIN = (
    "wei",
    "fang",
    "na",
    "min",
    "jing",
    "li",
    "qiang",
    "lei",
    "jun",
    "yang",
    "yong",
    "yan",
    "jie",
    "juan",
    "tao",
    "ming",
    "chao",
    "xiu",
    "xia",
    "ping",
    "gang",
    "hua",
    "yu",
    "lan",
)
CATEGORIES = (
    ("restaurant", 0.26),
    ("cafe", 0.12),
    ("grocery", 0.12),
    ("retail", 0.12),
    ("fitness", 0.07),
    ("education", 0.07),
    ("beauty", 0.06),
    ("entertainment", 0.06),
    ("medical", 0.08),
    ("pharmacy", 0.02),
    ("adult", 0.02),
)
# Region centres scattered around Hangzhou.
CITY_LAT, CITY_LON = 30.27, 120.15

USER_HEADER = ("platform_id", "handle", "display_name", "phone", "trust_score")
MERCHANT_HEADER = ("platform_id", "name", "category", "latitude", "longitude")
FRIENDSHIP_HEADER = ("a", "b")
PAYMENT_HEADER = ("from", "to", "at")
VISIT_HEADER = ("user", "merchant", "at")
CONTACT_HEADER = ("owner", "phone")


@dataclass(frozen=True)
class GenConfig:
    users: int = 20_000
    seed: int = 1
    avg_degree: float = 50.0
    community_mean: float = 80.0
    communities_per_region: int = 20
    p_community: float = 0.65  # share of an ordinary user's friendships inside the community
    p_region: float = 0.20  # inside the region (the rest: anywhere)
    pareto_alpha: float = 2.5
    hubs: int | None = None  # default: max(3, users // 20_000)
    hub_degree: tuple[int, int] | None = None  # default: 5,500-9,000 scaled to the size
    payments_per_user: float = 2.5
    visits_per_user: float = 6.0
    users_per_merchant: int = 40
    # Friendship formation over time: every friendship above gets a creation time spread
    # over the history; then this share more are formed in the last CLOSURE_DAYS by
    # triadic closure (a friend's friend, kept always inside the community, half the
    # time inside the region, a tenth of the time elsewhere), as real graphs grow.
    closure_share: float = 0.0


@dataclass
class SocialGraph:
    config: GenConfig
    platform_ids: list[str]
    handles: list[str]
    display_names: list[str]
    phones: list[str]  # E.164
    trust: np.ndarray
    community: np.ndarray
    region: np.ndarray
    edges: np.ndarray  # (m, 2) user indexes, a < b, unique
    merchants: list[dict[str, object]]
    payments: np.ndarray  # (k, 3): from, to, seconds before EPOCH
    visits: np.ndarray  # (k, 3): user, merchant index, seconds before EPOCH
    contacts: list[tuple[int, str]]  # owner index, E.164
    hubs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # per friendship (aligned with edges): seconds before EPOCH it was formed
    since: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n(self) -> int:
        return len(self.platform_ids)

    def degrees(self, edges: np.ndarray | None = None) -> np.ndarray:
        e = self.edges if edges is None else edges
        return np.bincount(e.ravel(), minlength=self.n)


def phone_for(index: int, seed: int) -> str:
    """A unique Chinese mobile number per index (an affine map mod 10^8 is a bijection)."""
    prefix = PHONE_PREFIXES[index % len(PHONE_PREFIXES)]
    body = (index * 48271 + seed * 7919 + 1_234_567) % 100_000_000
    return f"+86{prefix}{body:08d}"


def iso(seconds_before: int) -> str:
    return (EPOCH - timedelta(seconds=int(seconds_before))).isoformat()


def _chung_lu(rng: np.random.Generator, members: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Edges among ``members``: endpoints drawn proportionally to ``weights``."""
    total = float(weights.sum())
    pairs = int(rng.poisson(total / 2.0)) if total > 0 else 0
    if pairs == 0 or len(members) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    p = weights / total
    ends = rng.choice(members, size=(pairs, 2), p=p)
    return ends


def _normalize_edges(n: int, edges: np.ndarray) -> np.ndarray:
    a = np.minimum(edges[:, 0], edges[:, 1]).astype(np.int64)
    b = np.maximum(edges[:, 0], edges[:, 1]).astype(np.int64)
    keep = a != b
    key = np.unique(a[keep] * n + b[keep])
    return np.stack([key // n, key % n], axis=1)


def generate(config: GenConfig) -> SocialGraph:
    n, seed = config.users, config.seed
    rng = np.random.default_rng(seed)

    # --- communities and regions
    sizes: list[int] = []
    sigma = 0.6
    mu = np.log(config.community_mean) - sigma**2 / 2
    while sum(sizes) < n:
        sizes.append(int(np.clip(rng.lognormal(mu, sigma), 8, 600)))
    sizes[-1] -= sum(sizes) - n
    if sizes[-1] < 3 and len(sizes) > 1:
        sizes[-2] += sizes.pop()
    n_comm = len(sizes)
    order = rng.permutation(n)  # community membership independent of the index
    community = np.empty(n, dtype=np.int64)
    start = 0
    for c, size in enumerate(sizes):
        community[order[start : start + size]] = c
        start += size
    comm_region = rng.integers(0, max(1, n_comm // config.communities_per_region), n_comm)
    n_region = int(comm_region.max()) + 1
    region = comm_region[community]
    region_lat = CITY_LAT + rng.normal(0, 0.08, n_region)
    region_lon = CITY_LON + rng.normal(0, 0.10, n_region)

    # --- target degrees: power law, plus hubs
    alpha = config.pareto_alpha
    dmin = config.avg_degree * (alpha - 2) / (alpha - 1)
    u = rng.random(n)
    target = dmin * (1 - u) ** (-1 / (alpha - 1))
    target = np.minimum(target, max(300.0, n / 40))
    n_hubs = config.hubs if config.hubs is not None else max(3, n // 20_000)
    lo, hi = config.hub_degree or (
        max(int(5_500 * n / 100_000) + 20, min(n // 10, 600)),
        max(int(9_000 * n / 100_000) + 30, min(n // 6, 900)),
    )
    hubs = rng.choice(n, size=n_hubs, replace=False)
    target[hubs] = rng.integers(lo, hi + 1, n_hubs)

    is_hub = np.zeros(n, dtype=bool)
    is_hub[hubs] = True
    comm_size = np.asarray(sizes)[community]
    w_comm = np.minimum(config.p_community * target, 0.6 * (comm_size - 1))
    w_comm[is_hub] = np.minimum(0.5 * (comm_size[is_hub] - 1), 40)
    rest = target - w_comm
    share_region = config.p_region / (1 - config.p_community)
    w_region = np.where(is_hub, 0.1 * rest, share_region * rest)
    w_global = rest - w_region

    parts: list[np.ndarray] = []
    members_by_comm = np.argsort(community, kind="stable")
    bounds = np.searchsorted(community[members_by_comm], np.arange(n_comm + 1))
    for c in range(n_comm):
        m = members_by_comm[bounds[c] : bounds[c + 1]]
        parts.append(_chung_lu(rng, m, w_comm[m]))
    members_by_region = np.argsort(region, kind="stable")
    rbounds = np.searchsorted(region[members_by_region], np.arange(n_region + 1))
    for r in range(n_region):
        m = members_by_region[rbounds[r] : rbounds[r + 1]]
        parts.append(_chung_lu(rng, m, w_region[m]))
    parts.append(_chung_lu(rng, np.arange(n), w_global))
    edges = _normalize_edges(n, np.concatenate(parts))
    # duplicate draws inside dense communities are lost: top up the deficit in the region
    # (half) and anywhere (half), weighted by what each user still lacks
    deficit = np.maximum(target - np.bincount(edges.ravel(), minlength=n), 0) * 1.5
    for r in range(n_region):
        m = members_by_region[rbounds[r] : rbounds[r + 1]]
        parts.append(_chung_lu(rng, m, 0.5 * deficit[m]))
    parts.append(_chung_lu(rng, np.arange(n), 0.5 * deficit))
    edges = _normalize_edges(n, np.concatenate(parts))
    edges, since = _formation(edges, n, community, region, config)

    # --- users
    platform_ids = [f"u{i:07d}" for i in range(n)]
    handles = [f"{PINYIN[int(x)]}_{i}" for i, x in enumerate(rng.integers(0, len(PINYIN), n))]
    sur = rng.integers(0, len(SURNAMES), n)
    g1 = rng.integers(0, len(GIVEN), n)
    g2 = rng.integers(-len(GIVEN), len(GIVEN), n)  # negative: a one-character given name
    display_names = [
        SURNAMES[s] + GIVEN[a] + (GIVEN[b] if b >= 0 else "")
        for s, a, b in zip(sur.tolist(), g1.tolist(), g2.tolist(), strict=True)
    ]
    phones = [phone_for(i, seed) for i in range(n)]
    trust = np.clip(rng.normal(620, 140, n), 0, 1000).astype(np.int64)

    # adjacency (CSR) for side signals
    deg = np.bincount(edges.ravel(), minlength=n)
    both = np.concatenate([edges, edges[:, ::-1]])
    both = both[np.argsort(both[:, 0], kind="stable")]
    nbr = both[:, 1]
    offs = np.concatenate([[0], np.cumsum(deg)])

    def random_friend(users: np.ndarray) -> np.ndarray:
        d = deg[users]
        pick = (rng.random(len(users)) * np.maximum(d, 1)).astype(np.int64)
        out = nbr[np.minimum(offs[users] + pick, len(nbr) - 1)]
        return np.where(d > 0, out, -1)

    def random_comm_member(users: np.ndarray) -> np.ndarray:
        c = community[users]
        lo_, hi_ = bounds[c], bounds[c + 1]
        pick = lo_ + (rng.random(len(users)) * (hi_ - lo_)).astype(np.int64)
        return members_by_comm[pick]

    # --- contacts
    contacts: list[tuple[int, str]] = []
    hubish = deg > 1000
    ea, eb = edges[:, 0], edges[:, 1]
    r = rng.random(len(edges))
    hub_edge = hubish[ea] | hubish[eb]
    a_has = np.where(hub_edge, r < 0.05, r < 0.50)  # a has b
    r2 = rng.random(len(edges))
    b_has = np.where(hub_edge, r2 < 0.05, np.where(a_has, r2 < 0.70, r2 < 0.20))
    a_has &= ~hubish[ea] | (rng.random(len(edges)) < 0.03)
    b_has &= ~hubish[eb] | (rng.random(len(edges)) < 0.03)
    pairs = [np.stack([ea[a_has], eb[a_has]], 1), np.stack([eb[b_has], ea[b_has]], 1)]
    # community members one has not befriended (yet), sometimes both ways
    owners = np.repeat(np.arange(n), rng.poisson(5.0, n))
    others = random_comm_member(owners)
    pairs.append(np.stack([owners, others], 1))
    back = rng.random(len(owners)) < 0.5
    pairs.append(np.stack([others[back], owners[back]], 1))
    # anyone at all
    owners = np.repeat(np.arange(n), rng.poisson(3.0, n))
    pairs.append(np.stack([owners, rng.integers(0, n, len(owners))], 1))
    cp = np.concatenate(pairs)
    cp = cp[cp[:, 0] != cp[:, 1]]
    cp = np.unique(cp[:, 0] * n + cp[:, 1])
    contacts.extend((int(k // n), phones[int(k % n)]) for k in cp)
    # numbers of people not on the platform
    owners = np.repeat(np.arange(n), rng.poisson(4.0, n))
    outside = rng.integers(n, n + 3 * n, len(owners))
    contacts.extend((int(o), phone_for(int(x), seed)) for o, x in zip(owners, outside, strict=True))
    contacts.sort()

    # --- payments: friends, then community, then anyone
    payers = np.repeat(np.arange(n), rng.poisson(config.payments_per_user, n))
    kind = rng.random(len(payers))
    to = np.where(
        kind < 0.70,
        random_friend(payers),
        np.where(kind < 0.90, random_comm_member(payers), rng.integers(0, n, len(payers))),
    )
    to = np.where(to < 0, rng.integers(0, n, len(payers)), to)
    ok = to != payers
    at = rng.integers(0, HISTORY_SECONDS, len(payers))
    payments = np.stack([payers[ok], to[ok], at[ok]], 1)

    # --- merchants: in regions, Zipf popularity, categories
    n_merch = max(20, n // config.users_per_merchant)
    m_region = rng.integers(0, n_region, n_merch)
    cats = [c for c, _ in CATEGORIES]
    probs = np.array([p for _, p in CATEGORIES])
    m_cat = rng.choice(len(cats), n_merch, p=probs / probs.sum())
    pop = 1.0 / (1 + rng.permutation(n_merch)) ** 0.9
    merchants: list[dict[str, object]] = []
    for j in range(n_merch):
        cat = cats[int(m_cat[j])]
        reg = int(m_region[j])
        merchants.append(
            {
                "platform_id": f"m{j:06d}",
                "name": f"{cat.title()} {PINYIN[j % len(PINYIN)].title()} {j}",
                "category": cat,
                "latitude": round(float(region_lat[reg] + rng.normal(0, 0.01)), 6),
                "longitude": round(float(region_lon[reg] + rng.normal(0, 0.01)), 6),
            }
        )
    merch_by_region = [np.flatnonzero(m_region == r_) for r_ in range(n_region)]
    # each community has a handful of favourite merchants in its region
    fav = np.empty((n_comm, 4), dtype=np.int64)
    for c in range(n_comm):
        pool = merch_by_region[int(comm_region[c])]
        if len(pool) == 0:
            pool = np.arange(n_merch)
        fav[c] = rng.choice(pool, 4, p=pop[pool] / pop[pool].sum())
    visitors = np.repeat(np.arange(n), rng.poisson(config.visits_per_user, n))
    kind = rng.random(len(visitors))
    v_fav = fav[community[visitors], rng.integers(0, 4, len(visitors))]
    v_global = rng.choice(n_merch, len(visitors), p=pop / pop.sum())
    v_region = v_global.copy()
    reg_of = region[visitors]
    for r_ in range(n_region):
        sel = np.flatnonzero((kind >= 0.5) & (kind < 0.85) & (reg_of == r_))
        pool = merch_by_region[r_]
        if len(sel) and len(pool):
            v_region[sel] = rng.choice(pool, len(sel), p=pop[pool] / pop[pool].sum())
    merchant_of_visit = np.where(kind < 0.5, v_fav, np.where(kind < 0.85, v_region, v_global))
    at = rng.integers(0, HISTORY_SECONDS, len(visitors))
    visits = np.stack([visitors, merchant_of_visit, at], 1)

    return SocialGraph(
        config=config,
        platform_ids=platform_ids,
        handles=handles,
        display_names=display_names,
        phones=phones,
        trust=trust,
        community=community,
        region=region,
        edges=edges,
        merchants=merchants,
        payments=payments,
        visits=visits,
        contacts=contacts,
        hubs=np.sort(hubs),
        since=since,
    )


CLOSURE_DAYS = 45


# A closure walk's pair is kept always inside a community, at these rates otherwise.
CLOSURE_KEEP_REGION = 0.5
CLOSURE_KEEP_ELSEWHERE = 0.1


def _formation(
    edges: np.ndarray, n: int, community: np.ndarray, region: np.ndarray, config: GenConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Creation times for ``edges``, and the friendships formed lately by triadic closure
    (``GenConfig.closure_share``); a generator of its own, so the rest of the graph is
    the same whatever the share."""
    rng = np.random.default_rng(config.seed + 424_242)
    since = rng.integers(0, 2 * HISTORY_SECONDS, len(edges))
    want = int(config.closure_share * len(edges))
    if want == 0 or len(edges) == 0:
        return edges, since
    deg = np.bincount(edges.ravel(), minlength=n)
    both = np.concatenate([edges, edges[:, ::-1]])
    both = both[np.argsort(both[:, 0], kind="stable")]
    nbr, offs = both[:, 1], np.concatenate([[0], np.cumsum(deg)])

    def friend_of(users: np.ndarray) -> np.ndarray:
        d = deg[users]
        pick = offs[users] + (rng.random(len(users)) * np.maximum(d, 1)).astype(np.int64)
        return np.where(d > 0, nbr[np.minimum(pick, len(nbr) - 1)], users)

    existing = set((edges[:, 0] * n + edges[:, 1]).tolist())
    found: list[int] = []
    taken: set[int] = set()
    for _ in range(20):  # rounds of walks until enough new pairs closed
        u = both[rng.integers(0, len(both), 4 * want), 0]  # an endpoint: ~ degree
        c = friend_of(friend_of(u))
        keep = np.where(
            community[u] == community[c],
            True,
            np.where(
                region[u] == region[c],
                rng.random(len(u)) < CLOSURE_KEEP_REGION,
                rng.random(len(u)) < CLOSURE_KEEP_ELSEWHERE,
            ),
        )
        keep &= u != c
        a, b = np.minimum(u, c)[keep], np.maximum(u, c)[keep]
        for key in (a * n + b).tolist():
            if key not in existing and key not in taken:
                taken.add(key)
                found.append(key)
        if len(found) >= want:
            break
    new = np.asarray(found[:want], dtype=np.int64)
    new_edges = np.stack([new // n, new % n], axis=1)
    new_since = rng.integers(0, CLOSURE_DAYS * 86400, len(new_edges))
    all_edges = np.concatenate([edges, new_edges])
    all_since = np.concatenate([since, new_since])
    order = np.argsort(all_edges[:, 0] * n + all_edges[:, 1], kind="stable")
    return all_edges[order], all_since[order]


def write_csv(sg: SocialGraph, out: Path, *, edges: np.ndarray | None = None) -> dict[str, int]:
    """The import CSVs (plus contacts.csv); ``edges`` overrides the friendships written."""
    out.mkdir(parents=True, exist_ok=True)
    pid = sg.platform_ids
    counts: dict[str, int] = {}

    def write(name: str, header: tuple[str, ...], rows: object) -> None:
        with (out / name).open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            k = 0
            for row in rows:  # type: ignore[attr-defined]
                w.writerow(row)
                k += 1
        counts[name] = k

    write(
        "users.csv",
        USER_HEADER,
        (
            (pid[i], sg.handles[i], sg.display_names[i], sg.phones[i], int(sg.trust[i]))
            for i in range(sg.n)
        ),
    )
    write(
        "merchants.csv",
        MERCHANT_HEADER,
        (
            (m["platform_id"], m["name"], m["category"], m["latitude"], m["longitude"])
            for m in sg.merchants
        ),
    )
    e = sg.edges if edges is None else edges
    write("friendships.csv", FRIENDSHIP_HEADER, ((pid[a], pid[b]) for a, b in e.tolist()))
    write(
        "payments.csv",
        PAYMENT_HEADER,
        ((pid[a], pid[b], iso(t)) for a, b, t in sg.payments.tolist()),
    )
    mp = [m["platform_id"] for m in sg.merchants]
    write("visits.csv", VISIT_HEADER, ((pid[u], mp[m], iso(t)) for u, m, t in sg.visits.tolist()))
    write("contacts.csv", CONTACT_HEADER, ((pid[o], ph) for o, ph in sg.contacts))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--avg-degree", type=float, default=50.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    t0 = time.perf_counter()
    sg = generate(GenConfig(users=args.users, seed=args.seed, avg_degree=args.avg_degree))
    t1 = time.perf_counter()
    counts = write_csv(sg, args.out)
    deg = sg.degrees()
    print(
        f"generated {sg.n} users, {len(sg.edges)} friendships in {t1 - t0:.1f}s "
        f"(mean degree {deg.mean():.1f}, max {deg.max()}, hubs {deg[sg.hubs].tolist()}); "
        f"wrote {counts} to {args.out} in {time.perf_counter() - t1:.1f}s"
    )


if __name__ == "__main__":
    main()
