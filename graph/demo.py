"""Demo data for ``make run``: the small world ``actions/demo.py`` loads through the
actions, and the two seed writes no action makes (extra memberships, checks for reruns)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from graph.circles import JoinPolicy, Visibility
from graph.driver import Graph
from graph.merchants import UpsertMerchant
from graph.users import UpsertUser

DEMO_USER_PLATFORM_ID = "demo-lin"
# Who the console's dev links sign in: the staff member of the noodle shop and the gym
# (owner of their circles), and the moderator of the clinic's circles, where a join
# request waits.
DEMO_STAFF_PLATFORM_ID = "demo-chen"
DEMO_MODERATOR_PLATFORM_ID = "demo-alice"

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
    UpsertMerchant("demo-m-noodles", "兰州拉面 (望京店)", "dining", 39.9965, 116.4700),
    UpsertMerchant("demo-m-school", "朝阳实验小学", "education", 39.9219, 116.4433),
    UpsertMerchant("demo-m-clinic", "仁和社区诊所", "medical", 39.9340, 116.4550),
    UpsertMerchant("demo-m-gym", "超级猩猩健身", "fitness", 39.9087, 116.4605),
)

# Who acts for each merchant (creates its circles).
DEMO_STAFF = {
    "demo-m-noodles": ("demo-chen",),
    "demo-m-school": ("demo-wang",),
    "demo-m-clinic": ("demo-alice",),
    "demo-m-gym": ("demo-chen",),
}


@dataclass(frozen=True)
class DemoCircle:
    owner: str
    merchant: str | None
    name: str
    description: str
    visibility: Visibility
    policy: JoinPolicy
    service: str | None = None
    customers_only: bool = False
    min_trust_score: int = 0


_PUBLIC, _SEMI, _PRIVATE = Visibility.PUBLIC, Visibility.SEMI_PUBLIC, Visibility.PRIVATE
_OPEN, _APPROVAL, _INVITE = JoinPolicy.OPEN, JoinPolicy.APPROVAL, JoinPolicy.INVITE

# Every visibility with every join policy it allows (PRIVATE is INVITE only).
DEMO_CIRCLES = (
    DemoCircle(
        "demo-chen",
        "demo-m-noodles",
        "望京拉面爱好者",
        "一起探店、交流兰州拉面的吃法。",
        _PUBLIC,
        _OPEN,
        "dining",
    ),
    DemoCircle(
        "demo-chen",
        "demo-m-noodles",
        "拉面店熟客群",
        "到店吃过的老顾客专属。新品先尝。",
        _SEMI,
        _APPROVAL,
        "dining",
        customers_only=True,
    ),
    DemoCircle(
        "demo-wang",
        "demo-m-school",
        "朝阳实验小学家长群",
        "学校通知、接送拼车、课后活动。",
        _SEMI,
        _APPROVAL,
        "education",
    ),
    DemoCircle(
        "demo-wang",
        "demo-m-school",
        "一年级三班家委会",
        "家委会内部讨论。仅限受邀家长。",
        _PRIVATE,
        _INVITE,
        "education",
    ),
    DemoCircle(
        "demo-alice",
        "demo-m-clinic",
        "仁和诊所慢病互助",
        "高血压、糖尿病患者的经验分享。",
        _PUBLIC,
        _APPROVAL,
        "medical",
        min_trust_score=500,
    ),
    DemoCircle(
        "demo-alice",
        "demo-m-clinic",
        "仁和诊所医护交流",
        "社区医护人员的业务交流。",
        _SEMI,
        _INVITE,
        "medical",
    ),
    DemoCircle(
        "demo-chen",
        "demo-m-gym",
        "超级猩猩晨跑团",
        "每周六早上七点在朝阳公园晨跑。",
        _SEMI,
        _OPEN,
        "fitness",
    ),
    DemoCircle(
        "demo-chen",
        "demo-m-gym",
        "超级猩猩教练课",
        "教练带练的小班课。需邀请加入。",
        _PUBLIC,
        _INVITE,
        "fitness",
    ),
    DemoCircle(
        "demo-lin",
        None,
        "望京宝妈交流群",
        "望京的妈妈们交流育儿、辅食和早教。",
        _PUBLIC,
        _OPEN,
        "parenting",
    ),
)

# (user, circle name, state): members beyond the owners, one pending and one invitation.
# lin shares circles only with her friends, so her suggestions stay as they are.
DEMO_MEMBERSHIPS = (
    ("demo-lin", "朝阳实验小学家长群", "MEMBER"),
    ("demo-lin", "一年级三班家委会", "MEMBER"),
    ("demo-wang", "望京宝妈交流群", "MEMBER"),
    ("demo-liu", "拉面店熟客群", "MEMBER"),
    ("demo-liu", "望京拉面爱好者", "MEMBER"),
    ("demo-zhao", "超级猩猩晨跑团", "MEMBER"),
    ("demo-sun", "仁和诊所慢病互助", "PENDING"),
    ("demo-alice", "超级猩猩教练课", "INVITED"),
)

DEMO_AT = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)


async def circle_exists(graph: Graph, spec: DemoCircle) -> bool:
    """A circle of that name, owner and merchant is there already (demo runs repeat)."""
    existing = await graph.read(
        """
        MATCH (:User {platformId: $owner})-[:MEMBER_OF {role: 'OWNER'}]->
              (c:Circle {name: $name})
        WHERE ($merchant IS NULL AND NOT EXISTS { (c)-[:HOSTED_BY]->() })
           OR EXISTS { (c)-[:HOSTED_BY]->(:Merchant {platformId: $merchant}) }
        RETURN c.id AS id LIMIT 1
        """,
        owner=spec.owner,
        name=spec.name,
        merchant=spec.merchant,
    )
    return bool(existing.records)


async def merchant_id(graph: Graph, platform_id: str) -> str:
    found = await graph.read(
        "MATCH (m:Merchant {platformId: $pid}) RETURN m.id AS id", pid=platform_id
    )
    return str(found.records[0]["id"])


async def seed_memberships(graph: Graph) -> None:
    """The extra memberships, as one batch (a join would be rate-limited and
    policy-checked; this is seed data). MERGE keeps it idempotent; memberCount is
    recounted exactly."""
    owners = {spec.name: spec.owner for spec in DEMO_CIRCLES}
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (u:User {platformId: row.user})
        MATCH (owner:User {platformId: row.owner})-[:MEMBER_OF {role: 'OWNER'}]->
              (c:Circle {name: row.circle})
        MERGE (u)-[r:MEMBER_OF]->(c)
        ON CREATE SET r.since = datetime(), r.updatedAt = datetime(), r.state = row.state,
                      r.role = CASE WHEN row.state = 'MEMBER' THEN 'MEMBER' END,
                      r.invitedBy = CASE WHEN row.state = 'INVITED' THEN owner.id END
        WITH DISTINCT c
        SET c.memberCount = COUNT { (:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c) }
        """,
        rows=[
            {"user": u, "circle": c, "state": s, "owner": owners[c]} for u, c, s in DEMO_MEMBERSHIPS
        ],
    )
