"""The response cache inside a call: hits answered by the real SDKs from the cache, keys that never mix
answers up, streams, budgets, telemetry and savings, through the real clients against the simulator."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

import pytest

import costaware
from costaware import cost_aware

from helpers import HAIKU, SONNET, anthropic_cost, unawaited_requests, user

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"


def ask(client: Any, text: str, *, model: str = HAIKU, **extra: Any) -> Any:
    return client.messages.create(model=model, max_tokens=100, messages=user(text), **extra)


def asker(cache: Any, client: Any) -> Any:
    """A decorated function asking ``client`` one question, under ``cache``."""

    @cost_aware(cache=cache)
    def faq(question: str) -> Any:
        return ask(client, question)

    return faq


def test_a_repeated_request_is_answered_from_the_cache_as_the_sdks_own_message(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()

    faq = asker(cache, anthropic_client)

    first = faq("What are your opening hours?")
    started = time.perf_counter()
    second = faq("What are your opening hours?")
    elapsed = time.perf_counter() - started

    assert sim.requests(path=MESSAGES) == 1
    assert type(second) is type(first)
    assert second.content[0].text == first.content[0].text
    assert second.model == first.model and second.stop_reason == first.stop_reason
    assert (second.usage.input_tokens, second.usage.output_tokens) == (0, 0)
    assert elapsed < 0.05  # no request: a few SDK steps

    miss, hit = telemetry.call_spans()
    assert miss.attributes["costaware.response_cache.result"] == "miss"
    assert miss.attributes["costaware.response_cache.stored"] is True
    paid = anthropic_cost(HAIKU, first.usage)
    assert hit.attributes["costaware.response_cache.result"] == "exact_hit"
    assert hit.attributes["costaware.response_cache.layer"] == "exact"
    assert hit.attributes["costaware.response_cache.saved_usd"] == float(paid)
    assert hit.attributes["costaware.cost.usd"] == 0.0
    assert hit.attributes["costaware.cost.source"] == "response-cache"
    assert hit.attributes["costaware.response_cache.age_s"] >= 0
    assert telemetry.counter_value("costaware.savings", costaware__technique="response_cache") == float(paid)
    assert (
        telemetry.counter_value(
            "costaware.response_cache.lookups", costaware__response_cache__result="exact_hit"
        )
        == 1
    )
    assert costaware.last_scope().tracker.total_cost == 0


@pytest.mark.parametrize("change", ["model", "system", "tools", "earlier_turns", "stop_sequences", "tenant"])
def test_no_answer_crosses_a_model_system_prompt_tools_earlier_turns_sampling_or_tenant(
    anthropic_client: Any, telemetry: Any, sim: Any, change: str
) -> None:
    cache = costaware.ResponseCache(semantic=True, namespace=lambda tenant, **_: tenant)
    base: dict[str, Any] = {"model": HAIKU, "max_tokens": 100, "messages": user("What is the refund policy?")}
    other = dict(base)
    if change == "model":
        other["model"] = SONNET
    elif change == "system":
        other["system"] = "You answer for the billing team."
    elif change == "tools":
        other["tools"] = [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}]
    elif change == "earlier_turns":
        other["messages"] = [
            {"role": "user", "content": "I bought a phone."},
            {"role": "assistant", "content": "Noted."},
            *base["messages"],
        ]
    elif change == "stop_sequences":
        other["stop_sequences"] = ["END"]

    @cost_aware(cache=cache)
    def faq(request: dict[str, Any], tenant: str) -> Any:
        return anthropic_client.messages.create(**request)

    faq(base, tenant="acme")
    faq(other, tenant="globex" if change == "tenant" else "acme")
    assert sim.requests(path=MESSAGES) == 2
    assert telemetry.call_spans()[1].attributes["costaware.response_cache.result"] == "miss"
    faq(base, tenant="acme")  # the first request is still served from the cache
    assert sim.requests(path=MESSAGES) == 2


def test_prompt_cache_breakpoints_do_not_change_the_key(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    """costaware's planner adds cache_control markers once a prefix is reused: the same request
    with and without them is the same request."""
    cache = costaware.ResponseCache()
    system = "Policy handbook. " * 400

    @cost_aware(cache=cache)
    def faq(question: str) -> Any:
        return anthropic_client.messages.create(
            model=HAIKU, max_tokens=50, system=system, messages=user(question)
        )

    for _ in range(3):
        faq("Can I return an opened item?")
    assert sim.requests(path=MESSAGES) == 1


def test_a_paraphrase_hits_the_semantic_layer_and_a_lookalike_does_not(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache(semantic=True)

    faq = asker(cache, anthropic_client)

    first = faq("How do I reset my password?")
    again = faq("How can I reset my password?")
    assert sim.requests(path=MESSAGES) == 1
    assert again.content[0].text == first.content[0].text
    hit = telemetry.call_spans()[1].attributes
    assert hit["costaware.response_cache.result"] == "semantic_hit"
    assert hit["costaware.response_cache.similarity"] >= cache.rule.min_similarity

    faq("What is the fastest route from England to Scotland?")
    faq("What is the fastest route from Scotland to England?")
    faq("Can I get a refund after 30 days?")
    faq("Can I get a refund after 60 days?")
    assert sim.requests(path=MESSAGES) == 5
    spans = telemetry.call_spans()
    assert spans[3].attributes["costaware.response_cache.result"] == "miss"
    assert spans[5].attributes["costaware.response_cache.result"] == "miss"


def test_a_streamed_request_is_answered_with_a_real_stream_and_helpers_replay(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()
    question = "Explain our shipping options."

    @cost_aware(cache=cache)
    def plain() -> Any:
        return ask(anthropic_client, question)

    @cost_aware(cache=cache)
    def streamed() -> list[Any]:
        return list(ask(anthropic_client, question, stream=True))

    @cost_aware(cache=cache)
    def helper() -> tuple[list[str], Any]:
        with anthropic_client.messages.stream(model=HAIKU, max_tokens=100, messages=user(question)) as stream:
            return list(stream.text_stream), stream.get_final_message()

    original = plain()
    events = streamed()
    texts, final = helper()
    assert sim.requests(path=MESSAGES) == 1
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(kinds)
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == original.content[0].text == "".join(texts) == final.content[0].text
    assert final.usage.output_tokens == 0
    for span in telemetry.call_spans()[1:]:
        assert span.attributes["costaware.response_cache.result"] == "exact_hit"
        assert span.attributes["costaware.stream.end"] in ("completed", "closed")


def test_a_stream_read_to_the_end_is_stored_and_an_abandoned_one_is_not(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def read_some(question: str, events: int | None) -> None:
        stream = ask(anthropic_client, question, stream=True)
        for index, _ in enumerate(stream):
            if events is not None and index + 1 >= events:
                stream.close()
                break

    read_some("Tell me about the warranty.", 2)
    read_some("Tell me about the warranty.", None)
    assert sim.requests(path=MESSAGES) == 2  # the closed stream left nothing to serve
    read_some("Tell me about the warranty.", None)
    assert sim.requests(path=MESSAGES) == 2


def test_openai_chat_and_responses_hits_are_real_sdk_objects_and_streams(
    openai_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()
    messages = user("Summarise the return policy in one line.")

    @cost_aware(cache=cache)
    def chat(**extra: Any) -> Any:
        return openai_client.chat.completions.create(model="gpt-4o-mini", messages=messages, **extra)

    @cost_aware(cache=cache)
    def respond(**extra: Any) -> Any:
        return openai_client.responses.create(model="gpt-4o-mini", input="Name our three plans.", **extra)

    first = chat()
    again = chat()
    chunks = list(chat(stream=True, stream_options={"include_usage": True}))
    assert sim.requests(path=CHAT) == 1
    assert type(again) is type(first) and again.choices[0].message.content == first.choices[0].message.content
    assert again.usage.prompt_tokens == again.usage.completion_tokens == 0
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == first.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 0

    response = respond()
    replayed = respond()
    events = list(respond(stream=True))
    assert sim.requests(path=RESPONSES) == 1
    assert replayed.output_text == response.output_text
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == response.output_text

    @cost_aware(cache=cache)
    def chat_helper() -> Any:
        with openai_client.chat.completions.stream(model="gpt-4o-mini", messages=messages) as stream:
            return stream.get_final_completion()

    assert chat_helper().choices[0].message.content == first.choices[0].message.content
    assert sim.requests(path=CHAT) == 1


def test_requests_that_should_not_be_cached_are_not_unless_allowed(
    openai_client: Any, telemetry: Any, sim: Any
) -> None:
    strict = costaware.ResponseCache()
    loose = costaware.ResponseCache(allow=["n>1", "temperature"])

    def call(cache: Any, **extra: Any) -> Any:
        @cost_aware(cache=cache)
        def run() -> Any:
            return openai_client.chat.completions.create(
                model="gpt-4o-mini", messages=user("Pick a name."), **extra
            )

        return run()

    for extra in ({"temperature": 1.2}, {"n": 3}):
        call(strict, **extra)
        call(strict, **extra)
        assert telemetry.call_spans()[-1].attributes["costaware.response_cache.result"] == "skipped"
    assert sim.requests(path=CHAT) == 4
    call(loose, n=3)
    again = call(loose, n=3)
    assert sim.requests(path=CHAT) == 5
    assert len(again.choices) == 3


def test_a_hit_is_served_under_an_exhausted_budget_and_reserves_nothing(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def fill() -> Any:
        return ask(anthropic_client, "Where is my order?")

    @cost_aware(cache=cache, budget=0)
    def broke() -> Any:
        return ask(anthropic_client, "Where is my order?")

    first = fill()
    assert broke().content[0].text == first.content[0].text
    with pytest.raises(costaware.BudgetExceededError), costaware.scope("other", budget=0):
        ask(anthropic_client, "Something never asked before")
    assert sim.requests(path=MESSAGES) == 1


def test_an_unreachable_store_is_a_miss_with_one_warning(
    anthropic_client: Any, telemetry: Any, sim: Any, caplog: Any
) -> None:
    from helpers import start_redis_server

    server, url = start_redis_server()
    cache = costaware.ResponseCache(store=url + "?timeout=0.1")
    server.terminate()
    server.wait()

    @cost_aware(cache=cache)
    def faq() -> Any:
        return ask(anthropic_client, "Do you ship abroad?")

    with caplog.at_level(logging.WARNING, logger="costaware"):
        started = time.perf_counter()
        answers = [faq() for _ in range(3)]
        elapsed = time.perf_counter() - started
    assert all(a.content[0].text == answers[0].content[0].text for a in answers)
    assert sim.requests(path=MESSAGES) == 3
    assert elapsed < 1.5  # one timeout, then the store is skipped for a while
    warnings = [r for r in caplog.records if "response cache store" in r.getMessage()]
    assert len(warnings) == 1
    assert telemetry.call_spans()[0].attributes["costaware.response_cache.result"] == "error"


def test_a_corrupt_entry_is_a_miss(anthropic_client: Any, telemetry: Any, sim: Any) -> None:
    from costaware.stores.responses import Entry

    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def faq() -> Any:
        return ask(anthropic_client, "Is there a student discount?")

    faq()
    key = telemetry.call_spans()[0].attributes["costaware.response_cache.key"]
    entry = cache.store.get(key)
    assert entry is not None
    cache.store.put(Entry(**{**{f: getattr(entry, f) for f in entry.__slots__}, "payload": b"{not json"}))
    faq()
    assert sim.requests(path=MESSAGES) == 2
    assert telemetry.call_spans()[1].attributes["costaware.response_cache.result"] == "miss"


def test_ttl_and_invalidation(anthropic_client: Any, telemetry: Any, sim: Any) -> None:
    cache = costaware.ResponseCache(ttl=0.3, namespace=lambda team, **_: team)

    @cost_aware(cache=cache)
    def faq(team: str) -> Any:
        return ask(anthropic_client, "What is the on-call rota?")

    faq("red")
    faq("red")
    assert sim.requests(path=MESSAGES) == 1
    time.sleep(0.35)
    faq("red")
    assert sim.requests(path=MESSAGES) == 2
    faq("blue")
    assert cache.invalidate(namespace="red") == 1
    faq("red")
    faq("blue")
    assert sim.requests(path=MESSAGES) == 4


def test_configure_turns_the_cache_on_for_every_call(anthropic_client: Any, telemetry: Any, sim: Any) -> None:
    costaware.configure(response_cache=costaware.ResponseCache())
    ask(anthropic_client, "Global question?")
    ask(anthropic_client, "Global question?")
    assert sim.requests(path=MESSAGES) == 1
    with pytest.raises(costaware.ConfigurationError):
        costaware.configure(response_cache="yes")


def test_bad_settings_are_refused_at_construction() -> None:
    for bad in (
        {"ttl": "soon"},
        {"ttl": -1},
        {"max_entries": 0},
        {"allow": ["everything"]},
        {"store": "ftp://x"},
        {"namespace": 3},
        {"strictness": "high"},
        {"embedder": 42, "semantic": True},
    ):
        with pytest.raises(costaware.ConfigurationError):
            costaware.ResponseCache(**bad)


async def test_async_hits_streams_and_helpers(async_anthropic_client: Any, telemetry: Any, sim: Any) -> None:
    cache = costaware.ResponseCache(semantic=True)

    @cost_aware(cache=cache)
    async def faq(question: str, stream: bool = False) -> Any:
        reply = await async_anthropic_client.messages.create(
            model=HAIKU, max_tokens=100, messages=user(question), stream=stream
        )
        if stream:
            return [event async for event in reply]
        return reply

    @cost_aware(cache=cache)
    async def helper(question: str) -> Any:
        async with async_anthropic_client.messages.stream(
            model=HAIKU, max_tokens=100, messages=user(question)
        ) as s:
            return await s.get_final_message()

    first = await faq("How do I change my billing address?")
    results = await asyncio.gather(*(faq("How do I change my billing address?") for _ in range(5)))
    events = await faq("How do I change my billing address?", stream=True)
    final = await helper("How can I change my billing address?")
    assert sim.requests(path=MESSAGES) == 1
    assert all(r.content[0].text == first.content[0].text for r in results)
    assert events[-1].type == "message_stop"
    assert final.content[0].text == first.content[0].text


def test_redis_store_is_shared_between_caches(
    anthropic_client: Any, telemetry: Any, sim: Any, redis_url: Any
) -> None:
    url = f"{redis_url}?prefix=costaware:rc:test-{time.time_ns()}"
    first, second = (
        costaware.ResponseCache(store=url, semantic=True),
        costaware.ResponseCache(store=url, semantic=True),
    )

    @cost_aware(cache=first)
    def one() -> Any:
        return ask(anthropic_client, "How long does delivery take?")

    @cost_aware(cache=second)
    def two() -> Any:
        return ask(anthropic_client, "How long does the delivery take?")

    answer = one()
    assert two().content[0].text == answer.content[0].text
    assert sim.requests(path=MESSAGES) == 1


def test_the_hit_costs_nothing_in_scopes_and_the_span_is_a_real_call_span(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def faq() -> Any:
        return ask(anthropic_client, "What's your phone number?")

    first = faq()
    paid = costaware.last_scope().tracker.total_cost
    assert paid == anthropic_cost(HAIKU, first.usage) > Decimal(0)
    faq()
    assert costaware.last_scope().tracker.total_cost == 0
    assert costaware.last_scope().tracker.calls == 1
    span = telemetry.call_spans()[1]
    assert span.attributes["gen_ai.response.model"] == first.model
    assert span.attributes["gen_ai.usage.input_tokens"] == 0


def test_loading_the_local_embedder_leaves_the_applications_logging_alone() -> None:
    """wordllama calls logging.basicConfig(level=INFO) when imported: an application without its own
    logging setup would start printing every SDK request."""
    import subprocess
    import sys

    script = (
        "import logging, costaware\n"
        "cache = costaware.ResponseCache(semantic=True)\n"
        "cache.embedder.warm()\n"
        "root = logging.getLogger()\n"
        "print(len(root.handlers), root.level)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["0", str(logging.WARNING)]


def test_threads_share_one_cache_without_mixing_answers(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = costaware.ResponseCache(semantic=True, namespace=lambda tenant, **_: tenant)

    @cost_aware(cache=cache)
    def faq(question: str, tenant: str) -> str:
        return str(ask(anthropic_client, f"{question} (for {tenant})").content[0].text)

    questions = [f"What is the status of ticket {n}?" for n in range(6)]
    jobs = [(q, t) for q in questions for t in ("acme", "globex")] * 4
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: faq(*job), jobs))
    expected = {}
    for (question, tenant), answer in zip(jobs, answers, strict=True):
        assert expected.setdefault((question, tenant), answer) == answer
    assert len(set(expected.values())) == len(expected)  # the simulator answers each prompt differently
    assert 12 <= sim.requests(path=MESSAGES) < len(jobs)  # racing first askers may each go through


def test_raw_responses_and_structured_outputs_are_answered_from_the_cache(
    anthropic_client: Any, openai_client: Any, telemetry: Any, sim: Any
) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: str

    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def raw() -> Any:
        return anthropic_client.messages.with_raw_response.create(
            model=HAIKU, max_tokens=100, messages=user("Raw hours?")
        )

    @cost_aware(cache=cache)
    def parsed() -> Any:
        return openai_client.chat.completions.parse(
            model="gpt-4o-mini",
            messages=user("Reply in JSON: what is our name?"),
            response_format=Answer,
            extra_headers={"x-sim-difficulty": "0.1"},  # a judged request: the simulator answers in JSON
        )

    first, again = raw(), raw()
    assert sim.requests(path=MESSAGES) == 1
    assert again.headers.get("x-costaware-cache") == "hit"
    assert again.parse().content[0].text == first.parse().content[0].text
    one, two = parsed(), parsed()
    assert sim.requests(path=CHAT) == 1
    assert type(two.choices[0].message.parsed) is Answer
    assert two.choices[0].message.parsed == one.choices[0].message.parsed


async def test_async_calls_use_a_shared_store_off_the_event_loop(
    async_anthropic_client: Any, telemetry: Any, sim: Any, redis_url: Any
) -> None:
    cache = costaware.ResponseCache(store=f"{redis_url}?prefix=costaware:rc:async-{time.time_ns()}")
    assert not cache.local

    @cost_aware(cache=cache)
    async def faq() -> Any:
        return await async_anthropic_client.messages.create(
            model=HAIKU, max_tokens=100, messages=user("Do you have a loyalty programme?")
        )

    first = await faq()
    key = telemetry.call_spans()[0].attributes["costaware.response_cache.key"]
    for _ in range(100):  # the answer is written by a worker thread after the call returned
        if cache.store.get(key) is not None:
            break
        await asyncio.sleep(0.02)
    again = await faq()
    assert again.content[0].text == first.content[0].text
    assert sim.requests(path=MESSAGES) == 1


def test_the_responses_stream_helper_and_async_openai_replay_from_the_cache(
    openai_client: Any, async_openai_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def plain() -> Any:
        return openai_client.responses.create(model="gpt-4o-mini", input="List our support hours.")

    @cost_aware(cache=cache)
    def helper() -> tuple[list[str], Any]:
        with openai_client.responses.stream(model="gpt-4o-mini", input="List our support hours.") as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_response()

    @cost_aware(cache=cache)
    async def async_chat() -> Any:
        stream = await async_openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=user("List our support hours."), stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    original = plain()
    kinds, final = helper()
    assert sim.requests(path=RESPONSES) == 1
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.done" in kinds
    assert final.output_text == original.output_text
    assert final.usage.input_tokens == final.usage.output_tokens == 0

    first = asyncio.run(async_chat())
    again = asyncio.run(async_chat())
    assert again == first
    assert sim.requests(path=CHAT) == 1


def test_a_hit_costs_zero_even_when_the_stored_answer_has_no_usage(
    openai_client: Any, telemetry: Any, sim: Any
) -> None:
    """A chat stream without include_usage carries no usage; its answer replayed is still a $0 call,
    never an unpriced one."""
    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def chat(stream: bool) -> Any:
        reply = openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=user("Which plan includes phone support?"), stream=stream
        )
        return "".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream else reply

    streamed = chat(True)
    again = chat(False)
    assert again.choices[0].message.content == streamed
    assert sim.requests(path=CHAT) == 1
    hit = telemetry.call_spans()[1].attributes
    assert hit["costaware.response_cache.result"] == "exact_hit"
    assert hit["costaware.cost.unpriced"] is False and hit["costaware.cost.usd"] == 0.0


def test_streaming_raw_responses_are_answered_from_the_cache(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def streamed_raw() -> str:
        with anthropic_client.messages.with_streaming_response.create(
            model=HAIKU, max_tokens=100, messages=user("Where are you based?")
        ) as response:
            return str(response.parse().content[0].text)

    first, again = streamed_raw(), streamed_raw()
    assert again == first
    assert sim.requests(path=MESSAGES) == 1
    assert telemetry.call_spans()[1].attributes["costaware.response_cache.result"] == "exact_hit"


def test_the_environment_turns_the_cache_on_for_import_costaware_auto(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    from costaware.config import settings_from_env

    found = settings_from_env(
        {
            "COSTAWARE_RESPONSE_CACHE": "semantic",
            "COSTAWARE_RESPONSE_CACHE_TTL": "90",
            "COSTAWARE_RESPONSE_CACHE_STRICTNESS": "0.5",
        }
    )
    assert found["response_cache"] == {"semantic": True, "ttl": 90.0, "strictness": 0.5}
    costaware.configure(**found)
    ask(anthropic_client, "Is there a free trial?")
    ask(anthropic_client, "Is there a free trial?")
    assert sim.requests(path=MESSAGES) == 1
    for bad in (
        {"COSTAWARE_RESPONSE_CACHE": "maybe"},
        {"COSTAWARE_RESPONSE_CACHE_TTL": "1h"},  # without COSTAWARE_RESPONSE_CACHE: a forgotten switch
        {"COSTAWARE_RESPONSE_CACHE": "exact", "COSTAWARE_RESPONSE_CACHE_STRICTNESS": "high"},
    ):
        with pytest.raises(costaware.ConfigurationError):
            settings_from_env(bad)
    assert "response_cache" not in settings_from_env({"COSTAWARE_RESPONSE_CACHE": "off"})


def test_a_forked_child_writes_answers_in_the_background_too(redis_url: Any) -> None:
    """The background writer (async calls, shared stores) is a thread: a forked child makes its own."""
    import multiprocessing
    from decimal import Decimal as D

    from costaware.steps import response_cache

    cache = costaware.ResponseCache(store=f"{redis_url}?prefix=costaware:rc:fork-{time.time_ns()}")
    response_cache.store_later(  # starts the parent's writer thread
        response_cache.Plan(cache, "parent", "p", "", "q"), {"id": "parent"}, D("0.001")
    )

    def child() -> None:
        response_cache.store_later(response_cache.Plan(cache, "child", "p", "", "q"), {"id": "child"}, None)
        for _ in range(100):
            if cache.store.get("child") is not None:
                return
            time.sleep(0.02)
        raise SystemExit(3)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(10)
    assert process.exitcode == 0


def test_a_replay_that_fails_falls_back_to_the_provider_priced_charged_and_stored(
    anthropic_client: Any, async_anthropic_client: Any, telemetry: Any, sim: Any, monkeypatch: Any
) -> None:
    """Outside pytest an internal error is logged and the call goes on: when the cached answer cannot
    be served, the provider answers, and that call is a miss: priced, charged, stored."""
    from costaware.steps import response_cache

    costaware.configure(raise_internal_errors=False)
    cache = costaware.ResponseCache()
    budget = costaware.Budget(1, key=f"fallback-{time.time_ns()}")

    @cost_aware(cache=cache, budget=budget)
    def faq() -> Any:
        return ask(anthropic_client, "Can I pay by invoice?")

    @cost_aware(cache=cache)
    async def helper() -> Any:
        async with async_anthropic_client.messages.stream(
            model=HAIKU, max_tokens=100, messages=user("Can I pay by invoice?")
        ) as stream:
            return await stream.get_final_message()

    first = faq()

    def broken(http: Any, request: Any) -> Any:
        raise RuntimeError("replay transport broken")

    monkeypatch.setattr(response_cache, "serve", broken)
    again = faq()
    assert sim.requests(path=MESSAGES) == 2
    assert again.content[0].text == first.content[0].text
    span = telemetry.call_spans()[1].attributes
    assert span["costaware.response_cache.result"] == "error"
    assert span["costaware.cost.source"] == "genai-prices" and span["costaware.cost.usd"] > 0
    assert costaware.last_scope().tracker.total_cost == anthropic_cost(HAIKU, again.usage)
    status = costaware.budget_status(budget)
    assert status.reserved == 0 and status.spent == 2 * anthropic_cost(HAIKU, first.usage)

    final = asyncio.run(helper())  # the async stream helper falls back too, with a fresh request
    assert final.content[0].text == first.content[0].text
    assert sim.requests(path=MESSAGES) == 3


def test_a_replay_that_fails_before_sending_leaves_no_request_behind(
    anthropic_client: Any, async_anthropic_client: Any, telemetry: Any, sim: Any, monkeypatch: Any
) -> None:
    """A cached answer that cannot even be prepared for replay (an internal error, logged): the
    stream helpers, sync and async, fall back to the provider with a fresh request, and the request
    the async helper's manager prepared at ``stream()`` time is closed, never left un-awaited."""
    from costaware.pipeline.call import Call

    costaware.configure(raise_internal_errors=False)
    cache = costaware.ResponseCache()
    question = user("Do you ship to Norway?")

    @cost_aware(cache=cache)
    def sync_helper() -> Any:
        with anthropic_client.messages.stream(model=HAIKU, max_tokens=100, messages=question) as stream:
            return stream.get_final_message()

    managers: list[Any] = []

    @cost_aware(cache=cache)
    async def async_helper() -> Any:
        manager = async_anthropic_client.messages.stream(model=HAIKU, max_tokens=100, messages=question)
        managers.append(manager)
        async with manager as stream:
            return await stream.get_final_message()

    first = sync_helper()

    def broken(self: Any, hit: Any, kwargs: Any) -> Any:
        raise RuntimeError("cannot build the replay")

    monkeypatch.setattr(Call, "_replay_body", broken)
    assert sync_helper().content[0].text == first.content[0].text
    assert sim.requests(path=MESSAGES) == 2
    assert asyncio.run(async_helper()).content[0].text == first.content[0].text
    assert sim.requests(path=MESSAGES) == 3
    assert not unawaited_requests(managers[0])  # the caller's manager was not the one sent: closed
    results = [s.attributes["costaware.response_cache.result"] for s in telemetry.call_spans()]
    assert results == ["miss", "error", "error"]


