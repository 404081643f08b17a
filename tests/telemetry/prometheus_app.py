"""An application under costaware whose metrics a real Prometheus scrapes (tests/telemetry/test_prometheus.py).

``python prometheus_app.py PORT ANTHROPIC_URL OPENAI_URL STORE_PATH``: serves /metrics on PORT, runs a
first workload, prints ``ready``; then for each line read from stdin runs the second workload (more
refusals, retries, a budget store failure) and prints ``done <refusals so far>``. Both workloads use the
response cache: exact and semantic hits, a paraphrase check's rejection, an eviction, a skipped request
and a failing store.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from typing import Any

import anthropic
import openai

import costaware
from costaware import Budget, BudgetExceededError, Cascade, ResponseCache, cost_aware
from costaware.stores.response_memory import MemoryResponseStore

port, anthropic_url, openai_url, store_path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
costaware.configure(prometheus_port=int(port), raise_internal_errors=True)
costaware.instrument()
claude = anthropic.Anthropic(base_url=anthropic_url, api_key="k", max_retries=0)
gpt = openai.OpenAI(base_url=openai_url, api_key="k", max_retries=0)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
HARD = [{"role": "user", "content": "Prove that there are infinitely many primes, step by step."}]
shared = Budget(1, period="day", key="support", store=f"sqlite:///{store_path}?timeout=100ms&retry_after=1s")
refusals = 0


@cost_aware(budget=0.01, feature="faq")
def faq() -> Any:
    return claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=QUESTION)


@cost_aware(budget=0.000001, feature="too-small")
def refused() -> Any:
    return claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=QUESTION)


@cost_aware(budget=shared, route="auto", retries=2, feature="support", tenant="acme")
def support(messages: Any) -> Any:
    return claude.messages.create(model="claude-opus-4-6", max_tokens=200, messages=messages)


@cost_aware(route=Cascade(models=["gpt-4.1-mini", "gpt-4.1"]), feature="cascade")
def cascaded() -> Any:
    # The simulator refuses on the cheap model: the cascade escalates.
    return gpt.chat.completions.create(
        model="gpt-4.1-mini",
        messages=HARD,
        max_completion_tokens=100,
        extra_headers={"x-sim-difficulty": "0.5", "x-sim-answer-tokens": "50"},
    )


class UnreachableStore(MemoryResponseStore):
    """A response store that is down: every lookup is an ``error`` (a miss for the caller)."""

    def get(self, key: str) -> Any:
        raise ConnectionError("the response store is unreachable")


# One entry: the third distinct question evicts the first. Sonnet, so that cached calls stay out of
# the test's count of Haiku calls.
answers = ResponseCache(max_entries=1)
paraphrases = ResponseCache(semantic=True)
broken = ResponseCache(store=UnreachableStore())


def _ask(question: str) -> Any:
    return claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": question}]
    )


@cost_aware(cache=answers, feature="answers")
def answered(question: str) -> Any:
    return _ask(question)


@cost_aware(cache=answers, feature="answers")
def hot() -> Any:
    # A temperature above the cache's max_temperature: not cached (skipped).
    return gpt.chat.completions.create(model="gpt-4.1", messages=QUESTION, temperature=1.2)


@cost_aware(cache=paraphrases, feature="paraphrases")
def paraphrased(question: str) -> Any:
    return _ask(question)


@cost_aware(cache=broken, feature="broken-cache")
def uncached(question: str) -> Any:
    return _ask(question)


def cached_workload() -> None:
    """Every result of a lookup, a rejection and an eviction, the same series in every pass."""
    answered("What is the capital of France?")
    answered("What is the capital of France?")  # an exact hit
    answered("What is the capital of Spain?")  # evicts France (one entry)
    hot()  # skipped
    paraphrased("How do I reset my password?")
    paraphrased("How can I reset my password?")  # a semantic hit
    paraphrased("Can I get a refund after 30 days?")
    paraphrased("Can I get a refund after 60 days?")  # first pass: rejected (numbers differ)
    uncached("Do you ship abroad?")  # the store fails: an error


def workload(invocations: int) -> None:
    global refusals
    for _ in range(invocations):
        faq()
        try:
            refused()
        except BudgetExceededError:
            refusals += 1
    support(QUESTION)
    support(HARD)
    with costaware.scope(retries=2):  # a transient failure, retried
        claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=20,
            messages=QUESTION,
            extra_headers={"x-sim-fault": f"status=503;times=1;key=pass-{refusals}"},
        )
    stream = claude.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=QUESTION, stream=True)
    list(stream)
    gpt.chat.completions.create(model="gpt-4.1", messages=QUESTION)
    gpt.responses.create(model="gpt-4.1-mini", input="Say hi")
    gpt.embeddings.create(model="text-embedding-3-small", input="hello")
    claude.messages.create(model="claude-imaginary-9", max_tokens=20, messages=QUESTION)  # unpriced
    with contextlib.suppress(anthropic.BadRequestError):  # an error the dashboards count
        claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=20,
            messages=QUESTION,
            extra_headers={"x-sim-fault": f"status=400;times=1;key=bad-{refusals}"},
        )
    cascaded()
    cached_workload()


def store_outage() -> None:
    """The shared budget's database is held by another connection: its store fails (open)."""
    holder = sqlite3.connect(store_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        support(QUESTION)
    finally:
        holder.execute("COMMIT")
        holder.close()


workload(500)
print("ready", flush=True)
for _line in sys.stdin:
    workload(500)
    store_outage()
    print(f"done {refusals}", flush=True)
