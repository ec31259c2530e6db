"""Automod: per-circle word and phrase rules checked against every new post and comment.

Rules are plain text, never regular expressions: a crafted rule or post cannot make
matching slow. Text and patterns are normalised the same way (case-folded, runs of
whitespace collapsed to one space) and matched as substrings, which suits Chinese (no word
boundaries) and English phrases alike. All of a circle's patterns go into Aho-Corasick
automatons (one for REFUSE rules, one for HOLD rules), so one pass over the text answers
"does any rule match" in time linear in the text, whatever the rules; searching stops at
the first match.

Automatons are built once per circle and cached in the process, keyed by the circle's
``automodVersion``, which every change of the rules bumps: a process that has not seen a
change reads the new version on its next check and rebuilds.

The automaton comes from pyahocorasick (C) when it is installed; otherwise from the small
pure-Python one below (same guarantees, slower constant).
"""

from __future__ import annotations

import enum
import importlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from neo4j import AsyncManagedTransaction

from graph.circles import moderator_gate
from graph.driver import Graph
from graph.errors import Problem, invalid
from graph.users import new_id
from graph.validation import check_text

MAX_RULES = 1000
PATTERN_MAX = 100
LABEL_MAX = 80


class AutomodAction(enum.StrEnum):
    HOLD = "HOLD"
    REFUSE = "REFUSE"


@dataclass(frozen=True)
class RuleInput:
    label: str
    pattern: str
    action: AutomodAction


@dataclass(frozen=True)
class AutomodRule:
    id: str
    label: str
    pattern: str
    action: AutomodAction

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AutomodRule:
        return cls(row["id"], row["label"], row["pattern"], AutomodAction(row["action"]))


def normalise(text: str) -> str:
    """Case-folded, every run of whitespace one space, trimmed."""
    return " ".join(text.casefold().split())


# ---------------------------------------------------------------- automatons


class Automaton(Protocol):
    def first(self, text: str) -> str | None:
        """The label of some pattern occurring in ``text`` (already normalised), or None."""


class PyAutomaton:
    """Aho-Corasick in pure Python: goto dicts, failure links, and per state the label of
    one pattern ending there (its own or one inherited along the failure chain)."""

    def __init__(self, patterns: Sequence[tuple[str, str]]) -> None:
        self.goto: list[dict[str, int]] = [{}]
        self.label: list[str | None] = [None]
        for pattern, label in patterns:
            state = 0
            for ch in pattern:
                nxt = self.goto[state].get(ch)
                if nxt is None:
                    nxt = len(self.goto)
                    self.goto.append({})
                    self.label.append(None)
                    self.goto[state][ch] = nxt
                state = nxt
            if self.label[state] is None:
                self.label[state] = label
        self.fail = [0] * len(self.goto)
        queue: deque[int] = deque(self.goto[0].values())
        while queue:
            state = queue.popleft()
            for ch, nxt in self.goto[state].items():
                queue.append(nxt)
                f = self.fail[state]
                while f and ch not in self.goto[f]:
                    f = self.fail[f]
                target = self.goto[f].get(ch, 0)
                self.fail[nxt] = target if target != nxt else 0
                if self.label[nxt] is None:
                    self.label[nxt] = self.label[self.fail[nxt]]

    def first(self, text: str) -> str | None:
        goto, fail, label = self.goto, self.fail, self.label
        state = 0
        for ch in text:
            while state and ch not in goto[state]:
                state = fail[state]
            state = goto[state].get(ch, 0)
            if label[state] is not None:
                return label[state]
        return None


class CAutomaton:
    """The same over pyahocorasick's C automaton."""

    def __init__(self, module: Any, patterns: Sequence[tuple[str, str]]) -> None:
        self.automaton = module.Automaton()
        for pattern, label in patterns:
            if pattern not in self.automaton:
                self.automaton.add_word(pattern, label)
        self.empty = not patterns
        if not self.empty:
            self.automaton.make_automaton()

    def first(self, text: str) -> str | None:
        if self.empty:
            return None
        for _end, label in self.automaton.iter(text):
            return str(label)
        return None


def _c_module() -> Any:
    try:
        return importlib.import_module("ahocorasick")
    except ImportError:
        return None


_AHOCORASICK = _c_module()


def build_automaton(patterns: Sequence[tuple[str, str]], *, pure: bool = False) -> Automaton:
    """An automaton over (normalised pattern, label) pairs."""
    if _AHOCORASICK is not None and not pure:
        return CAutomaton(_AHOCORASICK, patterns)
    return PyAutomaton(patterns)


