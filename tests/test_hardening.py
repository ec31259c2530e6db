"""Production posture: no introspection or field suggestions, metrics behind a token,
long secrets, security headers, and CORS only for the configured web origins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from api.app import create_app
from api.settings import Settings
from tests.conftest import GQL

INTROSPECT = "{ __schema { queryType { name } } }"
TYPO = "{ me { handel } }"


def production(settings: Settings, **extra: object) -> Settings:
    return settings.model_copy(
        update={"env": "production", "jwt_secret": "j" * 40, "contact_pepper": "p" * 40, **extra}
    )


@pytest.fixture
async def prod(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(production(settings, metrics_token="m" * 40))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://prod") as http:
            yield http


async def test_production_hides_the_schema(prod: httpx.AsyncClient, client: GQL) -> None:
    body = (await prod.post("/graphql", json={"query": INTROSPECT})).json()
    assert body.get("data") is None and "introspection" in body["errors"][0]["message"].lower()
    typo = (await prod.post("/graphql", json={"query": TYPO})).json()
    assert "Did you mean" not in typo["errors"][0]["message"]
    # the control: outside production both work as a developer expects
    assert (await client(INTROSPECT))["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "Did you mean" in (await client(TYPO))["errors"][0]["message"]


async def test_metrics_need_the_token_in_production(
    prod: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await prod.get("/metrics")).status_code == 401
    wrong = await prod.get("/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await prod.get("/metrics", headers={"authorization": "Bearer " + "m" * 40})
    assert right.status_code == 200 and "quanzi_graphql_requests_total" in right.text

    app = create_app(production(settings))  # no token configured: not exposed at all
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://prod"
        ) as http:
            assert (await http.get("/metrics")).status_code == 404


def test_production_refuses_short_secrets() -> None:
    with pytest.raises(ValidationError, match="QUANZI_JWT_SECRET must be at least 32"):
        Settings(env="production", jwt_secret="short", contact_pepper="p" * 40)
    with pytest.raises(ValidationError, match="QUANZI_CONTACT_PEPPER must be at least 32"):
        Settings(env="production", jwt_secret="j" * 40, contact_pepper="pepper")
    assert Settings(env="production", jwt_secret="j" * 32, contact_pepper="p" * 32).production


async def test_security_headers(prod: httpx.AsyncClient, client: GQL) -> None:
    response = await prod.post("/graphql", json={"query": "{ me { id } }"})
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["strict-transport-security"].startswith("max-age=")
    dev = await client.http.post("/graphql", json={"query": "{ me { id } }"})
    assert dev.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in dev.headers  # plain http on loopback


async def test_cors_only_for_the_configured_origins(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://console.example"]}))
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            ok = await http.options(
                "/graphql", headers={"origin": "https://console.example", **preflight}
            )
            assert ok.status_code == 200
            assert ok.headers["access-control-allow-origin"] == "https://console.example"
            assert "authorization" in ok.headers["access-control-allow-headers"].lower()
            evil = await http.options(
                "/graphql", headers={"origin": "https://evil.example", **preflight}
            )
            assert "access-control-allow-origin" not in evil.headers
            plain = await http.post(
                "/graphql",
                json={"query": "{ me { id } }"},
                headers={"origin": "https://evil.example"},
            )
            assert "access-control-allow-origin" not in plain.headers


def test_cors_origins_read_from_a_comma_separated_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUANZI_CORS_ORIGINS", "https://a.example, https://b.example/")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
