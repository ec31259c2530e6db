"""adminRecordInteractions: the platform reports payments and visits in batches.

Each row is checked on its own. Rows that are invalid (an empty id, a time without a UTC
offset, a payment to oneself) come back as ``INVALID_INPUT`` and rows naming an unknown
user or merchant as ``NOT_FOUND``, each with the row's field (``payments[3].at``); every
other row is written. Only a batch larger than ``MAX_INTERACTIONS`` is refused whole.
Naive times are refused rather than guessed to be UTC. Repeating a call writes nothing new
(events are merged on their time), so the platform may retry freely.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from actions.interactions import record_interactions
from graph import interactions
from graph.errors import ActionError, ErrorCode, Problem, invalid
from schema.core import Info, UserError, admin, mutation

MAX_INTERACTIONS = 1000


@strawberry.input
class PaymentInput:
    from_platform_user_id: strawberry.ID
    to_platform_user_id: strawberry.ID
    at: datetime = strawberry.field(description="When it happened; must carry a UTC offset.")


@strawberry.input
class VisitInput:
    platform_user_id: strawberry.ID
    platform_merchant_id: strawberry.ID
    at: datetime = strawberry.field(description="When it happened; must carry a UTC offset.")


@strawberry.input
class AdminRecordInteractionsInput:
    payments: list[PaymentInput] | None = None
    visits: list[VisitInput] | None = None


@strawberry.type
class InteractionsPayload:
    accepted: int = 0
    user_errors: list[UserError] = strawberry.field(default_factory=list)


_PAYMENT_FIELDS = {"from": "fromPlatformUserId", "to": "toPlatformUserId"}
_VISIT_FIELDS = {"user": "platformUserId", "merchant": "platformMerchantId"}


def _not_found(prefix: str, names: dict[str, str], index: int, missing: list[str]) -> Problem:
    what = " and ".join(names[m] for m in missing)
    return Problem(ErrorCode.NOT_FOUND, f"no such {what}", f"{prefix}[{index}].{names[missing[0]]}")


@strawberry.type
class InteractionsMutation:
    @strawberry.mutation(
        description=(
            "Platform only: record payment and visit events (at most 1000 per call). "
            "Valid rows are written even when others are reported in userErrors; "
            "repeating a call is harmless."
        )
    )
    @mutation(admin)
    async def admin_record_interactions(
        self, info: Info, input: AdminRecordInteractionsInput
    ) -> InteractionsPayload:
        payments_in = input.payments or []
        visits_in = input.visits or []
        if len(payments_in) + len(visits_in) > MAX_INTERACTIONS:
            raise ActionError(
                invalid(None, f"at most {MAX_INTERACTIONS} payments and visits per call")
            )

        problems: list[Problem] = []
        payments: list[interactions.Payment] = []
        payment_rows: list[int] = []  # index in the input of each payment kept
        for i, p in enumerate(payments_in):
            row = interactions.Payment(
                str(p.from_platform_user_id), str(p.to_platform_user_id), p.at
            )
            found = interactions.payment_problems(
                row,
                from_field=f"payments[{i}].fromPlatformUserId",
                to_field=f"payments[{i}].toPlatformUserId",
                at_field=f"payments[{i}].at",
            )
            if found:
                problems += found
            else:
                payments.append(row)
                payment_rows.append(i)
        visits: list[interactions.Visit] = []
        visit_rows: list[int] = []
        for i, v in enumerate(visits_in):
            visit = interactions.Visit(str(v.platform_user_id), str(v.platform_merchant_id), v.at)
            found = interactions.visit_problems(
                visit,
                user_field=f"visits[{i}].platformUserId",
                merchant_field=f"visits[{i}].platformMerchantId",
                at_field=f"visits[{i}].at",
            )
            if found:
                problems += found
            else:
                visits.append(visit)
                visit_rows.append(i)

        recorded = await record_interactions(info.context.services, payments, visits)
        paid, visited = recorded.payments, recorded.visits
        for index, missing in sorted(paid.unknown.items()):
            problems.append(_not_found("payments", _PAYMENT_FIELDS, payment_rows[index], missing))
        for index, missing in sorted(visited.unknown.items()):
            problems.append(_not_found("visits", _VISIT_FIELDS, visit_rows[index], missing))

        return InteractionsPayload(
            accepted=paid.written + visited.written,
            user_errors=[UserError.from_problem(p) for p in problems],
        )
