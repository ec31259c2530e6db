"""merchantInsights and areaInsights: the merchant's staff and platform admins only.

Each resolver checks the viewer with one read (``graph.insights.merchant_for_insights``:
an unknown merchant and a forbidden one are both null) and then asks
``workers/insights.py`` for the release; nothing here touches a person.
"""

from __future__ import annotations

import strawberry

from graph import insights as graph_insights
from graph.merchants import Merchant as MerchantRecord
from schema.circles.types import GeoPointInput, Merchant
from schema.core import ClientError, Info, internal_id
from schema.insights.types import AreaInsights, MerchantInsights, asks_for_aggregates, client_error
from workers import insights


async def _merchant(info: Info, merchant_id: str) -> MerchantRecord | None:
    found = internal_id(merchant_id, "Merchant")
    if found is None:
        return None
    viewer = info.context.viewer
    return await graph_insights.merchant_for_insights(
        info.context.graph, found, viewer.id, admin=viewer.is_admin
    )


def _selections(info: Info) -> bool:
    return asks_for_aggregates(info.selected_fields[0].selections)


@strawberry.type
class InsightsQuery:
    @strawberry.field(description="Staff of the merchant and admins only; else null.")
    async def merchant_insights(
        self, info: Info, merchant_id: strawberry.ID
    ) -> MerchantInsights | None:
        record = await _merchant(info, str(merchant_id))
        if record is None:
            return None
        services = info.context.services
        try:
            snapshot = await insights.current_snapshot(services)
            profile = (
                await insights.merchant_profile(services, record.id, snapshot)
                if _selections(info)
                else None
            )
        except (insights.Unavailable, insights.BudgetExhausted) as exc:
            raise client_error(exc, info) from exc
        return MerchantInsights(
            merchant=Merchant.from_record(record),
            privacy_threshold=services.settings.insights_privacy_threshold,
            computed_at=snapshot.computed_at,
            profile=profile,
            snapshot=snapshot,
        )

    @strawberry.field(
        description="Area aggregates, charged to the merchant's privacy budget; staff of that "
        "merchant and admins only, else null. radiusMeters is bounded (200 to 5000 by default)."
    )
    async def area_insights(
        self, info: Info, merchant_id: strawberry.ID, near: GeoPointInput, radius_meters: int
    ) -> AreaInsights | None:
        record = await _merchant(info, str(merchant_id))
        if record is None:
            return None
        services = info.context.services
        if problems := insights.area_problems(
            services, near.latitude, near.longitude, radius_meters
        ):
            raise ClientError(
                "; ".join(p.message for p in problems),
                problems[0].code,
                fields=[p.field for p in problems],
            )
        area = insights.Area.rounded(near.latitude, near.longitude, radius_meters)
        try:
            snapshot = await insights.current_snapshot(services)
            profile = (
                await insights.area_profile(services, record.id, snapshot, area)
                if _selections(info)
                else None
            )
        except (insights.Unavailable, insights.BudgetExhausted) as exc:
            raise client_error(exc, info) from exc
        return AreaInsights(
            privacy_threshold=services.settings.insights_privacy_threshold,
            computed_at=snapshot.computed_at,
            profile=profile,
        )
