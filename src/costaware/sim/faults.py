"""Injected faults: error statuses, dropped connections, delays and broken streams.

A ``Fault`` is a value; the ``FaultBook`` keeps how often each one has fired. Faults come from
``Simulator.add_fault`` / ``POST /_sim/faults`` (per server) or from a request header::

    x-sim-fault: status=503;times=2;key=abc;retry_after=0.05

with the same fields as ``Fault`` plus ``key``. A header fault's ``times`` counter is kept per
``key`` (or, without one, per exact header text), so the SDK's own retries of one call, which
resend the same header, see the first N attempts fail and the next one succeed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Fault", "FaultBook", "FaultSpecError", "parse_fault_header"]


class FaultSpecError(ValueError):
    """A fault description (header or JSON) that cannot be understood."""


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One injected fault. Fields left at their defaults do nothing.

    Args:
        status: answer with this HTTP status and a provider-shaped error body
            (400, 401, 429, 500, 503 and 529 have specific error types).
        retry_after: seconds to send as ``retry-after`` and ``retry-after-ms`` on the error.
        times: fire for the first N matching requests only; None fires on every match.
        path: only requests to this path (e.g. ``"/v1/messages"``); None matches all.
        model: only requests for this model; None matches all.
        drop: close the connection without sending a response.
        delay: seconds to sleep before answering (the fault still answers normally
            unless another field says otherwise).
        drop_mid_stream_after: for streamed answers, send this many SSE events, then drop the
            connection; non-streamed requests are answered normally.
        should_retry: send ``x-should-retry: true|false`` on the error.

    Example::

        sim.add_fault(Fault(status=429, retry_after=0.05, times=2, path="/v1/messages"))
    """

    status: int | None = None
    retry_after: float | None = None
    times: int | None = None
    path: str | None = None
    model: str | None = None
    drop: bool = False
    delay: float = 0.0
    drop_mid_stream_after: int | None = None
    should_retry: bool | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise FaultSpecError(f"fault status must be 400..599, got {self.status}")
        if self.times is not None and self.times < 0:
            raise FaultSpecError("fault times must be >= 0")
        if self.delay < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise FaultSpecError("fault delay and retry_after must be >= 0")

    def matches(self, path: str, model: str | None) -> bool:
        """Return whether this fault applies to a request for ``path`` and ``model``."""
        return (self.path is None or self.path == path) and (self.model is None or self.model == model)

    def to_dict(self) -> dict[str, Any]:
        """Return the fault as a JSON-ready mapping (the ``POST /_sim/faults`` format)."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> Fault:
        """Build a fault from a mapping of field names to values (strings are converted)."""
        values: dict[str, Any] = {}
        for name, raw in spec.items():
            key = str(name).strip().lower().replace("-", "_")
            if key not in _CONVERTERS:
                raise FaultSpecError(f"unknown fault field {name!r}")
            try:
                values[key] = None if raw is None else _CONVERTERS[key](raw)
            except (TypeError, ValueError) as exc:
                raise FaultSpecError(f"bad value for fault field {name!r}: {raw!r}") from exc
        try:
            return cls(**values)
        except TypeError as exc:
            raise FaultSpecError(str(exc)) from exc


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    return int(str(value).strip()) if not isinstance(value, int) else value


_CONVERTERS: dict[str, Any] = {
    "status": _to_int,
    "retry_after": float,
    "times": _to_int,
    "path": str,
    "model": str,
    "drop": _to_bool,
    "delay": float,
    "drop_mid_stream_after": _to_int,
    "should_retry": _to_bool,
}
assert set(_CONVERTERS) == {f.name for f in fields(Fault)}


def parse_fault_header(value: str) -> tuple[Fault, str]:
    """Parse an ``x-sim-fault`` header into a fault and its counter key.

    The key is the ``key`` item when present, else the whole header text. Example::

        parse_fault_header("status=503;times=2;key=abc")  # (Fault(status=503, times=2), "abc")
    """
    spec: dict[str, str] = {}
    key: str | None = None
    for item in value.split(";"):
        if not item.strip():
            continue
        name, sep, raw = item.partition("=")
        if not sep:
            raise FaultSpecError(f"x-sim-fault items must be name=value, got {item!r}")
        if name.strip().lower() == "key":
            key = raw.strip()
        else:
            spec[name] = raw.strip()
    return Fault.from_mapping(spec), value.strip() if key is None else key


@dataclass
class _Armed:
    fault: Fault
    fired: int = 0


class FaultBook:
    """Server-wide faults and the fire counters of faults (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Armed] = []
        self._header_fired: dict[str, int] = {}

    def add(self, fault: Fault) -> None:
        """Register a server-wide fault (checked in the order added)."""
        with self._lock:
            self._faults.append(_Armed(fault))

    def clear(self) -> None:
        """Remove every server-wide fault and forget the header-fault counters."""
        with self._lock:
            self._faults.clear()
            self._header_fired.clear()

    def pick(self, path: str, model: str | None, header: str | None) -> Fault | None:
        """Return the fault that fires for this request, counting it, or None.

        A header fault is considered first, then the server faults in the order added.
        Raises ``FaultSpecError`` for a malformed header.
        """
        header_fault = parse_fault_header(header) if header else None
        with self._lock:
            if header_fault is not None and header_fault[0].matches(path, model):
                fault, key = header_fault
                fired = self._header_fired.get(key, 0)
                if fault.times is None or fired < fault.times:
                    self._header_fired[key] = fired + 1
                    return fault
            for armed in self._faults:
                times = armed.fault.times
                if armed.fault.matches(path, model) and (times is None or armed.fired < times):
                    armed.fired += 1
                    return armed.fault
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        """Return the server-wide faults with how often each has fired (for ``/_sim/stats``)."""
        with self._lock:
            return [{"fault": armed.fault.to_dict(), "fired": armed.fired} for armed in self._faults]
