"""Bearer tokens: missing is anonymous; bad is UNAUTHENTICATED, never a 500."""

from __future__ import annotations

import time

import jwt
import pytest

from api.auth import ALGORITHM
from tests.conftest import GQL


def _token(secret: str, **claims: object) -> str:
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


async def test_missing_token_is_anonymous(client: GQL) -> None:
    body = await client("{ me { id } }")
    assert body == {"data": {"me": None}}


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not.a.jwt",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer "
        + _token(
            "a-wrong-secret-that-is-long-enough-for-hs256", sub="p-1", exp=int(time.time()) + 60
        ),
    ],
)
async def test_bad_credentials_are_unauthenticated(client: GQL, header: str) -> None:
    response = await client.http.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"authorization": header}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expired_token_is_unauthenticated(client: GQL) -> None:
    secret = client.settings.signing_secret
    expired = _token(secret, sub="p-1", exp=int(time.time()) - 3600)
    response = await client.post("{ me { id } }", token=expired)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in body["errors"][0]["message"]


async def test_token_without_expiry_or_subject_is_refused(client: GQL) -> None:
    secret = client.settings.signing_secret
    for claims in ({"sub": "p-1"}, {"exp": int(time.time()) + 60}, {"sub": 5, "exp": 10**10}):
        response = await client.post("{ me { id } }", token=_token(secret, **claims))
        assert response.status_code == 401, claims


async def test_unknown_subject_is_not_signed_in(client: GQL) -> None:
    body = await client("{ me { id } }", token=client.token("nobody-knows-me"))
    assert body == {"data": {"me": None}}
    payload = (
        await client(
            'mutation { updateProfile(input: {displayName: "x"}) { userErrors { code } } }',
            token=client.token("nobody-knows-me"),
        )
    )["data"]["updateProfile"]
    assert payload["userErrors"] == [{"code": "UNAUTHENTICATED"}]


async def test_known_subject_signs_in(client: GQL) -> None:
    user = await client.make_user("auth_known")
    body = await client("{ me { handle } }", token=user["token"])
    assert body == {"data": {"me": {"handle": "auth_known"}}}


async def test_admin_role_is_needed_for_admin_mutations(client: GQL) -> None:
    user = await client.make_user("auth_plain")
    query = """mutation { adminUpsertUser(input: {platformId: "p-z", handle: "zzz",
               displayName: "z"}) { user { id } userErrors { code } } }"""
    plain = (await client(query, token=user["token"]))["data"]["adminUpsertUser"]
    assert plain == {"user": None, "userErrors": [{"code": "FORBIDDEN"}]}
    admin = (await client(query, token=client.token(user["platformId"], admin=True)))["data"]
    assert admin["adminUpsertUser"]["userErrors"] == []
