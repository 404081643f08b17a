"""The exceptions costaware raises on purpose. Everything else an SDK raises reaches the caller unchanged."""

from __future__ import annotations

from decimal import Decimal


class ConfigurationError(ValueError):
    """A costaware setting is invalid. Raised when configuring or decorating, never during an LLM call."""


class BudgetExceededError(Exception):
    """A call would overspend a budget; raised before any request is sent.

    ``spent`` and ``reserved`` are the budget's settled spend and in-flight reservations in its
    current window, ``needed`` the worst-case cost of the refused call, ``limit`` the budget's limit,
    all in USD.
    """

    def __init__(
        self, *, key: str, window: str, limit: Decimal, spent: Decimal, reserved: Decimal, needed: Decimal
    ) -> None:
        self.key = key
        self.window = window
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.needed = needed
        super().__init__(
            f"budget {key!r} ({window}) would be exceeded: spent ${spent} + reserved ${reserved} "
            f"+ needed ${needed} > limit ${limit}"
        )
