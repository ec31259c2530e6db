"""Fuzzing the real server with schemathesis (GraphQL mode): every query and mutation,
with generated arguments, as a signed-in user. No answer may be a 5xx, an
INTERNAL_SERVER_ERROR or a hang.

``make test`` runs a few examples per operation; ``make fuzz`` many
(``QUANZI_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.auth import mint_token
from api.settings import Settings
from tests.conftest import free_port

EXAMPLES = int(os.environ.get("QUANZI_FUZZ_EXAMPLES", "4"))
ROLES = os.environ.get("QUANZI_FUZZ_ROLES", "member").split(",")
FUZZER = "p-fuzzer"


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server died"
        try:
            if httpx.get(f"http://{base}/livez", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not start")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("fuzz") / "serve.log").open("wb")
    env = {**os.environ, "QUANZI_PORT": str(port), "QUANZI_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve"], env=env, stdout=log, stderr=log
    )
    base = f"127.0.0.1:{port}"
    try:
        _wait_up(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module", params=ROLES)
def fuzz_token(fuzz_server: str, request: pytest.FixtureRequest) -> str:
    """An ordinary member's token, or (``QUANZI_FUZZ_ROLES=member,admin``) the platform's."""
    settings = Settings()
    admin = mint_token(settings, "platform", admin=True)
    created = httpx.post(
        f"http://{fuzz_server}/graphql",
        json={
            "query": """mutation($i: AdminUpsertUserInput!) { adminUpsertUser(input: $i) {
                user { id } userErrors { code } } }""",
            "variables": {"i": {"platformId": FUZZER, "handle": "fuzzer", "displayName": "F"}},
        },
        headers={"authorization": f"Bearer {admin}"},
        timeout=30,
    ).json()
    assert created["data"]["adminUpsertUser"]["userErrors"] == [], created
    return mint_token(settings, FUZZER, admin=request.param == "admin")


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server: str, fuzz_token: str) -> Any:
    return schemathesis.graphql.from_url(
        f"http://{fuzz_server}/graphql", headers={"authorization": f"Bearer {fuzz_token}"}
    )


def _internal(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        return []
    return [
        e
        for e in body.get("errors") or []
        if (e.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]


# The schema the server serves: every query and mutation the fuzzer will call.
OPERATIONS = sorted(
    result.ok().label
    for result in schemathesis.graphql.from_path(
        Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"
    ).get_all_operations()
)


def test_every_query_and_mutation_is_fuzzed() -> None:
    """So a green run below means something: it covers the whole schema."""
    assert len(OPERATIONS) >= 45
    for name in ("Query.homeFeed", "Mutation.createPost", "Mutation.moderate", "Query.node"):
        assert name in OPERATIONS


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_operation_fails_the_server(label: str, fuzz_schema: Any, fuzz_token: str) -> None:
    (operation,) = [r.ok() for r in fuzz_schema.get_all_operations() if r.ok().label == label]
    headers = {"authorization": f"Bearer {fuzz_token}"}
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def one(case: Any) -> None:
        response = case.call(headers=headers, timeout=30)
        try:
            body = response.json()
        except ValueError:  # not JSON: a 400 from the transport, in plain text
            body = None
        if response.status_code >= 500 or _internal(body):
            failures.append(f"{response.status_code} {case.body!r}: {response.text[:400]}")

    one()
    assert failures == [], failures[:3]
