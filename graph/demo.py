"""Demo data for ``make run``: loaded through the same actions the API and import use."""

from __future__ import annotations

from datetime import UTC, datetime

from api.settings import Settings
from graph import interactions
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
    UpsertUser("demo-sun", "sun_li", "孙丽", "+8613800138006", 530),
    UpsertUser("demo-liu", "liu_yang", "刘洋", "+8613800138007", 610),
)

# lin knows chen and wang; zhao and alice are friends of friends; sun paid lin;
# liu eats at the same noodle shop.
DEMO_FRIENDSHIPS = (
    ("demo-lin", "demo-chen"),
    ("demo-lin", "demo-wang"),
    ("demo-chen", "demo-zhao"),
    ("demo-wang", "demo-zhao"),
    ("demo-chen", "demo-alice"),
)

DEMO_MERCHANTS = (
    interactions.UpsertMerchant("demo-m-noodles", "兰州拉面 (望京店)", "dining", 39.9965, 116.4700),
    interactions.UpsertMerchant("demo-m-school", "朝阳实验小学", "education", 39.9219, 116.4433),
    interactions.UpsertMerchant("demo-m-clinic", "仁和社区诊所", "medical", 39.9340, 116.4550),
    interactions.UpsertMerchant("demo-m-gym", "超级猩猩健身", "fitness", 39.9087, 116.4605),
)

_AT = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)


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
        await interactions.upsert_friendships(graph, DEMO_FRIENDSHIPS)
        await interactions.upsert_merchants(graph, DEMO_MERCHANTS)
        await interactions.record_payments(
            graph, [interactions.Payment("demo-sun", DEMO_USER_PLATFORM_ID, _AT)]
        )
        await interactions.record_visits(
            graph,
            [
                interactions.Visit(DEMO_USER_PLATFORM_ID, "demo-m-noodles", _AT),
                interactions.Visit("demo-liu", "demo-m-noodles", _AT),
                interactions.Visit("demo-zhao", "demo-m-gym", _AT),
            ],
        )
