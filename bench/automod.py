"""Automod matching cost: a 5,000-character post against 1,000 rules.

Compares the Aho-Corasick matchers of ``graph.automod`` (pyahocorasick when installed, and
the pure-Python fallback) with the naive ``any(rule in text for rule in rules)``, on an
ordinary post with no match (the common, full-scan case) and on a crafted worst case
(rules "aaaa...b" of many lengths, post "aaaa..."). Prints p50/p99 per match.

    python -m bench.automod [--runs 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from collections.abc import Callable

from graph.automod import build_automaton, normalise

POST_CHARS = 5000
RULES = 1000


def ordinary() -> tuple[list[str], str]:
    rng = random.Random(7)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    rules = []
    for i in range(RULES):
        if i % 2:
            rules.append("".join(rng.choice(han) for _ in range(rng.randint(2, 6))))
        else:
            rules.append(
                "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 12)))
            )
    words = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 8)))
        for _ in range(2000)
    ]
    text = ""
    while len(text) < POST_CHARS:
        text += rng.choice(words) + " " + rng.choice(han)
    text = text[:POST_CHARS]
    rules = [r for r in rules if r not in text][:RULES]
    return rules, text


def crafted() -> tuple[list[str], str]:
    # Every rule shares a long prefix with the post and fails on its last character.
    rules = ["a" * (1 + i % 99) + "b" for i in range(RULES)]
    return rules, "a" * POST_CHARS


def naive(patterns: list[str], text: str) -> bool:
    return any(p in text for p in patterns)


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    print(f"{'case':<10} {'matcher':<24} {'p50 µs':>10} {'p99 µs':>10}  build ms")
    for name, (rules, text) in (("ordinary", ordinary()), ("crafted", crafted())):
        folded = normalise(text)
        pairs = [(normalise(r), r) for r in rules]
        for label, pure in (("aho-corasick (C)", False), ("aho-corasick (python)", True)):
            t0 = time.perf_counter()
            automaton = build_automaton(pairs, pure=pure)
            build = (time.perf_counter() - t0) * 1000
            assert automaton.first(folded) is None
            p50, p99 = timed(lambda a=automaton, t=text: a.first(normalise(t)), args.runs)
            print(f"{name:<10} {label:<24} {p50:>10.1f} {p99:>10.1f}  {build:8.1f}")
        patterns = [p for p, _ in pairs]
        naive_runs = max(5, args.runs // 10)
        p50, p99 = timed(lambda t=text, ps=patterns: naive(ps, normalise(t)), naive_runs)
        print(f"{name:<10} {'naive any(in)':<24} {p50:>10.1f} {p99:>10.1f}  {'-':>8}")


if __name__ == "__main__":
    main()
