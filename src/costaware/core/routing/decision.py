"""The values routing exchanges: what a policy sees, what it answers, and the decision it leads to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from costaware.core.routing.reading import Signals
from costaware.core.routing.reading import signals as read_signals
from costaware.core.routing.tiers import TierLadder

__all__ = ["Choice", "Decision", "Policy", "RouteRequest"]

Pairs = tuple[tuple[str, float], ...]


class RouteRequest:
    """What a policy is shown: the call's provider, requested model and arguments, their
    :class:`~costaware.core.routing.reading.Signals` (read on first use: ``route="auto"`` reads the
    ask itself and never needs them), the provider's ladder (``None`` if none is configured) and the
    task label, if any. Treat it as immutable."""

    __slots__ = ("_signals", "kwargs", "label", "ladder", "model", "provider")

    def __init__(
        self,
        provider: str,
        model: str,
        kwargs: Mapping[str, object],
        signals: Signals | None = None,
        ladder: TierLadder | None = None,
        label: str | None = None,
    ) -> None:
        self.provider, self.model, self.kwargs = provider, model, kwargs
        self.ladder, self.label, self._signals = ladder, label, signals

    @property
    def signals(self) -> Signals:
        if self._signals is None:
            self._signals = read_signals(self.kwargs)
        return self._signals

    @property
    def signals_read(self) -> Signals | None:
        """The signals if a policy (or the caller) read them, else ``None``."""
        return self._signals

    def __repr__(self) -> str:
        return f"RouteRequest({self.provider!r}, {self.model!r}, label={self.label!r})"


@dataclass(frozen=True, slots=True)
class Choice:
    """A policy's answer: a tier name or model id (``None``: keep the requested model), and why.

    ``extra`` adds numbers to the decision's signals (the classifier's score, for instance).
    """

    target: str | None
    reason: str
    extra: Pairs = ()


@runtime_checkable
class Policy(Protocol):
    """A routing policy. ``choose`` must be cheap and must not raise for any request;
    ``validate`` raises ConfigurationError, at configuration time, for names a ladder lacks."""

    @property
    def name(self) -> str: ...

    def choose(self, request: RouteRequest) -> Choice: ...

    def validate(self, ladders: Mapping[str, TierLadder]) -> None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """Which model a call goes to, and why. ``signals`` are the numbers the policy decided on.

    >>> d = Decision("claude-opus-4-6", "claude-sonnet-4-6", "medium", "auto", "score 2.5 >= 2.0")
    >>> d.changed, d.downgraded_to("claude-haiku-4-5", tier="small", reason="budget").chosen_model
    (True, 'claude-haiku-4-5')
    """

    requested_model: str
    chosen_model: str
    tier: str | None
    """The chosen model's tier name, or ``None`` when it is not in the provider's ladder."""
    policy: str
    reason: str
    signals: Pairs = ()
    failure: BaseException | None = None
    """What the policy raised, when it failed and the requested model was kept (the caller logs it)."""

    @property
    def changed(self) -> bool:
        """Whether the call goes to another model than the one requested."""
        return self.chosen_model != self.requested_model

    def downgraded_to(self, model: str, *, tier: str | None = None, reason: str | None = None) -> Decision:
        """This decision moved to ``model`` (a budget that downgrades), with the reason appended."""
        why = reason or f"downgraded to {model}"
        return replace(self, chosen_model=model, tier=tier, reason=f"{self.reason}; {why}")
