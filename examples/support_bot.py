"""A support bot with a daily budget, narrow retries, routing and prompt caching, against the local
simulator (nothing is spent):

    python examples/support_bot.py

It answers a few questions over one long policy, shows what each call cost and which model answered,
and what the budget has left; then it shows a call the budget refuses before sending anything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anthropic

import costaware
from costaware import Budget, BudgetExceededError, cost_aware
from costaware.sim import Simulator

POLICY = "You are the support agent of Northwind. Policy: " + "Refunds within 30 days of delivery. " * 700

with tempfile.TemporaryDirectory() as folder, Simulator() as sim:
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="example")
    daily = Budget(
        limit=1.00, period="day", key="support-bot", store=f"sqlite:///{Path(folder) / 'spend.db'}"
    )

    @cost_aware(budget=daily, retries=3, route="auto", feature="support", tenant="acme")
    def answer(question: str) -> str:
        message = client.messages.create(
            model="claude-sonnet-4-6",  # the model the code asks for; routing may pick a cheaper tier
            max_tokens=300,
            system=POLICY,
            messages=[{"role": "user", "content": question}],
        )
        return message.content[0].text

    for question in ("Where is my order?", "Can I return opened headphones?", "Do you ship to Norway?"):
        answer(question)
        record = costaware.last_scope().tracker.records[-1]
        print(
            f"{question:<36} {record.model:<20} ${record.cost.total}  "
            f"(cache read {record.usage.cache_read_tokens} tokens)"
        )

    status = costaware.budget_status(daily)
    print(f"budget {status.key!r} ({status.window}): spent ${status.spent}, ${status.remaining} left")

    @cost_aware(budget=0.0001)  # far too little for Opus with a long answer
    def expensive() -> str:
        return (
            client.messages.create(
                model="claude-opus-4-6",
                max_tokens=4000,
                messages=[{"role": "user", "content": "Write an essay."}],
            )
            .content[0]
            .text
        )

    try:
        expensive()
    except BudgetExceededError as refusal:
        print(f"refused before sending: needed up to ${refusal.needed:.6f}, limit ${refusal.limit}")
    print(f"requests that reached the simulator: {sim.requests()}")
