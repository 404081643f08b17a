#!/usr/bin/env python
"""What costaware saves on real prompts, and what it costs in answer quality, against the label oracle.

One command, from the repository root, with the labelled prompts beside the checkout
(``../shared/routing-dev``, read at run time and never copied into this repository)::

    .venv/bin/python bench/savings.py        # ~50 s; writes bench/results/savings.json

Method, workload and figures: ``bench/savings.md``.

Workload. Every prompt is a real one from ``routing-dev`` (``hard.jsonl`` / ``easy.jsonl``, labelled by
their sources, not by this project). Kinds, each drawn deterministically (seed :data:`SEED`):

* ``single``: one real prompt, one turn;
* ``support``: a short real easy prompt (<= :data:`SUPPORT_CHARS` characters) asked of a support bot
  whose system prompt is this project's own documentation (:data:`KNOWLEDGE`, read at run time);
* ``two_turn``: two real prompts of the same label, one conversation (the follow-up has that label);
* ``long_doc``: a real easy summarisation, extraction or reading question with a long slice of the
  same documentation pasted before it (label easy);
* ``repeat``: a one-turn request of the mix sent again 10-900 s later (prompt caching makes it cheap).

A quarter of the conversations go to OpenAI. Every request asks for the large tier
(``claude-opus-4-6`` / ``o3``): what an application sends when nobody routes it.

Quality. The label alone fixes the simulator's ``x-sim-difficulty`` (:data:`DIFFICULTY`), drawn
uniformly in its band per request before any run, never from the text or a classifier: easy in
[0.10, 0.25], which every tier answers well; hard in [0.40, 0.55], which the mid and large tiers
answer well and the small tier never does (``costaware.sim.quality``: small meets the bar for
d <= 0.25 and never above 0.35, mid for d <= 0.55). An answer fails the bar exactly when a hard
request is answered by a small model; the verdicts are the simulator's (``quality_log``).

Runs, per mix: bare calls (no decorator), ``@cost_aware()`` (prompt caching only), the label oracle
(a callable policy: hard to ``medium``, easy to ``small``, reading the label from the scope's feature
name), ``route="auto"``, ``Cascade(max_hops=2)`` and ``route=AutoClassifier(quality=q)`` for every q
of :data:`QUALITIES`. The same application code runs in every configuration; the simulator is reset
between runs. Costs are the exact ``costaware.cost.usd_exact`` of every call span (cross-checked with
the scope's tracker when there is one).
"""

from __future__ import annotations

import os

os.environ.setdefault("ANTHROPIC_OPEN_TELEMETRY", "false")  # one span per call: costaware's

import argparse
import datetime
import hashlib
import json
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = ROOT.parent / "shared" / "routing-dev"
OUTPUT = BENCH / "results" / "savings.json"
SEED = 20261201
HOUR = 3600.0

KNOWLEDGE = ("README.md", "grafana/README.md", "examples/quickstart.py", "examples/support_bot.py")
"""The support bot's system prompt, in this order (read at run time). ``bench/*.md`` is left out on
purpose: this benchmark writes its figures there, which would change its own workload."""
SUPPORT_CHARS = 300
DOC_CATEGORIES = frozenset({"summarization", "information_extraction", "closed_qa"})
DOC_CHARS = (8_000, 20_000)
DIFFICULTY = {"easy": (0.10, 0.25), "hard": (0.40, 0.55)}
ANSWER_TOKENS = {"easy": (40, 250), "hard": (300, 1200)}
MAX_TOKENS = 4096
REQUESTED = {"anthropic": "claude-opus-4-6", "openai": "o3"}
OPENAI_SHARE = 0.25
QUALITIES = (0.3, 0.4, 0.5, 0.56, 0.6, 0.7, 0.8)
TARGET_BAR, TARGET_COST = 0.95, 0.10

