"""What is running now, in this context: the innermost ``@cost_aware`` scope.

A module of its own so that the code a call runs through (wrappers, pipeline, streams) can read the
current scope without importing ``scoping``, which sits above it (it opens scopes and instruments).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from costaware.scoping import Scope

CURRENT: ContextVar[Scope | None] = ContextVar("costaware_scope", default=None)
LAST: ContextVar[Scope | None] = ContextVar("costaware_last_scope", default=None)


def current_scope() -> Scope | None:
    """The innermost scope of the running code, or ``None`` outside any scope."""
    return CURRENT.get()
