"""The words and phrases request signals look for: data, kept apart from the reading logic.

``TERM_GROUPS`` maps a group (what the classifier weighs) to canonical terms and the word forms that
count as each; words are matched whole and lower-cased. ``PHRASES`` are matched in the text with
punctuation turned into spaces ("trade-offs" reads "trade offs"), each to a ``(group, term)``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PHRASES", "TERM_GROUPS"]

TERM_GROUPS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "hard": {
        "prove": ("prove", "proves", "proving", "proof", "proofs"),
        "theorem": ("theorem", "theorems", "lemma", "lemmas", "corollary"),
        "derive": ("derive", "derivation", "derives"),
        "rigorous": ("rigorous", "rigorously", "formal", "formally"),
        "induction": ("induction", "inductive"),
        "invariant": ("invariant", "invariants"),
        "counterexample": ("counterexample", "counterexamples"),
        "asymptotic": ("asymptotic", "asymptotically"),
        "architecture": ("architecture", "architectures", "architect", "architectural"),
        "scalability": ("scalability", "scalable"),
        "consistency": ("linearizability", "linearizable", "consensus", "byzantine"),
        "trade-off": ("tradeoff", "tradeoffs"),
    },
    "analysis": {
        "analyze": ("analyze", "analyse", "analysis", "analyses", "analyzing", "analysing"),
        "compare": ("compare", "comparison", "comparing", "contrast", "versus"),
        "evaluate": ("evaluate", "evaluation", "assess", "assessment"),
        "critique": ("critique", "critically", "criticize"),
        "justify": ("justify", "justification", "implications", "consequences"),
        "why": ("why",),
        "design": ("design", "designing", "strategy", "strategies"),
        "recommend": ("recommend", "recommendation", "recommendations"),
    },
    "simple": {
        "classify": ("classify", "classification", "categorize", "categorise", "category", "categories"),
        "label": ("label", "labels", "tag", "tags"),
        "extract": ("extract", "extraction", "parse"),
        "translate": ("translate", "translation"),
        "sentiment": ("sentiment", "spam"),
        "rephrase": ("rephrase", "paraphrase", "proofread", "typo", "typos", "grammar", "spelling"),
        "convert": ("convert", "reformat"),
    },
    "summary": {
        "summarize": ("summarize", "summarise", "summary", "summarizing", "summarization", "tldr"),
        "recap": ("recap", "condense", "gist"),
    },
    "review": {
        "review": ("review", "reviewing"),
        "refactor": ("refactor", "refactoring"),
        "debug": ("debug", "debugging", "bug", "bugs", "buggy"),
        "troubleshoot": (
            "error",
            "errors",
            "exception",
            "traceback",
            "fails",
            "failing",
            "crash",
            "crashes",
            "hangs",
        ),
        "vulnerability": ("vulnerability", "vulnerabilities", "vulnerable", "injection"),
        "optimize": ("optimize", "optimise", "optimization", "performance", "deadlock", "leak"),
    },
    "sequence": {
        "first": ("first", "firstly"),
        "then": ("then", "next", "finally", "afterwards", "secondly"),
    },
    "json": {"json": ("json",)},
}
PHRASES: Mapping[bytes, tuple[str, str]] = {  # matched in the cleaned window (punctuation -> space)
    b"step by step": ("sequence", "step by step"),
    b"trade off": ("hard", "trade-off"),
    b"system design": ("hard", "architecture"),
    b"pros and cons": ("analysis", "pros and cons"),
    b"root cause": ("analysis", "analyze"),
    b"tl dr": ("summary", "summarize"),
    b"yes or no": ("simple", "classify"),
}