MIXES: dict[str, dict[str, int]] = {  # conversations per kind, fixed before any run
    "support-heavy": {
        "long_doc.easy": 10, "support.easy": 200, "single.easy": 30, "single.hard": 30,
        "two_turn.easy": 5, "two_turn.hard": 5, "repeat": 30,
    },
    "mixed": {
        "long_doc.easy": 30, "support.easy": 60, "single.easy": 150, "single.hard": 200,
        "two_turn.easy": 25, "two_turn.hard": 30, "repeat": 40,
    },
}  # fmt: skip

# ============================================================================ workload =======


@dataclass(frozen=True)
class Turn:
    """One request: a user message at a time (seconds into the simulated hour)."""

    text: str
    difficulty: float
    answer_tokens: int
    at: float


@dataclass
class Conversation:
    """A thread of requests sharing one history (a single-shot request is a one-turn conversation)."""

    id: int
    kind: str
    label: str
    provider: str
    system: str | None
    turns: list[Turn]
    sources: tuple[str, ...]

    @property
    def model(self) -> str:
        return REQUESTED[self.provider]

    @property
    def feature(self) -> str:
        """The scope's feature name: ``kind.label`` (the oracle reads the label from it)."""
        return f"{self.kind}.{self.label}"


def load_prompts(folder: Path = DATA) -> dict[str, list[dict[str, str]]]:
    """``{"hard": rows, "easy": rows}`` from ``routing-dev``; exits with a message if it is missing."""
    rows: dict[str, list[dict[str, str]]] = {}
    for label in ("hard", "easy"):
        path = folder / f"{label}.jsonl"
        if not path.is_file():
            raise SystemExit(
                f"bench/savings.py: {path} not found. The benchmark reads the labelled real prompts of "
                "routing-dev at run time: put the shared folder beside the checkout "
                "(../shared/routing-dev, with hard.jsonl and easy.jsonl) and run it again."
            )
        with path.open(encoding="utf-8") as lines:
            rows[label] = [json.loads(line) for line in lines if line.strip()]
        if {row["label"] for row in rows[label]} != {label}:
            raise SystemExit(f"bench/savings.py: {path} holds rows not labelled {label!r}")
    return rows


SUPPORT_INTRO = (
    "You are the support assistant of costaware, a Python SDK that tracks, budgets and cuts the cost of "
    "Claude and OpenAI calls. Answer the user's question briefly, using the documentation below when it "
    "is relevant.\n\n"
)


def documentation() -> str:
    """This project's own documentation (:data:`KNOWLEDGE`), read now."""
    parts = [f"# File: {name}\n\n{(ROOT / name).read_text(encoding='utf-8').strip()}" for name in KNOWLEDGE]
    return "\n\n".join(parts)


def document(rng: random.Random, text: str) -> str:
    """A contiguous slice of ``text``, whole paragraphs, :data:`DOC_CHARS` long."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    target = rng.randrange(*DOC_CHARS)
    start = rng.randrange(len(paragraphs))
    picked: list[str] = []
    while sum(map(len, picked)) < target:
        picked.append(paragraphs[(start + len(picked)) % len(paragraphs)])
    return "\n\n".join(picked)


class _Pool:
    """The mix's real prompts, shuffled once; each is drawn at most once per mix."""

    def __init__(self, prompts: dict[str, list[dict[str, str]]], rng: random.Random) -> None:
        self.rows = {label: rng.sample(rows, len(rows)) for label, rows in prompts.items()}
        self.used: set[str] = set()

    def draw(
        self, label: str, count: int, fits: Callable[[dict[str, str]], bool] = lambda row: True
    ) -> list[dict[str, str]]:
        """``count`` unused rows that fit, one of each source first (so every source is represented)."""
        free = [row for row in self.rows[label] if row["id"] not in self.used and fits(row)]
        firsts: list[dict[str, str]] = []
        for row in free:
            if row["source"] not in {first["source"] for first in firsts}:
                firsts.append(row)
        firsts = firsts[:count]
        chosen = {row["id"] for row in firsts}
        picked = firsts + [row for row in free if row["id"] not in chosen][: count - len(firsts)]
        if len(picked) < count:
            raise RuntimeError(f"only {len(picked)} {label} prompts left for {count} requests")
        self.used.update(row["id"] for row in picked)
        return picked


