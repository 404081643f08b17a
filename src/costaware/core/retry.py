"""Narrow retries: which failures are transient, and how long to wait before the next attempt.

Pure: errors are read by behaviour (``status_code``, ``response.headers``, class names in the MRO),
never by importing an SDK. Transient: connection and timeout errors, 408, 409, 429, 5xx and 529.
Everything else is permanent and never retried; 400, 401, 403, 404, 413 and 422 are never retried
even if the server says ``x-should-retry: true``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from costaware.core.errors import ConfigurationError

TRANSIENT_STATUSES = frozenset({408, 409, 429, 529})
NEVER_RETRIED = frozenset({400, 401, 403, 404, 413, 422})
_TRANSIENT_CLASSES = frozenset({"APIConnectionError", "APITimeoutError", "ConnectError", "ConnectTimeout"})


@dataclass(frozen=True, slots=True)
class Failure:
    """What an attempt's error says about retrying it."""

    transient: bool
    error_type: str
    """``"429"`` for an HTTP status, else the exception's class name."""
    status: int | None = None
    retry_after: float | None = None
    """Seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``)."""
    overloaded: bool = False
    """429 or 529: the candidates for a ``fallback`` model."""


def http_status(error: BaseException) -> int | None:
    """The HTTP status of an SDK error that carries a response, else ``None`` (connection errors...)."""
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def classify(error: BaseException) -> Failure:
    """Read an SDK error (anthropic or openai, any version) as transient or permanent."""
    status = http_status(error)
    headers = _headers_of(error)
    if status is not None:
        should_retry = (headers.get("x-should-retry") or "").lower()
        if status in NEVER_RETRIED:
            transient = False
        elif should_retry in ("true", "false"):
            transient = should_retry == "true"
        else:
            transient = status in TRANSIENT_STATUSES or status >= 500
        return Failure(
            transient=transient,
            error_type=str(status),
            status=status,
            retry_after=retry_after_seconds(headers),
            overloaded=status in (429, 529),
        )
    names = {cls.__name__ for cls in type(error).__mro__}
    return Failure(transient=bool(names & _TRANSIENT_CLASSES), error_type=type(error).__name__)


def _headers_of(error: BaseException) -> Mapping[str, str]:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    return headers if headers is not None else {}


def retry_after_seconds(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """The delay a response asks for: ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now(), 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry transient failures, and how long to wait.

    ``retries=3`` means at most 4 attempts reach the server: the SDK's own retries are switched off
    for the calls this policy drives. Delays are exponential with full jitter
    (``uniform(0, min(max_delay, base_delay * 2**n))``), or what the server asked for with
    ``retry-after`` when ``honour_retry_after`` (capped at ``max_retry_after``). No attempt starts
    after ``deadline`` seconds from the first. ``fallback`` names a model to switch to when the
    requested one stays overloaded (429/529) after ``fallback_after`` such failures.
    """

    retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    deadline: float | None = 60.0
    honour_retry_after: bool = True
    max_retry_after: float = 60.0
    fallback: str | None = None
    fallback_after: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ConfigurationError(f"retries must be a non-negative int, not {self.retries!r}")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(f"{name} must be a non-negative number, not {value!r}")
        if self.deadline is not None and (not isinstance(self.deadline, (int, float)) or self.deadline <= 0):
            raise ConfigurationError(
                f"deadline must be a positive number of seconds or None, not {self.deadline!r}"
            )
        if self.fallback is not None and (not isinstance(self.fallback, str) or not self.fallback):
            raise ConfigurationError("fallback must be a model id")
        if self.fallback_after < 1:
            raise ConfigurationError("fallback_after must be at least 1")

    @classmethod
    def of(cls, value: RetryPolicy | int | None) -> RetryPolicy | None:
        """``retries=`` as users write it: a count, a policy, or ``None`` (no costaware retries)."""
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"retries must be an int or a RetryPolicy, not {value!r}")
        return cls(retries=value)

    def delay(self, failure: Failure, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        if _TESTING["no_sleep"]:
            return 0.0
        if self.honour_retry_after and failure.retry_after is not None:
            return min(failure.retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return (rng or random).uniform(0, ceiling)

    def next_delay(self, failure: Failure, attempts_made: int, elapsed: float) -> float | None:
        """The wait before the next attempt, or ``None`` when the call must fail now."""
        if not failure.transient or attempts_made > self.retries:
            return None
        wait = self.delay(failure, attempts_made)
        if self.deadline is not None and elapsed + wait > self.deadline:
            return None
        return wait


_TESTING = {"no_sleep": False}


@contextmanager
def retry_testing(*, no_sleep: bool = True) -> Iterator[None]:
    """Skip retry back-off sleeps (for tests); restores the previous setting on exit."""
    previous = _TESTING["no_sleep"]
    _TESTING["no_sleep"] = no_sleep
    try:
        yield
    finally:
        _TESTING["no_sleep"] = previous


def describe(failure: Failure) -> Mapping[str, Any]:
    """Attributes for an attempt's span event."""
    attributes: dict[str, Any] = {
        "error.type": failure.error_type,
        "costaware.retry.transient": failure.transient,
    }
    if failure.retry_after is not None:
        attributes["costaware.retry.retry_after_s"] = failure.retry_after
    return attributes
