"""Friend requests, friendships, blocks and dismissals.

A change of friends or blocks changes both people's feeds and suggestions at once
(``effects.people_changed``); a request or a dismissal only their suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import notifications, social
from graph.errors import ActionError, ErrorCode, Problem
from graph.notifications import Created
from graph.social import ACCEPTED, FriendRequestRecord
from graph.users import UserRecord
from workers.services import Services


@dataclass(frozen=True)
class _Answered:
    request: FriendRequestRecord
    notice: Created | None


def _request_effects(done: _Answered) -> effects.Effects:
    request = done.request
    pair = (request.from_id, request.to_id)
    changed = (
        effects.people_changed(pair)
        if request.state == ACCEPTED
        else effects.neighbourhood_changed(pair)
    )
    return changed | effects.notified(done.notice)


async def _notice(tx: AsyncManagedTransaction, request: FriendRequestRecord) -> Created | None:
    return await notifications.friend_request(
        tx, request.id, request.from_id, request.to_id, request.state
    )


async def send_friend_request(
    services: Services, sender: UserRecord, target_id: str
) -> FriendRequestRecord:
    """A new PENDING request (the recipient is notified); if the target already asked the
    sender, both are friends now. Bursts are limited per sender, more tightly for
    low-trust and brand-new accounts."""
    if sender.id == target_id:
        raise ActionError(
            Problem(ErrorCode.INVALID_INPUT, "you cannot befriend yourself", "userId")
        )
    await effects.rate_limit(services, "friend_request", sender, "userId")

    async def work(tx: AsyncManagedTransaction) -> _Answered:
        request = await social.send_request(tx, sender.id, target_id)
        return _Answered(request, await _notice(tx, request))

    done = await effects.commit(services, work, _request_effects)
    return done.request


async def respond_to_friend_request(
    services: Services, viewer: UserRecord, request_id: str, *, accept: bool
) -> FriendRequestRecord:
    """The recipient accepts (friends now; the sender is notified) or declines."""

    async def work(tx: AsyncManagedTransaction) -> _Answered:
        request = await social.respond(tx, viewer.id, request_id, accept=accept)
        return _Answered(request, await _notice(tx, request))

    done = await effects.commit(services, work, _request_effects)
    return done.request


async def cancel_friend_request(
    services: Services, viewer: UserRecord, request_id: str
) -> FriendRequestRecord:
    """The sender withdraws a pending request."""

    async def work(tx: AsyncManagedTransaction) -> _Answered:
        return _Answered(await social.cancel(tx, viewer.id, request_id), None)

    done = await effects.commit(services, work, _request_effects)
    return done.request


async def remove_friend(services: Services, viewer: UserRecord, friend_id: str) -> None:
    async def work(tx: AsyncManagedTransaction) -> None:
        await social.unfriend(tx, viewer.id, friend_id)

    await effects.commit(services, work, lambda _: effects.people_changed((viewer.id, friend_id)))


async def block_user(services: Services, viewer: UserRecord, target_id: str) -> None:
    """Mutual in effect: the friendship and pending requests end, and neither sees the
    other's posts or profile beyond id and handle, nor gets them suggested."""

    async def work(tx: AsyncManagedTransaction) -> None:
        await social.block(tx, viewer.id, target_id)

    await effects.commit(services, work, lambda _: effects.people_changed((viewer.id, target_id)))


async def unblock_user(services: Services, viewer: UserRecord, target_id: str) -> None:
    async def work(tx: AsyncManagedTransaction) -> None:
        await social.unblock(tx, viewer.id, target_id)

    await effects.commit(services, work, lambda _: effects.people_changed((viewer.id, target_id)))


async def dismiss_suggestion(services: Services, viewer: UserRecord, target_id: str) -> None:
    """Never suggest this user to the viewer again."""

    async def work(tx: AsyncManagedTransaction) -> None:
        await social.dismiss(tx, viewer.id, target_id)

    await effects.commit(services, work, lambda _: effects.neighbourhood_changed((viewer.id,)))