def _turn(rng: random.Random, text: str, label: str, at: float) -> Turn:
    """A request of ``label``: its difficulty and answer length come from the label alone."""
    difficulty = round(rng.uniform(*DIFFICULTY[label]), 3)
    return Turn(text, difficulty, rng.randrange(*ANSWER_TOKENS[label]), at)


def build_workload(
    mix: str, prompts: dict[str, list[dict[str, str]]], docs: str, seed: int = SEED
) -> list[Conversation]:
    """One mix's conversations, deterministic from ``seed``; ``docs`` is :func:`documentation`."""
    pool = _Pool(prompts, random.Random(f"{seed}:{mix}:pool"))
    out: list[Conversation] = []
    for spec, count in MIXES[mix].items():
        if spec == "repeat":
            continue
        kind, label = spec.split(".")
        rng = random.Random(f"{seed}:{mix}:{spec}")
        if kind == "support":
            rows = pool.draw(label, count, lambda row: len(row["prompt"]) <= SUPPORT_CHARS)
        elif kind == "long_doc":
            rows = pool.draw(label, count, lambda row: row["category"] in DOC_CATEGORIES)
        else:
            rows = pool.draw(label, count * (2 if kind == "two_turn" else 1))
        groups = (
            [rows[i : i + 2] for i in range(0, len(rows), 2)] if kind == "two_turn" else [[r] for r in rows]
        )
        for group in groups:
            provider = "openai" if rng.random() < OPENAI_SHARE else "anthropic"
            at = rng.uniform(0, HOUR - 300)
            texts = [row["prompt"] for row in group]
            if kind == "long_doc":
                texts = [f"{document(rng, docs)}\n\n{texts[0]}"]
            turns = []
            for text in texts:
                turns.append(_turn(rng, text, label, at))
                at += rng.uniform(30, 150)
            system = SUPPORT_INTRO + docs if kind == "support" else None
            sources = tuple(row["source"] for row in group)
            out.append(Conversation(len(out), kind, label, provider, system, turns, sources))
    rng = random.Random(f"{seed}:{mix}:repeat")
    originals = [conv for conv in out if len(conv.turns) == 1]
    for original in rng.sample(originals, MIXES[mix]["repeat"]):
        first = original.turns[0]
        again = Turn(
            first.text, first.difficulty, first.answer_tokens, min(HOUR, first.at + rng.uniform(10, 900))
        )
        copy = (original.label, original.provider, original.system, [again], original.sources)
        out.append(Conversation(len(out), "repeat", *copy))
    return out


def requests_in_order(workload: list[Conversation]) -> list[tuple[float, int, int]]:
    """Every request as ``(time, conversation id, turn index)``, in time order."""
    return sorted((turn.at, conv.id, index) for conv in workload for index, turn in enumerate(conv.turns))


def composition(workload: list[Conversation]) -> dict[str, Any]:
    requests = [(conv, turn) for conv in workload for turn in conv.turns]
    by_kind = Counter(conv.feature for conv, _ in requests)
    sources = Counter(source for conv in workload if conv.kind != "repeat" for source in conv.sources)
    return {
        "conversations": len(workload),
        "requests": len(requests),
        "requests_by_label": dict(Counter(conv.label for conv, _ in requests)),
        "requests_by_kind": dict(sorted(by_kind.items())),
        "requests_by_provider": dict(Counter(conv.provider for conv, _ in requests)),
        "sources": len(sources),
        "prompts_per_source": dict(sorted(sources.items())),
    }


# ============================================================================ application ====


