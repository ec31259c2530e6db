"""The committed SDL matches the code and meets the client contract.

The contract is committed as ``docs/contract/schema.graphql``, a copy of
``../shared/contract/schema.graphql`` (the source of truth); ``tests/contract.py`` checks it.
Nothing here needs anything outside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schema.root import sdl
from tests.contract import Problem, check_sdl, problems

ROOT = Path(__file__).resolve().parent.parent
PROJECT_SDL = ROOT / "schema" / "schema.graphql"
CONTRACT_COPY = ROOT / "docs" / "contract" / "schema.graphql"
SHARED_CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract" / "schema.graphql"

# Contract names no landed work covers yet, allowed to be missing (and only missing: any
# other problem with them fails); remove a name here when its work lands. Empty: the
# contract is fully met.
NOT_YET_BUILT: frozenset[str] = frozenset()


def unexcused(found: list[Problem], allowed: frozenset[str] = NOT_YET_BUILT) -> list[str]:
    """The problems that fail the build: all but the absence of a not-yet-built name."""
    return [str(p) for p in found if not (p.missing and p.name in allowed)]


def test_committed_sdl_matches_code() -> None:
    committed = (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")
    assert committed == sdl(), "schema drifted: run `quanzi schema export -o schema/schema.graphql`"


def test_contract_is_met() -> None:
    found = check_sdl(
        CONTRACT_COPY.read_text(encoding="utf-8"), PROJECT_SDL.read_text(encoding="utf-8")
    )
    assert unexcused(found) == []


def test_contract_copy_matches_shared_source() -> None:
    if not SHARED_CONTRACT.is_file():
        return  # a clean clone: the committed copy is all there is
    assert CONTRACT_COPY.read_bytes() == SHARED_CONTRACT.read_bytes(), (
        f"docs/contract/schema.graphql differs from {SHARED_CONTRACT}: refresh it with "
        "`cp ../shared/contract/schema.graphql docs/contract/schema.graphql`"
    )


# The checker itself, on a tiny contract, so that it cannot pass by finding nothing.

TINY_CONTRACT = """
interface Node { id: ID! }
type User implements Node { id: ID! name: String role: Role! tags: [String!] }
enum Role { MEMBER OWNER }
union Result = User | Circle
type Circle implements Node { id: ID! }
input Filter { role: Role! text: String }
type Query {
  user(id: ID!): User
  users(first: Int = 20, filter: Filter): [User!]!
  search(text: String!, limit: Int! = 10): [Result!]!
}
"""


def variant(*edits: tuple[str, str]) -> str:
    """The tiny contract with each (old, new) edit applied; every ``old`` must occur."""
    sdl_text = TINY_CONTRACT
    for old, new in edits:
        assert sdl_text.count(old) == 1, old
        sdl_text = sdl_text.replace(old, new)
    return sdl_text


def test_checker_accepts_a_compatible_project() -> None:
    project = variant(
        ("name: String", "name: String! bio: String"),  # stricter output, a new field
        ("user(id: ID!)", "user(id: ID, handle: String)"),  # looser input, optional argument
        ("text: String }", "text: String near: Int! = 5 }"),  # input field with a default
        ("MEMBER OWNER", "MEMBER OWNER ADMIN"),  # a new enum value
        ("tags: [String!]", "tags: [String!]!"),  # stricter list
    )
    assert problems(TINY_CONTRACT, project) == []
    assert problems(TINY_CONTRACT, TINY_CONTRACT) == []


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        pytest.param(
            [("name: String ", "")],
            ["missing field User.name"],
            id="missing field",
        ),
        pytest.param(
            [("role: Role! tags", "role: Role tags")],
            ["User.role returns Role, contract says Role!"],
            id="nullable where the contract says non-null",
        ),
        pytest.param(
            [("users(first: Int = 20,", "users(first: Int = 20, region: String!,")],
            ["new required argument Query.users(region)"],
            id="new required argument",
        ),
        pytest.param(
            [("MEMBER OWNER", "MEMBER")],
            ["missing enum value Role.OWNER"],
            id="missing enum value",
        ),
        pytest.param(
            [("search(text: String!, ", "search(")],
            ["missing argument Query.search(text)"],
            id="missing argument",
        ),
        pytest.param(
            [("text: String }", "text: String! }")],
            ["Filter.text takes String!, contract says String"],
            id="input stricter than the contract",
        ),
        pytest.param(
            [("first: Int = 20", "first: Int!")],
            ["Query.users(first) takes Int!, contract says Int"],
            id="optional argument made required",
        ),
        pytest.param(
            [("limit: Int! = 10", "limit: Int!")],
            ["Query.search(limit) is required, contract lets clients omit it"],
            id="default dropped from a non-null argument",
        ),
        pytest.param(
            [("text: String }", "text: String mode: Int! }")],
            ["new required input field Filter.mode"],
            id="new required input field",
        ),
        pytest.param(
            [("tags: [String!]", "tags: String")],
            ["User.tags returns String, contract says [String!]"],
            id="list shape",
        ),
        pytest.param(
            [("= User | Circle", "= User")],
            ["missing union member Result.Circle"],
            id="missing union member",
        ),
        pytest.param(
            [("type Circle implements Node {", "type Circle {")],
            ["Circle does not implement Node"],
            id="interface not implemented",
        ),
        pytest.param(
            [("enum Role { MEMBER OWNER }", "scalar Role")],
            ["Role is a scalar, contract says an enum"],
            id="different kind",
        ),
        pytest.param(
            [("user(id: ID!): User", "user(id: ID!): Circle")],
            ["Query.user returns Circle, contract says User"],
            id="different named type",
        ),
    ],
)
def test_checker_reports_each_problem(edits: list[tuple[str, str]], expected: list[str]) -> None:
    assert problems(TINY_CONTRACT, variant(*edits)) == expected


def test_checker_reports_a_missing_type_once() -> None:
    project = variant(
        ("union Result = User | Circle\n", ""),
        ("[Result!]!", "[User!]!"),
    )
    assert problems(TINY_CONTRACT, project) == [
        "missing type Result",
        "Query.search returns [User!]!, contract says [Result!]!",
    ]


def test_only_the_absence_of_a_not_yet_built_name_is_excused() -> None:
    contract = "type Query { merchantInsights(id: ID!): Int me: Int }"
    later = frozenset({"Query.merchantInsights"})
    assert unexcused(check_sdl(contract, "type Query { me: Int }"), later) == []
    assert unexcused(check_sdl(contract, contract), later) == []  # landed: still passes
    # with nothing left to build, a missing name fails
    assert unexcused(check_sdl(contract, "type Query { me: Int }")) == [
        "missing field Query.merchantInsights"
    ]
    mistyped = check_sdl(contract, "type Query { merchantInsights(id: ID!): String }")
    assert unexcused(mistyped, later) == [
        "Query.merchantInsights returns String, contract says Int",
        "missing field Query.me",
    ]
