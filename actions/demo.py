"""Demo data for ``make run``, loaded through the same actions the API uses."""

from __future__ import annotations

from actions import circles, interactions, merchants, users
from graph import demo
from graph import interactions as graph_interactions
from graph.circles import CircleInput
from graph.interactions import Payment, Visit
from graph.migrations import apply_migrations
from graph.users import user_by_platform_id
from workers.services import Services


async def load_demo(services: Services) -> None:
    """Idempotent: a second run changes nothing."""
    graph = services.graph
    await apply_migrations(graph)
    for user in demo.DEMO_USERS:
        await users.upsert_user(services, user)
    await graph_interactions.upsert_friendships(graph, demo.DEMO_FRIENDSHIPS)
    for merchant in demo.DEMO_MERCHANTS:
        staff = demo.DEMO_STAFF.get(merchant.platform_id, ())
        await merchants.upsert_merchant(services, merchant, staff)
    await interactions.record_interactions(
        services,
        [Payment("demo-sun", demo.DEMO_USER_PLATFORM_ID, demo.DEMO_AT)],
        [
            Visit(demo.DEMO_USER_PLATFORM_ID, "demo-m-noodles", demo.DEMO_AT),
            Visit("demo-liu", "demo-m-noodles", demo.DEMO_AT),
            Visit("demo-zhao", "demo-m-gym", demo.DEMO_AT),
        ],
    )
    for spec in demo.DEMO_CIRCLES:
        if await demo.circle_exists(graph, spec):
            continue
        owner = await user_by_platform_id(graph, spec.owner)
        assert owner is not None, spec.owner
        await circles.create_circle(
            services,
            owner,
            CircleInput(
                name=spec.name,
                description=spec.description,
                visibility=spec.visibility,
                join_policy=spec.policy,
                min_trust_score=spec.min_trust_score,
                customers_only=spec.customers_only,
                service=spec.service,
                merchant_id=(
                    await demo.merchant_id(graph, spec.merchant) if spec.merchant else None
                ),
            ),
        )
    await demo.seed_memberships(graph)
