"""Expected failures of domain actions, each with a stable code the clients rely on."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorCode(enum.Enum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    BLOCKED = "BLOCKED"
    RATE_LIMITED = "RATE_LIMITED"
    INVITE_REQUIRED = "INVITE_REQUIRED"
    TRUST_TOO_LOW = "TRUST_TOO_LOW"
    NOT_A_CUSTOMER = "NOT_A_CUSTOMER"
    BANNED = "BANNED"
    MUTED = "MUTED"
    # A dependency the answer needs cannot be reached, and answering without it would be
    # wrong (merchant insights fail closed: docs/insights.md).
    UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True)
class Problem:
    code: ErrorCode
    message: str
    field: str | None = None
    # RATE_LIMITED only: how long until the attempt may succeed.
    retry_after_seconds: float | None = None


class ActionError(Exception):
    """Raised by an action when the request cannot be carried out as asked.

    The GraphQL layer turns it into ``userErrors``; nothing was written.
    """

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def invalid(field: str | None, message: str) -> Problem:
    return Problem(ErrorCode.INVALID_INPUT, message, field)
