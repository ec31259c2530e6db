"""Configuration, read once from the environment (prefix ``QUANZI_``) and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Used only outside production so that `make run` works with no configuration.
DEV_JWT_SECRET = "quanzi-dev-secret-not-for-production"  # noqa: S105
DEV_CONTACT_PEPPER = "quanzi-dev-pepper-not-for-production"
MIN_SECRET_CHARS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QUANZI_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"

    neo4j_uri: str = "neo4j://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    neo4j_database: str = "neo4j"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_max_connections: int = Field(default=64, ge=1)
    # Redis Cluster: every process talks to it through redis-py's RedisCluster, the URL
    # naming any node; `quanzi stack up` starts a local one (3 masters, 3 replicas) on the
    # URL's port and the five after it. See "Redis Cluster" in the README.
    redis_cluster: bool = False

    jwt_secret: str | None = None
    contact_pepper: str | None = None
    # Web origins (scheme://host[:port]) whose pages may call the API from a browser.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Bearer token for GET /metrics; unset: open outside production, absent in production.
    metrics_token: str | None = None
    default_trust_score: int = Field(default=500, ge=0, le=1000)
    # The console's and the GraphQL IDE's build (web/dist by default, made by make install).
    web_dir: Path | None = None

    # GraphQL limits
    max_query_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=4000, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_page_size: int = Field(default=100, ge=1, le=100)
    # What one operation may cost before it runs (schema/cost.py): about the objects it
    # would resolve, each page size multiplying what is nested in it.
    max_query_cost: int = Field(default=10_000, ge=1)
    # Persisted queries (schema/persisted.py): apq (clients may send hashes), allowlist
    # (only operations registered with `quanzi queries register` run), or off.
    persisted_queries: Literal["off", "apq", "allowlist"] = "apq"
    # Live subscriptions: per websocket, and websockets per user in one API process.
    max_subscriptions_per_socket: int = Field(default=10, ge=1)
    max_sockets_per_user: int = Field(default=5, ge=1)
    graphql_cache_size: int = Field(default=512, ge=1)

    # Local stack (quanzi stack ...)
    stack_dir: Path = Path(".quanzi")
    neo4j_heap: str = "1g"
    neo4j_pagecache: str = "512m"
    stack_timeout_seconds: float = Field(default=120.0, gt=0)

    # Background workers (quanzi worker) and the Redis pool they share with the API
    redis_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    worker_batch_size: int = Field(default=32, ge=1, le=1000)
    worker_concurrency: int = Field(default=8, ge=1, le=64)
    worker_block_ms: int = Field(default=2000, ge=1, le=60_000)
    worker_max_deliveries: int = Field(default=5, ge=1)
    worker_claim_idle_ms: int = Field(default=30_000, ge=1)

    # People you may know: the ranker model written by `quanzi pymk train` (none: the
    # hand weights); a file that cannot be used is refused at start with a logged reason
    pymk_model_path: Path | None = None

    # Feeds
    fanout_max_audience: int = Field(default=2000, ge=1)  # larger circles merge at read time
    timeline_length: int = Field(default=800, ge=10, le=10_000)
    feed_active_days: int = Field(default=14, ge=1)  # fan out only to users active lately
    outbox_sweep_seconds: float = Field(default=10.0, gt=0)  # pending posts older: re-queued

    # Effects of committed writes that Redis could not take (actions/effects.py): how often
    # each process looks for them, and how long one may stay unsettled before another
    # process runs it (its own process died between the commit and the effects).
    effects_poll_seconds: float = Field(default=1.0, gt=0)
    effects_grace_seconds: float = Field(default=30.0, gt=0)

    # Trust and safety: distinct members' open reports that hide a post pending review
    report_hide_threshold: int = Field(default=3, ge=1)

    # Merchant insights (docs/insights.md): how often a worker recomputes the snapshot of
    # exact aggregates; the smallest group any released number describes (never below 20);
    # the Laplace scale of every noised count; each merchant's privacy budget per day (in
    # epsilon, summed over releases); how many interest buckets and active hours one person
    # may add to (their strongest), which bounds the sensitivity of a release; how far back
    # activity counts; the bounds of an area's radius; the zone of hours and budget days.
    insights_refresh_seconds: float = Field(default=86_400.0, ge=1.0)
    insights_privacy_threshold: int = Field(default=50, ge=20)
    insights_noise_scale: float = Field(default=2.0, gt=0.0, le=100.0)
    insights_daily_epsilon: float = Field(default=16.0, gt=0.0)
    insights_interests_per_person: int = Field(default=3, ge=1, le=20)
    insights_hours_per_person: int = Field(default=2, ge=1, le=24)
    insights_window_days: int = Field(default=365, ge=1, le=3650)
    insights_min_radius_meters: int = Field(default=200, ge=1)
    insights_max_radius_meters: int = Field(default=5_000, ge=1, le=50_000)
    insights_timezone: str = "Asia/Shanghai"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``QUANZI_CORS_ORIGINS=https://a.example,https://b.example``."""
        if isinstance(value, str):
            return [v.strip().rstrip("/") for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env == "production":
            secrets = (
                ("QUANZI_JWT_SECRET", self.jwt_secret),
                ("QUANZI_CONTACT_PEPPER", self.contact_pepper),
            )
            missing = [name for name, value in secrets if not value]
            if missing:
                raise ValueError(f"production mode needs {', '.join(missing)}")
            short = [name for name, value in secrets if value and len(value) < MIN_SECRET_CHARS]
            if short:
                raise ValueError(
                    f"{', '.join(short)} must be at least {MIN_SECRET_CHARS} characters "
                    "in production (a short HMAC key can be guessed)"
                )
        return self

    @model_validator(mode="after")
    def _insights_radius_bounds(self) -> Settings:
        if self.insights_min_radius_meters > self.insights_max_radius_meters:
            raise ValueError("QUANZI_INSIGHTS_MIN_RADIUS_METERS exceeds the maximum radius")
        try:
            ZoneInfo(self.insights_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown QUANZI_INSIGHTS_TIMEZONE {self.insights_timezone!r}"
            ) from exc
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def signing_secret(self) -> str:
        return self.jwt_secret or DEV_JWT_SECRET

    @property
    def pepper(self) -> bytes:
        return (self.contact_pepper or DEV_CONTACT_PEPPER).encode()

    @property
    def neo4j_port(self) -> int:
        return urlsplit(self.neo4j_uri).port or 7687

    @property
    def redis_port(self) -> int:
        return urlsplit(self.redis_url).port or 6379


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


class InvalidSettings(ValueError):
    """The environment's settings are unusable; the message names each variable."""


def checked_settings() -> Settings:
    """The settings, or InvalidSettings with one line per problem instead of pydantic's."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"QUANZI_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidSettings(f"invalid configuration: {problems}") from exc