class App:
    """The application under test: the same code in every run (only the decorator around it changes).

    Each request carries its ground truth for the simulator in ``extra_headers``; costaware does not
    read them (it neither routes on nor records ``x-sim-*`` headers).
    """

    def __init__(self, claude: Any, oai: Any) -> None:
        self.claude = claude
        self.oai = oai

    def respond(self, conv: Conversation, messages: list[dict[str, Any]], turn: Turn) -> tuple[str, Any]:
        headers = {"x-sim-difficulty": f"{turn.difficulty}", "x-sim-answer-tokens": str(turn.answer_tokens)}
        if conv.provider == "anthropic":
            kwargs: dict[str, Any] = {"model": conv.model, "max_tokens": MAX_TOKENS, "messages": messages}
            if conv.system:
                kwargs["system"] = conv.system
            message = self.claude.messages.create(**kwargs, extra_headers=headers)
            return "".join(getattr(block, "text", "") for block in message.content), message
        system = [{"role": "system", "content": conv.system}] if conv.system else []
        completion = self.oai.chat.completions.create(
            model=conv.model,
            messages=system + messages,
            max_completion_tokens=MAX_TOKENS,
            extra_headers=headers,
        )
        return completion.choices[0].message.content or "", completion


# ============================================================================ runs ===========


@dataclass
class Outcome:
    """One request of one run: what it cost, where it went, and whether its final answer is good."""

    kind: str
    label: str
    provider: str
    tier: str
    request_id: str
    cost: Decimal
    savings: dict[str, float] = field(default_factory=dict)
    escalations: int = 0
    passed: bool | None = None


