"""Posts, reactions and comments.

``create_post`` is where a post starts its way to the feeds: committed to Neo4j with
``fanout = 'PENDING'`` (``graph.posts.create``), then queued for delivery
(``workers.fanout.post_created``). When Redis is down the post still stands and the
outbox sweeper delivers it later.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import automod, notifications, posts
from graph.automod import AutomodAction
from graph.errors import ActionError, ErrorCode, Problem
from graph.notifications import Created
from graph.posts import CommentRecord, PostRecord
from graph.users import UserRecord
from workers import crosspost, fanout
from workers.services import Services


def _refused(label: str) -> ActionError:
    return ActionError(
        Problem(ErrorCode.INVALID_INPUT, f"refused by the circle's rule “{label}”", "body")
    )


async def hold_reason(
    services: Services, author: UserRecord, circle_id: str | None, body: str
) -> str | None:
    """Why a new circle post must wait for review, or None; INVALID_INPUT when an automod
    REFUSE rule matches. Profile posts are not checked (they have no moderators)."""
    if circle_id is None:
        return None
    found = (await automod.matcher_for(services.graph, circle_id)).check(body)
    if found is not None and found[0] is AutomodAction.REFUSE:
        raise _refused(found[1])

    async def count() -> int:
        return await crosspost.count(services.redis, author.id, circle_id, body)

    seen = await effects.unless_unavailable(services, "crosspost", count, 0)
    if found is not None:
        return f"automod: {found[1]}"
    if seen >= crosspost.HOLD_AT:
        return f"cross-posting: the same text in {seen} circles within 10 minutes"
    return None


async def create_post(
    services: Services, author: UserRecord, circle_id: str | None, body: str
) -> PostRecord:
    """A post in a circle (MEMBERs who are not muted) or on the author's profile (friends)."""
    problems = posts.body_problems(body)
    if problems:
        raise ActionError(*problems)
    await effects.rate_limit(services, "post", author, "circleId" if circle_id else "body")
    if circle_id is not None:  # who may post here, before any rule of the circle is read
        problem = await posts.posting_problem_now(services.graph, author.id, circle_id)
        if problem is not None:
            raise ActionError(problem)
    held = await hold_reason(services, author, circle_id, body)

    async def work(tx: AsyncManagedTransaction) -> PostRecord:
        return await posts.create(tx, author.id, circle_id, body, held=held)

    post = await effects.commit(
        services, work, lambda _: effects.NONE, id_attempts=posts.ID_ATTEMPTS
    )

    async def queue() -> None:
        marks = await services.graph.bookmarks()  # the job's reads wait for this post
        await fanout.post_created(services.redis, post.id, post, bookmarks=marks)

    await effects.unless_unavailable(services, "fanout_queue", queue, None)  # the sweeper will
    return post


async def delete_post(services: Services, viewer: UserRecord, post_id: str) -> None:
    """The author deletes their post: gone for everyone, at once."""

    async def work(tx: AsyncManagedTransaction) -> None:
        await posts.delete(tx, viewer.id, post_id)

    await effects.commit(services, work, lambda _: effects.Effects(posts=frozenset({post_id})))


async def react_to_post(services: Services, viewer: UserRecord, post_id: str) -> PostRecord:
    """Toggle the viewer's reaction; the post comes back with its count as written."""

    async def work(tx: AsyncManagedTransaction) -> tuple[PostRecord, bool]:
        return await posts.toggle_reaction(tx, viewer.id, post_id)

    def effects_of(done: tuple[PostRecord, bool]) -> effects.Effects:
        return effects.Effects(
            posts=frozenset({post_id}), reactions=((viewer.id, post_id, done[1]),)
        )

    post, _ = await effects.commit(services, work, effects_of)
    return post


@dataclass(frozen=True)
class _Commented:
    comment: CommentRecord
    notice: Created | None


async def comment_on_post(
    services: Services, viewer: UserRecord, post_id: str, body: str
) -> CommentRecord:
    """A comment on a post the viewer may read and take part in; its author hears.
    Comments have no review state: any automod rule that matches refuses them."""
    problems = posts.comment_problems(body)
    if problems:
        raise ActionError(*problems)
    await effects.rate_limit(services, "comment", viewer, "body")
    found = (await posts.posts_for_viewer(services.graph, viewer.id, [post_id])).get(post_id)
    if found is None:
        raise posts.not_found()
    problem = posts.interaction_problem(found)  # before any rule of the circle is read
    if problem is not None:
        raise ActionError(problem)
    if found.post.circle_id is not None:
        matched = (await automod.matcher_for(services.graph, found.post.circle_id)).check(body)
        if matched is not None:
            raise _refused(matched[1])

    async def work(tx: AsyncManagedTransaction) -> _Commented:
        comment = await posts.add_comment(tx, viewer.id, post_id, body)
        return _Commented(comment, await notifications.comment(tx, comment.id, post_id, viewer.id))

    def effects_of(done: _Commented) -> effects.Effects:
        return effects.Effects(posts=frozenset({post_id})) | effects.notified(done.notice)

    done = await effects.commit(services, work, effects_of, id_attempts=posts.ID_ATTEMPTS)
    return done.comment
