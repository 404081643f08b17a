"""The simulator's request handling, apart from HTTP: request in, ``Reply`` out.

The engine owns the shared state (request counters, faults, prompt caches, clock) and maps a
parsed request to a ``Reply`` that the HTTP layer writes. Keeping HTTP out makes each step
cheap to read and to test.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from . import anthropic_wire, openai_wire, quality, responses_wire
from .answers import Answer, is_reasoning_model, make_answer
from .caching import AnthropicPromptCache, OpenAIPromptCache, TooManyBreakpoints
from .faults import Fault, FaultBook, FaultSpecError
from .tokens import (
    anthropic_blocks,
    canonical_text,
    chat_blocks,
    count_tokens,
    embedding_inputs,
    last_user_text,
    prompt_tokens,
    responses_blocks,
)

__all__ = ["Reply", "SimEngine"]

HEADER_FAULT = "x-sim-fault"
HEADER_RESPONSE_MODEL = "x-sim-response-model"
HEADER_USAGE = "x-sim-usage"
HEADER_DIFFICULTY = "x-sim-difficulty"  # opts a request into the capability model (quality.py)
HEADER_ANSWER_TOKENS = "x-sim-answer-tokens"
HEADER_QUALITY = "x-sim-quality"  # ground truth for benchmarks: costaware never reads it
HEADER_QUALITY_FAILURE = "x-sim-quality-failure"
HEADER_FLAVOUR = "x-sim-flavour"  # "azure": Azure OpenAI's stream preamble (see openai_wire.chat_chunks)


class Headers(Protocol):
    """The request headers: anything with a case-insensitive ``get`` (``email.message.Message``)."""

    def get(self, name: str, /) -> str | None: ...


@dataclass
class Reply:
    """What to send back: a JSON body, or SSE events, or nothing (a dropped connection)."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    events: list[bytes] | None = None
    drop: bool = False
    drop_after: int | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class _Call:
    """One API request as the endpoint handlers see it."""

    body: dict[str, Any]
    model: str
    response_model: str
    usage_mode: str
    request_id: str
    difficulty: float | None = None
    answer_tokens: int | None = None
    flavour: str = ""


def _json_reply(status: int, payload: Any, request_id: str) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("content-type", "application/json"), ("request-id", request_id), ("x-request-id", request_id)]
    return Reply(status=status, headers=headers, body=body)


def _sse_reply(events: list[bytes], request_id: str) -> Reply:
    headers = [
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
        ("request-id", request_id),
        ("x-request-id", request_id),
    ]
    return Reply(headers=headers, events=events)


def _error_reply(anthropic: bool, request_id: str, status: int, message: str) -> Reply:
    """An error in the provider's shape (Anthropic for ``/v1/messages*``, else OpenAI)."""
    payload = (
        anthropic_wire.error_body(status, message, request_id)
        if anthropic
        else openai_wire.error_body(status, message)
    )
    return _json_reply(status, payload, request_id)