class FakeClock:
    """The simulator's clock: the benchmark moves it to each request's arrival time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def oracle_policy(request: Any) -> str:
    """REFERENCE ONLY: routes on the hidden label (the scope's feature is ``kind.label``): hard to the
    mid tier, the cheapest that always answers it well; easy to the small tier."""
    return "medium" if str(request.label).endswith(".hard") else "small"


def configurations() -> dict[str, tuple[str, dict[str, Any] | None]]:
    """Run name -> (description, ``@cost_aware`` arguments; ``None``: no decorator at all)."""
    from costaware.core.routing import AutoClassifier, Cascade
    from costaware.core.routing.classifier import DEFAULT_QUALITY

    runs: dict[str, tuple[str, dict[str, Any] | None]] = {
        "bare": ("no decorator: the requested (large) model, plain instrumentation", None),
        "cache_only": ("@cost_aware(): prompt-cache breakpoints only", {}),
        "oracle": ("REFERENCE: hard -> medium, easy -> small, on the hidden label", {"route": oracle_policy}),
        "auto": (
            f'@cost_aware(route="auto"): quality {DEFAULT_QUALITY} (default), no cascade',
            {"route": "auto"},
        ),
        "cascade": (
            "@cost_aware(route=Cascade(max_hops=2)): starts at auto's tier, escalates on failed checks",
            {"route": Cascade(max_hops=2)},
        ),
    }
    for q in QUALITIES:
        if q != DEFAULT_QUALITY:  # the default's row is the auto run
            runs[f"auto_q{q}"] = (f"route=AutoClassifier(quality={q})", {"route": AutoClassifier(quality=q)})
    return runs


def run_workload(
    name: str,
    scope_args: dict[str, Any] | None,
    workload: list[Conversation],
    app: App,
    sim: Any,
    clock: FakeClock,
    exporter: Any,
    tiers: Any,
) -> list[Outcome]:
    import costaware
    from costaware import cost_aware

    # A fresh runtime (cache planner, conversation affinity, warm prefixes) on the simulated clock.
    costaware.configure(prompt_cache=None, clock=clock)
    sim.reset()
    exporter.clear()
    handlers: dict[str, Callable[..., tuple[str, Any]]] = {}
    for feature in {conv.feature for conv in workload}:
        handlers[feature] = (
            app.respond
            if scope_args is None
            else cost_aware(**scope_args, feature=feature, name=f"bench.{feature}")(app.respond)
        )
    by_id = {conv.id: conv for conv in workload}
    histories: dict[int, list[dict[str, Any]]] = {}
    outcomes: list[Outcome] = []
    for at, conv_id, index in requests_in_order(workload):
        conv, turn = by_id[conv_id], by_id[conv_id].turns[index]
        clock.now = at
        messages = [*histories.get(conv_id, []), {"role": "user", "content": turn.text}]
        text, response = handlers[conv.feature](conv, messages, turn)
        histories[conv_id] = [*messages, {"role": "assistant", "content": text}]
        spans = [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "costaware"]
        exporter.clear()
        calls = [s for s in spans if s.kind.name == "CLIENT"]
        if len(calls) != 1:
            raise RuntimeError(f"{name}: expected one call span per request, got {[s.name for s in calls]}")
        attributes = dict(calls[0].attributes or {})
        cost = Decimal(str(attributes["costaware.cost.usd_exact"]))
        if scope_args is not None and cost != costaware.last_scope().tracker.total_cost:
            raise RuntimeError(f"{name}: span cost {cost} != scope tracker {costaware.last_scope().tracker}")
        model = str(attributes.get("gen_ai.response.model", conv.model))
        outcomes.append(
            Outcome(
                kind=conv.kind,
                label=conv.label,
                provider=conv.provider,
                tier=tier_of(tiers, conv.provider, model),
                request_id=str(response._request_id),
                cost=cost,
                savings={
                    key.removeprefix("costaware.savings."): float(value)
                    for key, value in attributes.items()
                    if key.startswith("costaware.savings.")
                },
                escalations=int(attributes.get("costaware.cascade.escalations", 0)),
            )
        )
    verdicts = sim.engine.quality_log()
    for outcome in outcomes:
        outcome.passed = bool(verdicts[outcome.request_id]["passed"])
    return outcomes


def tier_of(tiers: Any, provider: str, model: str) -> str:
    tier = tiers[provider].tier_of(model)
    return tier.name if tier is not None else model


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def summarise(name: str, description: str, outcomes: list[Outcome], wall: float) -> dict[str, Any]:
    hard = [o for o in outcomes if o.label == "hard"]
    easy = [o for o in outcomes if o.label == "easy"]
    tiers = Counter(o.tier for o in outcomes)
    per_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({f"{o.kind}.{o.label}" for o in outcomes}):
        mine = [o for o in outcomes if f"{o.kind}.{o.label}" == kind]
        per_kind[kind] = {
            "requests": len(mine),
            "cost_usd": str(sum((o.cost for o in mine), Decimal(0))),
            "meeting_bar": _share(sum(1 for o in mine if o.passed), len(mine)),
            "tiers": dict(sorted(Counter(o.tier for o in mine).items())),
        }
    return {
        "run": name,
        "description": description,
        "requests": len(outcomes),
        "cost_usd": str(sum((o.cost for o in outcomes), Decimal(0))),
        "meeting_bar": _share(sum(1 for o in outcomes if o.passed), len(outcomes)),
        "hard_on_cheap": sum(1 for o in hard if o.tier == "small"),
        "hard_to_non_cheap": _share(sum(1 for o in hard if o.tier != "small"), len(hard)),
        "easy_to_cheap": _share(sum(1 for o in easy if o.tier == "small"), len(easy)),
        "tier_shares": {t: _share(tiers[t], len(outcomes)) for t in ("small", "medium", "large")},
        "escalated_requests": sum(1 for o in outcomes if o.escalations),
        "savings_by_technique_usd": {
            key: round(sum(o.savings.get(f"{key}_usd", 0.0) for o in outcomes), 4)
            for key in ("routing", "prompt_cache", "cascade_overhead")
        },
        "wall_time_s": round(wall, 2),
        "per_kind": per_kind,
    }


def judge_target(run: dict[str, Any], oracle: Decimal) -> dict[str, Any]:
    """The relative target: >= 95% meeting the bar and cost within 10% of the oracle's."""
    versus = float(Decimal(run["cost_usd"]) / oracle - 1)
    return {"vs_oracle": round(versus, 4), "met": run["meeting_bar"] >= TARGET_BAR and versus <= TARGET_COST}


# ============================================================================ main ===========


def _tiers_text(run: dict[str, Any]) -> str:
    return "/".join(f"{run['tier_shares'][t]:.0%}" for t in ("small", "medium", "large"))


def _print_mix(mix: str, result: dict[str, Any]) -> None:
    runs, info = result["runs"], result["workload"]
    print(
        f"\n== {mix}: {info['requests']} requests ({info['requests_by_label'].get('hard', 0)} hard, "
        f"{info['requests_by_label'].get('easy', 0)} easy), {info['sources']} sources =="
    )
    header = (
        f"{'run':<12}{'cost $':>10}{'vs bare':>9}{'vs oracle':>11}{'meets bar':>11}{'hard cheap':>12}"
        f"{'escal.':>8}  tiers s/m/l"
    )
    print(header)
    print("-" * len(header))
    for name in ("bare", "cache_only", "oracle", "auto", "cascade"):
        run = runs[name]
        print(
            f"{name:<12}{Decimal(run['cost_usd']):>10.4f}{run['saving_vs_bare']:>9.1%}{run['vs_oracle']:>+11.1%}"
            f"{run['meeting_bar']:>11.1%}{run['hard_on_cheap']:>12}{run['escalated_requests']:>8}"
            f"  {_tiers_text(run)}"
        )
    shares = ", ".join(f"{tier} {share:.1%}" for tier, share in runs["auto"]["tier_shares"].items())
    print(f"auto's tier distribution: {shares}")
    for name in ("auto", "cascade"):
        verdict = "MET" if runs[name]["target"]["met"] else "NOT MET"
        print(
            f"target ({TARGET_BAR:.0%} meeting the bar, cost within {TARGET_COST:.0%} of the oracle), "
            f"{name}: {verdict} ({runs[name]['meeting_bar']:.1%} meeting the bar, "
            f"{runs[name]['vs_oracle']:+.1%} vs oracle)"
        )
    print(
        f"\nquality curve (route=AutoClassifier(quality=q), no cascade; default {result['default_quality']})"
    )
    header = (
        f"{'quality':>7}{'hard->non-cheap':>17}{'easy->cheap':>13}{'cost $':>10}{'vs oracle':>11}"
        f"{'meets bar':>11}{'tiers s/m/l':>14}  target"
    )
    print(header)
    print("-" * len(header))
    for row in result["curve"]:
        run = runs[row["run"]]
        print(
            f"{row['quality']:>7}{run['hard_to_non_cheap']:>17.1%}{run['easy_to_cheap']:>13.1%}"
            f"{Decimal(run['cost_usd']):>10.4f}{run['vs_oracle']:>+11.1%}{run['meeting_bar']:>11.1%}"
            f"{_tiers_text(run):>14}  {'met' if run['target']['met'] else 'not met'}"
        )


def tables(paths: list[Path]) -> str:
    """The Markdown tables of ``bench/savings.md`` from result files: the first is the recorded draw,
    the others other seeds (the stability table)."""
    results = [json.loads(path.read_text()) for path in paths]
    first, lines = results[0], []
    for mix, result in first["mixes"].items():
        runs, info = result["runs"], result["workload"]
        by_label = info["requests_by_label"]
        lines += [
            f"### {mix} ({info['requests']} requests: {by_label.get('hard', 0)} hard, "
            f"{by_label.get('easy', 0)} easy)",
            "",
        ]
        lines += [
            "| run | cost $ | vs bare | vs oracle | meets the bar | hard on cheap tier | escalated "
            "| tiers small/medium/large |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name in ("bare", "cache_only", "oracle", "auto", "cascade"):
            run = runs[name]
            shares = " / ".join(f"{run['tier_shares'][t] * 100:.0f}" for t in ("small", "medium", "large"))
            versus = f"{run['vs_oracle']:+.1%}"
            lines.append(
                f"| `{name}` | {Decimal(run['cost_usd']):.4f} | {run['saving_vs_bare']:.1%} | "
                f"{f'**{versus}**' if name == 'auto' else versus} | {run['meeting_bar']:.1%} | "
                f"{run['hard_on_cheap']} | {run['escalated_requests']} | {shares}% |"
            )
        lines += [
            "",
            "| quality | hard -> non-cheap | easy -> cheap | cost $ | vs oracle | meets the bar "
            "| tiers s/m/l | target |",
            "|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for row in result["curve"]:
            run = runs[row["run"]]
            quality = f"**{row['quality']}** (default)" if row["run"] == "auto" else str(row["quality"])
            shares = " / ".join(f"{run['tier_shares'][t] * 100:.0f}" for t in ("small", "medium", "large"))
            lines.append(
                f"| {quality} | {run['hard_to_non_cheap']:.1%} | {run['easy_to_cheap']:.1%} | "
                f"{Decimal(run['cost_usd']):.4f} | {run['vs_oracle']:+.1%} | {run['meeting_bar']:.1%} | "
                f"{shares}% | {'met' if run['target']['met'] else 'not met'} |"
            )
        lines.append("")
    mixes = list(first["mixes"])
    lines += ["### Where `auto` pays more than the oracle (default quality)", ""]
    lines.append("| kind | " + " | ".join(f"{m}: oracle $ -> auto $ | auto's tiers" for m in mixes) + " |")
    lines.append("|---|" + "---|---|" * len(mixes))
    kinds = sorted({k for m in mixes for k in first["mixes"][m]["runs"]["auto"]["per_kind"]})
    totals = []
    for kind in kinds:
        cells = []
        for m in mixes:
            runs = first["mixes"][m]["runs"]
            oracle, auto = runs["oracle"]["per_kind"].get(kind), runs["auto"]["per_kind"].get(kind)
            if oracle is None or auto is None:
                cells += ["-", "-"]
                continue
            before, after = Decimal(oracle["cost_usd"]), Decimal(auto["cost_usd"])
            change = f" ({after - before:+.3f})" if round(after - before, 3) else ""
            tiers = ", ".join(f"{n} {t}" for t, n in sorted(auto["tiers"].items(), key=lambda x: -x[1]))
            cells += [f"{before:.3f} -> {after:.3f}{change}", tiers]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    for m in mixes:
        runs = first["mixes"][m]["runs"]
        gap = Decimal(runs["auto"]["cost_usd"]) - Decimal(runs["oracle"]["cost_usd"])
        totals += [f"**{gap:+.3f} ({runs['auto']['vs_oracle']:+.1%})**", ""]
    lines += ["| **total** | " + " | ".join(totals) + " |", ""]
    if len(results) > 1:
        lines += ["### How stable the verdict is: other draws of the same mixes", ""]
        head = " | ".join(
            f"{m}: oracle saves | `auto` vs oracle / meets bar | settings meeting the target" for m in mixes
        )
        lines += [f"| seed | {head} |", "|---|" + "---:|---|---|" * len(mixes)]
        for result in results:
            cells = []
            for m in mixes:
                mix = result["mixes"][m]
                runs = mix["runs"]
                meeting = [str(row["quality"]) for row in mix["curve"] if runs[row["run"]]["target"]["met"]]
                cells += [
                    f"{runs['oracle']['saving_vs_bare']:.1%}",
                    f"{runs['auto']['vs_oracle']:+.1%} / {runs['auto']['meeting_bar']:.1%}",
                    ", ".join(meeting) or "none",
                ]
            lines.append(f"| {result['seed']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixes", default=",".join(MIXES), help="comma-separated mixes (default: all)")
    parser.add_argument("--seed", type=int, default=SEED, help="another draw of the same mixes")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--tables",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="print savings.md's tables from result files (the recorded draw first) and stop",
    )
    options = parser.parse_args(argv)
    if options.tables:
        print(tables(options.tables))
        return 0
    prompts = load_prompts()  # first: a missing folder stops here, before anything is set up

    import anthropic
    import openai
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import costaware
    from costaware.core.routing import ladders
    from costaware.core.routing.classifier import DEFAULT_QUALITY
    from costaware.sim import Simulator, count_tokens

    started = time.perf_counter()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    costaware.instrument(tracer_provider=provider, raise_internal_errors=True)
    tiers = ladders()
    docs = documentation()
    configs = configurations()
    clock = FakeClock()
    results: dict[str, Any] = {}
    with Simulator(clock=clock) as sim:
        claude = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="sim", max_retries=0)
        oai = openai.OpenAI(base_url=sim.openai_base_url, api_key="sim", max_retries=0)
        app = App(claude, oai)
        for mix in options.mixes.split(","):
            workload = build_workload(mix, prompts, docs, options.seed)
            runs: dict[str, Any] = {}
            for name, (description, scope_args) in configs.items():
                began = time.perf_counter()
                outcomes = run_workload(name, scope_args, workload, app, sim, clock, exporter, tiers)
                runs[name] = summarise(name, description, outcomes, time.perf_counter() - began)
                print(f"{mix} {name}: ${Decimal(runs[name]['cost_usd']):.4f}", flush=True)
            bare, oracle = Decimal(runs["bare"]["cost_usd"]), Decimal(runs["oracle"]["cost_usd"])
            for run in runs.values():
                run["saving_vs_bare"] = round(float(1 - Decimal(run["cost_usd"]) / bare), 4)
                run["target"] = judge_target(run, oracle)
                run["vs_oracle"] = run["target"]["vs_oracle"]
            curve = [
                {"quality": q, "run": "auto" if q == DEFAULT_QUALITY else f"auto_q{q}"} for q in QUALITIES
            ]
            results[mix] = {
                "workload": composition(workload),
                "default_quality": DEFAULT_QUALITY,
                "runs": runs,
                "curve": curve,
            }
            _print_mix(mix, results[mix])
    elapsed = time.perf_counter() - started
    support_tokens = count_tokens(SUPPORT_INTRO + docs)
    print(f"\nsupport system prompt: {support_tokens} tokens; total run time {elapsed:.0f} s")
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": ".venv/bin/python bench/savings.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nproc": os.cpu_count(),
        },
        "seed": options.seed,
        "data": str(DATA),
        "support_system_prompt": {
            "files": list(KNOWLEDGE),
            "tokens": support_tokens,
            "sha256": hashlib.sha256((SUPPORT_INTRO + docs).encode()).hexdigest(),
        },
        "difficulty": {label: list(band) for label, band in DIFFICULTY.items()},
        "answer_tokens": {label: list(band) for label, band in ANSWER_TOKENS.items()},
        "requested_models": REQUESTED,
        "target": {"meeting_bar_at_least": TARGET_BAR, "cost_vs_oracle_at_most": TARGET_COST},
        "quality_model": _quality_model(),
        "run_time_s": round(elapsed, 1),
        "mixes": results,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {options.output}")
    return 0


def _quality_model() -> dict[str, Any]:
    from costaware.sim import quality

    return {
        "skill": dict(zip(("small", "mid", "large"), quality.TIER_SKILL, strict=True)),
        "need": "0.5 + 0.5 d",
        "noise": f"+-{quality.NOISE}",
        "bar": quality.BAR,
        "p_detect": quality.P_DETECT,
    }


if __name__ == "__main__":
    raise SystemExit(main())