def test_answers_never_cross_servers_or_answer_changing_headers(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    import anthropic

    from costaware.sim import Simulator

    cache = costaware.ResponseCache()

    @cost_aware(cache=cache)
    def faq(client: Any, **extra: Any) -> Any:
        return ask(client, "What is the warranty period?", **extra)

    with Simulator() as other:
        elsewhere = anthropic.Anthropic(base_url=other.anthropic_base_url, api_key="test-key", max_retries=0)
        faq(anthropic_client)
        faq(elsewhere)
        assert (sim.requests(path=MESSAGES), other.requests(path=MESSAGES)) == (1, 1)
    faq(anthropic_client, extra_headers={"anthropic-beta": "some-feature-2026-01-01"})
    assert sim.requests(path=MESSAGES) == 2
    raw = anthropic_client.messages.with_raw_response  # the SDK's own bookkeeping headers do not key

    @cost_aware(cache=cache)
    def faq_raw() -> Any:
        return raw.create(model=HAIKU, max_tokens=100, messages=user("What is the warranty period?")).parse()

    faq_raw()
    assert sim.requests(path=MESSAGES) == 2


def test_a_namespace_function_without_a_tenant_means_no_cache_and_no_warning(
    anthropic_client: Any, telemetry: Any, sim: Any, caplog: Any
) -> None:
    cache = costaware.ResponseCache(namespace=lambda user=None, **_: user)

    @cost_aware(cache=cache)
    def faq(user: str | None = None) -> Any:
        return ask(anthropic_client, "What are the opening hours on Sunday?")

    with caplog.at_level(logging.WARNING, logger="costaware"):
        for _ in range(3):
            faq()
    assert sim.requests(path=MESSAGES) == 3  # never answered from (nor stored in) a shared namespace
    assert telemetry.call_spans()[0].attributes["costaware.response_cache.skipped"] == "no_namespace"
    assert not [r for r in caplog.records if "namespace" in r.getMessage()]  # documented, not a failure
    faq("ann")
    faq("ann")
    assert sim.requests(path=MESSAGES) == 4


def test_a_namespace_function_that_raises_means_no_cache_and_one_warning(
    anthropic_client: Any, telemetry: Any, sim: Any, caplog: Any
) -> None:
    def namespace(user: str | None = None, **_: Any) -> str:
        raise KeyError(user)

    @cost_aware(cache=costaware.ResponseCache(namespace=namespace))
    def faq(user: str | None = None) -> Any:
        return ask(anthropic_client, "What are the opening hours on Sunday?")

    with caplog.at_level(logging.WARNING, logger="costaware"):
        faq("ann")
        faq("ann")
    assert sim.requests(path=MESSAGES) == 2
    assert telemetry.call_spans()[0].attributes["costaware.response_cache.skipped"] == "namespace_error"
    assert len([r for r in caplog.records if "namespace function failed" in r.getMessage()]) == 1


def test_spans_name_the_checks_that_turned_a_candidate_down_not_the_prompt_words(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    cache = costaware.ResponseCache(semantic=True)

    faq = asker(cache, anthropic_client)

    faq("Can I get a refund after 30 days?")
    faq("Can I get a refund after 60 days?")
    rejected = telemetry.call_spans()[1].attributes["costaware.response_cache.rejected"]
    assert list(rejected) == ["numbers differ"]


def test_cache_false_turns_an_enclosing_or_configured_response_cache_off(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    costaware.configure(response_cache=costaware.ResponseCache())

    @cost_aware(cache=False)
    def never_cached() -> Any:
        return ask(anthropic_client, "What time is it in Tokyo?")

    never_cached()
    never_cached()
    assert sim.requests(path=MESSAGES) == 2
    assert "costaware.response_cache.result" not in telemetry.call_spans()[1].attributes


def test_a_namespace_function_is_refused_where_there_are_no_arguments() -> None:
    per_tenant = costaware.ResponseCache(namespace=lambda tenant, **_: tenant)
    with pytest.raises(costaware.ConfigurationError, match="namespace"):
        costaware.scope("batch", cache=per_tenant)
    with pytest.raises(costaware.ConfigurationError, match="namespace"):
        costaware.configure(response_cache=per_tenant)


def test_answers_waiting_for_a_slow_shared_store_are_bounded(monkeypatch: Any, caplog: Any) -> None:
    from costaware.steps import response_cache
    from costaware.stores.response_memory import MemoryResponseStore

    class SlowStore(MemoryResponseStore):
        """A store whose writes wait until released (a shared store slower than the calls)."""

        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        def put(self, entry: Any) -> None:
            self.release.wait(10)
            super().put(entry)

    import threading

    store = SlowStore()
    cache = costaware.ResponseCache(store=store)
    monkeypatch.setattr(response_cache, "MAX_PENDING_WRITES", 2)
    with caplog.at_level(logging.WARNING, logger="costaware"):
        for n in range(5):
            response_cache.store_later(response_cache.Plan(cache, f"k{n}", "p", "", "q"), {"id": n}, None)
    store.release.set()
    for _ in range(100):
        if store.get("k1") is not None:
            break
        time.sleep(0.02)
    assert [store.get(f"k{n}") is not None for n in range(5)] == [True, True, False, False, False]
    assert len([r for r in caplog.records if "slower than the calls" in r.getMessage()]) == 1


def test_a_cascade_does_not_check_an_answer_from_the_cache(
    anthropic_client: Any, telemetry: Any, sim: Any
) -> None:
    """A cascade's accepted answer is stored; asked again, the stored answer is returned as is: no
    check runs on it and nothing escalates, even if the checks would now reject it."""
    from costaware.core.routing import Cascade

    verdicts: list[bool] = []
    accept_next = [True]

    def accept(text: str) -> bool:
        verdicts.append(accept_next[0])
        return accept_next[0]

    cache = costaware.ResponseCache()

    @cost_aware(cache=cache, route=Cascade(models=[HAIKU, SONNET], accept=accept, checks=()))
    def faq() -> Any:
        return ask(anthropic_client, "What are your opening hours?", model=SONNET)

    first = faq()
    assert first.model == HAIKU and verdicts == [True]
    accept_next[0] = False  # a check that would now reject Haiku's answer
    again = faq()
    assert again.model == HAIKU and again.content[0].text == first.content[0].text
    assert verdicts == [True] and sim.requests(path=MESSAGES) == 1
    span = telemetry.call_spans()[-1].attributes
    assert span["costaware.response_cache.result"] == "exact_hit"
    assert "costaware.cascade.escalations" not in span
