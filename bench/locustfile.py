"""The load test's users, for locust (``bench/loadtest.py`` starts locust with this file).

Each simulated user signs in as one of the seeded people (``QUANZI_LOAD_USERS``: a JSON
file of ``{"id", "token"}`` rows minted by the harness, plus the seeded circle ids) and
runs a mixed workload: 90% reads (``homeFeed``, ``peopleYouMayKnow``, ``circle``,
``discoverCircles``), 10% writes (a post, a reaction, a join, a friend request). A request
fails when HTTP says so or the answer has top-level GraphQL ``errors``; ``userErrors``
(already a member, already asked) are answers, not failures.
"""

from __future__ import annotations

import base64
import json
import os
import random
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, between, task
from locust.exception import StopUser

_WORLD: dict[str, Any] = json.loads(Path(os.environ["QUANZI_LOAD_USERS"]).read_text())
USERS: list[dict[str, str]] = _WORLD["users"]
CIRCLES: list[str] = _WORLD["circles"]
# The run's bound in requests (locust's own bound is --run-time): when it is spent, the
# run stops.
_BUDGET = [int(os.environ.get("QUANZI_LOAD_MAX_REQUESTS", "0")) or -1]


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


HOME_FEED = """query { homeFeed(first: 20) { edges { cursor node { id body createdAt
  reactionCount commentCount viewerReacted author { id handle displayName } } }
  pageInfo { hasNextPage endCursor } } }"""
PYMK = """query { peopleYouMayKnow(first: 10) { edges { node { score
  user { id handle displayName } } } } }"""
CIRCLE = """query($id: ID!) { circle(id: $id) { id name description memberCount } }"""
DISCOVER = """query($q: String) { discoverCircles(query: $q, first: 10) {
  edges { node { id name memberCount } } } }"""
CREATE_POST = """mutation($body: String!) { createPost(input: {body: $body}) {
  post { id } userErrors { code } } }"""
REACT = """mutation($id: ID!) { reactToPost(postId: $id) { post { id } userErrors { code } } }"""
JOIN = """mutation($id: ID!) { joinCircle(circleId: $id) { userErrors { code } } }"""
FRIEND = """mutation($id: ID!) { sendFriendRequest(userId: $id) { userErrors { code } } }"""

DISCOVER_WORDS = ["", "咖啡", "跑步", "Running", "Coffee", "读书", "Chess", "摄影"]


class Member(FastHttpUser):
    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        self.me = random.choice(USERS)
        self.headers = {"authorization": f"Bearer {self.me['token']}"}
        self.seen_posts: list[str] = []

    def _gql(self, name: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        if _BUDGET[0] == 0:
            runner = self.environment.runner
            if runner is not None:
                gevent.spawn(runner.quit)
            raise StopUser
        if _BUDGET[0] > 0:
            _BUDGET[0] -= 1
        body = {"query": query, "variables": variables or {}}
        with self.client.post(
            "/graphql", json=body, headers=self.headers, name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return None
            data = response.json()
            if data.get("errors"):
                response.failure(str(data["errors"][0].get("message"))[:200])
                return None
            response.success()
            return data["data"]

    # ------------------------------------------------------------ reads: 90 of 100

    @task(45)
    def home_feed(self) -> None:
        data = self._gql("homeFeed", HOME_FEED)
        if data:
            ids = [e["node"]["id"] for e in data["homeFeed"]["edges"]]
            self.seen_posts = ids or self.seen_posts

    @task(20)
    def people_you_may_know(self) -> None:
        self._gql("peopleYouMayKnow", PYMK)

    @task(15)
    def circle(self) -> None:
        self._gql("circle", CIRCLE, {"id": gid("Circle", random.choice(CIRCLES))})

    @task(10)
    def discover_circles(self) -> None:
        word = random.choice(DISCOVER_WORDS)
        self._gql("discoverCircles", DISCOVER, {"q": word or None})

    # ------------------------------------------------------------ writes: 10 of 100

    @task(4)
    def create_post(self) -> None:
        self._gql("createPost", CREATE_POST, {"body": f"负载测试 load {random.random():.6f}"})

    @task(3)
    def react(self) -> None:
        if self.seen_posts:
            self._gql("reactToPost", REACT, {"id": random.choice(self.seen_posts)})
        else:
            self.home_feed()

    @task(2)
    def join_circle(self) -> None:
        self._gql("joinCircle", JOIN, {"id": gid("Circle", random.choice(CIRCLES))})

    @task(1)
    def friend_request(self) -> None:
        other = random.choice(USERS)
        if other["id"] != self.me["id"]:
            self._gql("sendFriendRequest", FRIEND, {"id": gid("User", other["id"])})
