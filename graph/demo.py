"""Demo data for ``make run``: loaded through the same actions the API uses."""

from __future__ import annotations

from api.settings import Settings
from graph.driver import connect
from graph.migrations import apply_migrations
from graph.users import UpsertUser, upsert_user

DEMO_USER_PLATFORM_ID = "demo-lin"

DEMO_USERS = (
    UpsertUser(DEMO_USER_PLATFORM_ID, "lin_xiaoyu", "林小雨", "+8613800138001", 720),
    UpsertUser("demo-chen", "chen_wei", "陈伟", "+8613800138002", 650),
    UpsertUser("demo-wang", "wang_fang", "王芳", "+8613800138003", 580),
    UpsertUser("demo-zhao", "zhao_lei", "赵磊", None, 410),
    UpsertUser("demo-alice", "alice_z", "Alice Zhang", "+16502530001", 690),
)


async def load_demo(settings: Settings) -> None:
    async with connect(settings) as graph:
        await apply_migrations(graph)
        for user in DEMO_USERS:
            await upsert_user(
                graph,
                user,
                pepper=settings.pepper,
                default_trust_score=settings.default_trust_score,
            )
