"""The root types and the assembled schema, with its limits and extensions."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.settings import Settings, get_settings
from schema.circles.discovery import DiscoveryQuery
from schema.circles.merchants import MerchantsMutation
from schema.circles.mutations import CirclesMutation
from schema.circles.queries import CirclesQuery
from schema.core import Info, resolve_node
from schema.cost import QueryCost
from schema.direct import DirectExecution, resolve_directly
from schema.extensions import (
    MaskUnexpectedErrors,
    OperationMetrics,
    RateLimitHeaders,
    log_errors,
)
from schema.insights.queries import InsightsQuery
from schema.moderation.actions import ModerationActionsMutation, ModerationActionsQuery
from schema.moderation.reports import ReportsMutation, ReportsQuery
from schema.moderation.safety import SafetyMutation, SafetyQuery
from schema.notifications.mutations import NotificationsMutation
from schema.notifications.queries import NotificationsQuery
from schema.notifications.subscriptions import NotificationsSubscription
from schema.people.contacts import ContactsMutation
from schema.people.interactions import InteractionsMutation
from schema.people.mutations import PeopleMutation
from schema.people.queries import PeopleQuery
from schema.persisted import PersistedQueries, Registry
from schema.posts.feed import FeedQuery, FeedSubscription
from schema.posts.mutations import PostsMutation
from schema.posts.queries import PostsQuery


@strawberry.type
class Query(
    PeopleQuery,
    CirclesQuery,
    DiscoveryQuery,
    PostsQuery,
    FeedQuery,
    NotificationsQuery,
    ModerationActionsQuery,
    ReportsQuery,
    SafetyQuery,
    InsightsQuery,
):
    @strawberry.field(description="Any object by its global id; null when hidden or missing.")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        return await resolve_node(info, id)


@strawberry.type
class Mutation(
    PeopleMutation,
    InteractionsMutation,
    ContactsMutation,
    CirclesMutation,
    MerchantsMutation,
    PostsMutation,
    NotificationsMutation,
    ModerationActionsMutation,
    ReportsMutation,
    SafetyMutation,
):
    pass


@strawberry.type
class Subscription(FeedSubscription, NotificationsSubscription):
    pass


class QuanziSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context.context if execution_context else None)


def make_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or get_settings()
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    # Factories: Strawberry builds fresh extensions per request (the caches are shared).
    extensions: list[Any] = [
        # First: it may supply the document (from a hash) or refuse it, before parsing.
        partial(PersistedQueries, mode=settings.persisted_queries, registry=Registry()),
        partial(ParserCache, maxsize=settings.graphql_cache_size),
        partial(ValidationCache, maxsize=settings.graphql_cache_size),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        # The limits' rule classes are built once: the validation cache keys on them, so
        # rules made anew per request would never hit it.
        partial(AddValidationRules, list(limits)),
        partial(QueryCost, budget=settings.max_query_cost, max_page=settings.max_page_size),
        MaskUnexpectedErrors,
        OperationMetrics,
        RateLimitHeaders,
    ]
    if settings.production:
        # Clients are built against the committed schema; nobody needs to explore it here,
        # nor be told which field names exist.
        extensions.append(DisableIntrospection)
    schema = QuanziSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        types=[relay.PageInfo],
        execution_context_class=DirectExecution,
        config=StrawberryConfig(disable_field_suggestions=settings.production),
    )
    resolve_directly(schema)
    return schema


def sdl() -> str:
    """The schema as SDL, as committed in ``schema/schema.graphql``."""
    return make_schema().as_str() + "\n"
