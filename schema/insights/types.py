"""InsightBucket, MerchantInsights and AreaInsights: numbers released by
``workers/insights.py``, never a person (docs/insights.md)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from graph.errors import ErrorCode
from schema.circles.types import Merchant
from schema.core import ClientError, Info
from workers import insights
from workers.insights import Profile, Snapshot

PROFILE_FIELDS = frozenset({"audienceSize", "interests", "activeHours"})


@strawberry.type(
    description="One bar of an aggregate. Buckets under the privacy threshold are never returned."
)
class InsightBucket:
    key: str
    count: int = strawberry.field(description="Noised count; never below the privacy threshold.")


def _buckets(pairs: list[tuple[str, int]] | list[tuple[int, int]]) -> list[InsightBucket]:
    return [InsightBucket(key=str(k), count=n) for k, n in pairs]


def asks_for_aggregates(selections: list[Selection]) -> bool:
    """Whether the query selects any noised number of the profile (through fragments
    too): only then is a release made and charged."""
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name in PROFILE_FIELDS:
            return True
        if isinstance(selection, FragmentSpread | InlineFragment) and asks_for_aggregates(
            selection.selections
        ):
            return True
    return False


def client_error(exc: insights.Unavailable | insights.BudgetExhausted, info: Info) -> ClientError:
    """The GraphQL error for a refused question: RATE_LIMITED (with its wait) or
    UNAVAILABLE (fail closed)."""
    if isinstance(exc, insights.BudgetExhausted):
        problem = exc.problem
        info.context.rate_limited_for = problem.retry_after_seconds
        return ClientError(problem.message, problem.code)
    return ClientError(str(exc), ErrorCode.UNAVAILABLE)


@strawberry.type
class MerchantInsights:
    merchant: Merchant
    privacy_threshold: int = strawberry.field(
        description="The smallest group size any returned number describes."
    )
    computed_at: datetime = strawberry.field(
        description="When the aggregates behind these numbers were computed (a snapshot; "
        "numbers are stable until the next one)."
    )
    profile: strawberry.Private[Profile | None]
    snapshot: strawberry.Private[Snapshot]

    def _profile(self) -> Profile:
        assert self.profile is not None  # released by the query when selected
        return self.profile

    @strawberry.field(
        description="Noised size of the merchant's audience (customers and circle members); "
        "null when below the threshold."
    )
    def audience_size(self) -> int | None:
        return self._profile().audience_size

    @strawberry.field(
        description="What the audience is interested in: service and merchant categories, "
        "largest first."
    )
    def interests(self) -> list[InsightBucket]:
        return _buckets(self._profile().interests)

    @strawberry.field(description="Activity by hour of day, 0-23.")
    def active_hours(self) -> list[InsightBucket]:
        return _buckets(self._profile().active_hours)

    @strawberry.field(
        description="Noised number of distinct customers served (visits and payments) in the "
        "last `days` days; null below the threshold. Each value of `days` is its own question."
    )
    async def customers_served(self, info: Info, days: int | None = 30) -> int | None:
        wanted = 30 if days is None else days
        services = info.context.services
        if problems := insights.served_problems(services, wanted):
            raise ClientError(problems[0].message, problems[0].code, field="days")
        try:
            return await insights.customers_served(
                services, self.merchant.id, self.snapshot, wanted
            )
        except (insights.Unavailable, insights.BudgetExhausted) as exc:
            raise client_error(exc, info) from exc


@strawberry.type(
    description="Aggregates about the people active around a place, for a merchant planning "
    "a store there."
)
class AreaInsights:
    privacy_threshold: int
    computed_at: datetime
    profile: strawberry.Private[Profile | None]

    def _profile(self) -> Profile:
        assert self.profile is not None
        return self.profile

    @strawberry.field(
        description="Noised number of people who visit or pay merchants within the radius; "
        "null below the threshold."
    )
    def audience_size(self) -> int | None:
        return self._profile().audience_size

    @strawberry.field(
        description="Categories of the merchants those people use and of the circles they "
        "joined, largest first."
    )
    def interests(self) -> list[InsightBucket]:
        return _buckets(self._profile().interests)

    @strawberry.field(description="Activity by hour of day, 0-23.")
    def active_hours(self) -> list[InsightBucket]:
        return _buckets(self._profile().active_hours)