@dataclass(frozen=True)
class Matcher:
    refuse: Automaton
    hold: Automaton
    empty: bool

    @classmethod
    def of(cls, rules: Sequence[AutomodRule]) -> Matcher:
        def pairs(action: AutomodAction) -> list[tuple[str, str]]:
            return [(normalise(r.pattern), r.label) for r in rules if r.action is action]

        return cls(
            refuse=build_automaton(pairs(AutomodAction.REFUSE)),
            hold=build_automaton(pairs(AutomodAction.HOLD)),
            empty=not rules,
        )

    def check(self, text: str) -> tuple[AutomodAction, str] | None:
        """REFUSE wins over HOLD; the label of the rule that matched."""
        if self.empty:
            return None
        folded = normalise(text)
        label = self.refuse.first(folded)
        if label is not None:
            return AutomodAction.REFUSE, label
        label = self.hold.first(folded)
        if label is not None:
            return AutomodAction.HOLD, label
        return None


EMPTY = Matcher.of([])
# circle id -> (automodVersion it was built from, matcher)
_cache: dict[str, tuple[int, Matcher]] = {}


def forget(circle_id: str) -> None:
    _cache.pop(circle_id, None)


async def matcher_for(graph: Graph, circle_id: str) -> Matcher:
    """The circle's matcher, rebuilt only when its rules changed since it was cached."""
    result = await graph.read(
        "MATCH (c:Circle {id: $id}) RETURN coalesce(c.automodVersion, 0) AS v", id=circle_id
    )
    if not result.records:
        return EMPTY
    version = int(result.records[0]["v"])
    if version == 0:
        return EMPTY
    cached = _cache.get(circle_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    rules, version = await _rules_with_version(graph, circle_id)
    matcher = Matcher.of(rules)
    _cache[circle_id] = (version, matcher)
    return matcher


# ---------------------------------------------------------------- rules


async def _rules_with_version(graph: Graph, circle_id: str) -> tuple[list[AutomodRule], int]:
    result = await graph.read(
        """
        MATCH (c:Circle {id: $id})
        RETURN coalesce(c.automodVersion, 0) AS v,
               [(r:AutomodRule)-[:IN]->(c) | r {.id, .label, .pattern, .action}] AS rules
        """,
        id=circle_id,
    )
    if not result.records:
        return [], 0
    row = result.records[0]
    rules = sorted((AutomodRule.from_row(r) for r in row["rules"]), key=lambda r: r.id)
    return rules, int(row["v"])


async def rules_of(graph: Graph, circle_id: str) -> list[AutomodRule]:
    return (await _rules_with_version(graph, circle_id))[0]


def rule_problems(rules: Sequence[RuleInput]) -> list[Problem]:
    if len(rules) > MAX_RULES:
        return [invalid("rules", f"at most {MAX_RULES} rules per circle")]
    problems: list[Problem] = []
    for i, rule in enumerate(rules):
        problems += check_text(f"rules.{i}.label", rule.label, min_len=1, max_len=LABEL_MAX)
        pattern = normalise(rule.pattern)
        if not 1 <= len(pattern) <= PATTERN_MAX:
            problems.append(
                invalid(f"rules.{i}.pattern", f"a pattern has 1 to {PATTERN_MAX} characters")
            )
    return problems


async def set_rules(
    tx: AsyncManagedTransaction,
    actor_id: str,
    circle_id: str,
    rules: Sequence[RuleInput],
    *,
    admin: bool,
) -> None:
    """Replace the circle's rules (those who moderate it) and bump its automod version.
    ``rules`` passed ``rule_problems``; call ``forget`` once the transaction is over."""
    await moderator_gate(tx, circle_id, actor_id, admin=admin)  # write-locks the circle
    await tx.run(
        """
        MATCH (c:Circle {id: $circle})
        OPTIONAL MATCH (r:AutomodRule)-[:IN]->(c)
        DETACH DELETE r
        """,
        circle=circle_id,
    )
    await tx.run(
        """
        MATCH (c:Circle {id: $circle})
        SET c.automodVersion = coalesce(c.automodVersion, 0) + 1
        WITH c
        UNWIND $rules AS rule
        CREATE (:AutomodRule {id: rule.id, label: rule.label, pattern: rule.pattern,
                              action: rule.action})-[:IN]->(c)
        """,
        circle=circle_id,
        rules=[
            {
                "id": f"{i:04d}-{new_id()}",  # sorts in the order given
                "label": r.label.strip(),
                "pattern": normalise(r.pattern),
                "action": r.action.value,
            }
            for i, r in enumerate(rules)
        ],
    )
