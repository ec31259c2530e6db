"""adminUpsertMerchant: the platform provisions merchants and the staff who act for them."""

from __future__ import annotations

import strawberry

from actions import merchants as actions
from graph import merchants as domain
from schema.circles.types import GeoPointInput, Merchant
from schema.core import Info, UserError, admin, mutation


@strawberry.input
class AdminUpsertMerchantInput:
    platform_id: strawberry.ID
    name: str = strawberry.field(description="1 to 80 characters.")
    category: str = strawberry.field(description="1 to 40 characters, e.g. 'dining'.")
    location: GeoPointInput | None = strawberry.field(
        default=None, description="Left out: the stored location stays."
    )
    staff_platform_user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=(
            "Users who act for this merchant (create its circles, read its insights). "
            "When given, replaces the staff; left out, the staff stay as they are."
        ),
    )


@strawberry.type
class MerchantPayload:
    merchant: Merchant | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MerchantsMutation:
    @strawberry.mutation(
        description=(
            "Platform only: create or update a merchant by its platform id (repeating a call "
            "is harmless). Unknown staff user ids are NOT_FOUND and nothing is written."
        )
    )
    @mutation(admin)
    async def admin_upsert_merchant(
        self, info: Info, input: AdminUpsertMerchantInput
    ) -> MerchantPayload:
        location = input.location
        staff = input.staff_platform_user_ids
        record = await actions.upsert_merchant(
            info.context.services,
            domain.UpsertMerchant(
                platform_id=str(input.platform_id),
                name=input.name,
                category=input.category,
                latitude=location.latitude if location else None,
                longitude=location.longitude if location else None,
            ),
            [str(s) for s in staff] if staff is not None else None,
            latitude_field="location.latitude",
            longitude_field="location.longitude",
        )
        info.context.loaders.merchants.prime(record.id, record, force=True)
        return MerchantPayload(merchant=Merchant.from_record(record))