def _first_int(body: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class SimEngine:
    """Shared simulator state and the mapping of requests to replies (thread-safe)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock: Callable[[], float] = clock or time.monotonic
        self.faults = FaultBook()
        self.anthropic_cache = AnthropicPromptCache(lambda: self.clock())
        self.openai_cache = OpenAIPromptCache(lambda: self.clock())
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._quality: dict[str, dict[str, Any]] = {}
        self._routes: dict[str, Callable[[_Call], Reply]] = {
            "/v1/messages": self._messages,
            "/v1/messages/count_tokens": self._count_tokens,
            "/v1/chat/completions": self._chat,
            "/v1/responses": self._responses,
            "/v1/embeddings": self._embeddings,
        }

    # -- state -------------------------------------------------------------------------------

    def requests(self, path: str | None = None, model: str | None = None) -> int:
        """Return how many API requests were received, optionally only for a path and/or model."""
        with self._lock:
            return sum(
                n
                for (p, m), n in self._counts.items()
                if (path is None or p == path) and (model is None or m == model)
            )

    def reset(self) -> None:
        """Forget counters, faults, quality verdicts and both prompt caches."""
        with self._lock:
            self._counts.clear()
            self._quality.clear()
        self.faults.clear()
        self.anthropic_cache.clear()
        self.openai_cache.clear()

    def stats(self) -> dict[str, Any]:
        """Return the counters, faults and cache sizes (the ``GET /_sim/stats`` body)."""
        with self._lock:
            counts = dict(self._counts)
        by_path: dict[str, dict[str, int]] = {}
        for (path, model), n in sorted(counts.items()):
            by_path.setdefault(path, {})[model] = n
        return {
            "total": sum(counts.values()),
            "requests": by_path,
            "faults": self.faults.snapshot(),
            "cache_entries": {"anthropic": len(self.anthropic_cache), "openai": len(self.openai_cache)},
        }

    def quality_log(self) -> dict[str, dict[str, Any]]:
        """The verdict on every judged answer (requests with ``x-sim-difficulty``), by request id."""
        with self._lock:
            return {request_id: dict(record) for request_id, record in self._quality.items()}

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}sim_{next(self._ids):012d}"

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Headers, raw: bytes) -> Reply:
        """Answer one HTTP request. Never raises for a bad request: it becomes an error reply."""
        path = path.split("?", 1)[0]
        if path.startswith("/_sim/"):
            return self._control(method, path, raw)
        request_id = self._new_id("req_")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else None
        with self._lock:  # every request counts, whatever happens to it next
            key = (path, model or "")
            self._counts[key] = self._counts.get(key, 0) + 1
        error = partial(_error_reply, path.startswith("/v1/messages"), request_id)
        try:
            fault = self.faults.pick(path, model, headers.get(HEADER_FAULT))
        except FaultSpecError as exc:
            return error(400, f"invalid {HEADER_FAULT} header: {exc}")
        if fault is not None and (fault.drop or fault.status is not None):
            reply = Reply(drop=True) if fault.drop else self._fault_reply(error, fault)
        else:
            reply = self._answer(method, path, headers, body, request_id, error)
        if fault is not None:
            reply.delay = fault.delay
            if reply.events is not None:
                reply.drop_after = fault.drop_mid_stream_after
        return reply

    def _answer(
        self,
        method: str,
        path: str,
        headers: Headers,
        body: Any,
        request_id: str,
        error: Callable[[int, str], Reply],
    ) -> Reply:
        route = self._routes.get(path)
        if route is None or method != "POST":
            return error(404, f"costaware.sim has no {method} {path}")
        if not isinstance(body, dict):
            return error(400, "the request body is not a JSON object")
        model = body.get("model")
        if not isinstance(model, str):
            return error(400, "model: Field required")
        response_model = headers.get(HEADER_RESPONSE_MODEL) or model
        usage_mode = (headers.get(HEADER_USAGE) or "normal").strip().lower()
        try:
            difficulty, answer_tokens = _quality_headers(headers)
            flavour = (headers.get(HEADER_FLAVOUR) or "").strip().lower()
            return route(
                _Call(body, model, response_model, usage_mode, request_id, difficulty, answer_tokens, flavour)
            )
        except _BadRequest as exc:
            return error(400, str(exc))

    @staticmethod
    def _fault_reply(error: Callable[[int, str], Reply], fault: Fault) -> Reply:
        status = fault.status or 500
        reply = error(status, f"costaware.sim injected a {status} fault")
        if fault.retry_after is not None:
            reply.headers.append(("retry-after", f"{fault.retry_after:g}"))
            reply.headers.append(("retry-after-ms", f"{fault.retry_after * 1000:g}"))
        if fault.should_retry is not None:
            reply.headers.append(("x-should-retry", "true" if fault.should_retry else "false"))
        return reply

    # -- control endpoints -------------------------------------------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> Reply:
        request_id = self._new_id("req_")
        if (method, path) == ("GET", "/_sim/stats"):
            return _json_reply(200, self.stats(), request_id)
        if (method, path) == ("GET", "/_sim/quality"):
            return _json_reply(200, self.quality_log(), request_id)
        if (method, path) == ("POST", "/_sim/reset"):
            self.reset()
            return _json_reply(200, {"ok": True}, request_id)
        if (method, path) == ("DELETE", "/_sim/faults"):
            self.faults.clear()
            return _json_reply(200, {"ok": True}, request_id)
        if (method, path) == ("POST", "/_sim/faults"):
            try:
                spec = json.loads(raw or b"{}")
                specs = spec if isinstance(spec, list) else [spec]
                faults = [Fault.from_mapping(item) for item in specs]
            except (ValueError, AttributeError) as exc:
                return _json_reply(400, openai_wire.error_body(400, f"bad fault spec: {exc}"), request_id)
            for fault in faults:
                self.faults.add(fault)
            return _json_reply(200, {"ok": True, "added": len(faults)}, request_id)
        return _json_reply(
            404, openai_wire.error_body(404, f"no control endpoint {method} {path}"), request_id
        )

    # -- API endpoints -----------------------------------------------------------------------

    def _messages(self, call: _Call) -> Reply:
        body = call.body
        max_tokens = _first_int(body, "max_tokens")
        if max_tokens is None:
            raise _BadRequest("max_tokens: Field required")
        if not isinstance(body.get("messages"), list):
            raise _BadRequest("messages: Field required")
        blocks = anthropic_blocks(body)
        try:
            cache = self.anthropic_cache.apply(call.model, blocks, body.get("cache_control"))
        except TooManyBreakpoints as exc:
            raise _BadRequest(str(exc)) from None
        answer, verdict = self._judged_answer(
            call, canonical_text(blocks), last_user_text("anthropic", body), max_tokens, reasoning=False
        )
        usage = anthropic_wire.usage_body(
            prompt=count_tokens(canonical_text(blocks)),
            cache=cache,
            output_tokens=answer.output_tokens,
            mode=call.usage_mode,
        )
        parts: dict[str, Any] = {
            "msg_id": self._new_id("msg_"),
            "model": call.response_model,
            "answer": answer,
            "usage": usage,
        }
        if body.get("stream"):
            return self._with_verdict(
                _sse_reply(anthropic_wire.stream_events(**parts), call.request_id), verdict
            )
        return self._with_verdict(
            _json_reply(200, anthropic_wire.message_body(**parts), call.request_id), verdict
        )

    def _count_tokens(self, call: _Call) -> Reply:
        return _json_reply(200, {"input_tokens": prompt_tokens("anthropic", call.body)}, call.request_id)

    def _judged_answer(
        self, call: _Call, canonical: str, seed: str, max_tokens: int | None, *, reasoning: bool
    ) -> tuple[Answer, quality.Verdict | None]:
        """The answer, shaped by the capability model when the request gave its difficulty."""
        if call.difficulty is None:
            return make_answer(seed, max_tokens=max_tokens, reasoning=reasoning), None
        verdict = quality.judge(call.model, call.difficulty, quality.request_key(canonical))
        judged = quality.answer_for(verdict, seed=seed, body=call.body, answer_tokens=call.answer_tokens)
        answer = make_answer(seed, max_tokens=max_tokens, reasoning=reasoning, text=judged.text)
        if answer.truncated and verdict.passed:
            verdict = quality.Verdict(**{**verdict.as_record(), "passed": False, "failure": "truncated"})
        record = {**verdict.as_record(), "request_id": call.request_id, "truncated": answer.truncated}
        with self._lock:
            self._quality[call.request_id] = record
        return answer, verdict

    @staticmethod
    def _with_verdict(reply: Reply, verdict: quality.Verdict | None) -> Reply:
        if verdict is not None:
            reply.headers.append((HEADER_QUALITY, "pass" if verdict.passed else "fail"))
            if verdict.failure is not None:
                reply.headers.append((HEADER_QUALITY_FAILURE, verdict.failure))
        return reply

    def _openai_prompt(self, call: _Call, canonical: str) -> tuple[int, int]:
        cache_key = call.body.get("prompt_cache_key")
        cached = self.openai_cache.apply(
            call.model, canonical, cache_key if isinstance(cache_key, str) else None
        )
        return count_tokens(canonical), cached

    def _chat(self, call: _Call) -> Reply:
        body = call.body
        if not isinstance(body.get("messages"), list):
            raise _BadRequest("messages: Field required")
        canonical = canonical_text(chat_blocks(body))
        prompt, cached = self._openai_prompt(call, canonical)
        reasoning = is_reasoning_model(call.model, body.get("reasoning_effort"))
        max_tokens = _first_int(body, "max_completion_tokens", "max_tokens")
        seed = last_user_text("openai", body)
        answer, verdict = self._judged_answer(call, canonical, seed, max_tokens, reasoning=reasoning)
        # ``n`` choices are n answers billed (the same text here: the simulator is deterministic).
        choices = max(_first_int(body, "n") or 1, 1)
        billed = dataclasses.replace(
            answer,
            output_tokens=answer.output_tokens * choices,
            reasoning_tokens=answer.reasoning_tokens * choices,
        )
        usage = openai_wire.chat_usage_body(prompt=prompt, cached=cached, answer=billed, mode=call.usage_mode)
        parts: dict[str, Any] = {
            "completion_id": self._new_id("chatcmpl-"),
            "model": call.response_model,
            "created": int(time.time()),
            "answer": answer,
            "usage": usage,
            "choices": choices,
        }
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            events = openai_wire.chat_chunks(
                **parts, include_usage=include_usage, azure_preamble=call.flavour == "azure"
            )
            return self._with_verdict(_sse_reply(events, call.request_id), verdict)
        return self._with_verdict(
            _json_reply(200, openai_wire.chat_completion_body(**parts), call.request_id), verdict
        )

    def _responses(self, call: _Call) -> Reply:
        body = call.body
        canonical = canonical_text(responses_blocks(body))
        prompt, cached = self._openai_prompt(call, canonical)
        effort = body.get("reasoning", {}).get("effort") if isinstance(body.get("reasoning"), dict) else None
        reasoning = is_reasoning_model(call.model, effort)
        max_tokens = _first_int(body, "max_output_tokens")
        seed = last_user_text("openai-responses", body)
        answer, verdict = self._judged_answer(call, canonical, seed, max_tokens, reasoning=reasoning)
        usage = responses_wire.responses_usage_body(
            prompt=prompt, cached=cached, answer=answer, mode=call.usage_mode
        )
        parts: dict[str, Any] = {
            "response_id": self._new_id("resp_"),
            "item_id": self._new_id("msg_"),
            "model": call.response_model,
            "created": int(time.time()),
            "request": body,
            "answer": answer,
            "usage": usage,
        }
        if body.get("stream"):
            return self._with_verdict(
                _sse_reply(responses_wire.response_events(**parts), call.request_id), verdict
            )
        return self._with_verdict(
            _json_reply(200, responses_wire.response_body(**parts), call.request_id), verdict
        )

    def _embeddings(self, call: _Call) -> Reply:
        body = call.body
        inputs = embedding_inputs(body)
        if not inputs:
            raise _BadRequest("input: Field required")
        dimensions = _first_int(body, "dimensions") or openai_wire.DEFAULT_DIMENSIONS
        if not 1 <= dimensions <= 65536:
            raise _BadRequest("dimensions must be between 1 and 65536")
        n_tokens = prompt_tokens("openai-embeddings", body)
        usage: dict[str, Any] | None = {"prompt_tokens": n_tokens, "total_tokens": n_tokens}
        if call.usage_mode == "missing":
            usage = None
        elif call.usage_mode == "malformed":
            usage = {"prompt_tokens": None, "total_tokens": str(n_tokens)}
        payload = openai_wire.embeddings_body(
            inputs=inputs,
            model=call.response_model,
            dimensions=dimensions,
            encoding_format=str(body.get("encoding_format") or "float"),
            usage=usage,
        )
        return _json_reply(200, payload, call.request_id)


def _quality_headers(headers: Headers) -> tuple[float | None, int | None]:
    """``x-sim-difficulty`` (a number in [0, 1]) and ``x-sim-answer-tokens`` (an int >= 1), if sent."""
    raw_difficulty, raw_tokens = headers.get(HEADER_DIFFICULTY), headers.get(HEADER_ANSWER_TOKENS)
    difficulty = tokens = None
    if raw_difficulty is not None:
        try:
            difficulty = float(raw_difficulty)
        except ValueError:
            difficulty = -1.0
        if not 0.0 <= difficulty <= 1.0:
            raise _BadRequest(
                f"invalid {HEADER_DIFFICULTY} header: {raw_difficulty!r} is not a number in [0, 1]"
            )
    if raw_tokens is not None:
        try:
            tokens = int(raw_tokens)
        except ValueError:
            tokens = 0
        if tokens < 1:
            raise _BadRequest(f"invalid {HEADER_ANSWER_TOKENS} header: {raw_tokens!r} is not an int >= 1")
    return difficulty, tokens


class _BadRequest(Exception):
    """A request the real API would refuse with a 400."""
